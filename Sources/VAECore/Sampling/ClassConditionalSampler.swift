/// A class-conditional model's sampler: one sampler per class (each fitted to that class's
/// encoded training means, or the prior for all), whose draws the decoder turns into images of
/// that class. The encoder of such a model still puts each class's z in a region of its own, so
/// a sampler fitted per class draws from where the decoder learnt that class.
public struct ClassConditionalSampler: LatentSampler {
    public let latent: Int
    public let perClass: [any LatentSampler]

    public init(perClass: [any LatentSampler]) {
        precondition(!perClass.isEmpty && perClass.allSatisfy { $0.latent == perClass[0].latent })
        latent = perClass[0].latent
        self.perClass = perClass
    }

    /// `count` samples in blocks by class, class 0 first, as equal as `count` allows.
    public func sample(count: Int, random: inout Random) -> LatentSamples {
        let classes = perClass.count
        var z: [Float] = [], labels: [UInt8] = []
        z.reserveCapacity(count * latent)
        for c in 0..<classes {
            let n = (c + 1) * count / classes - c * count / classes
            z += perClass[c].sample(count: n, random: &random).z
            labels += [UInt8](repeating: UInt8(c), count: n)
        }
        return LatentSamples(latent: latent, z: z, labels: labels)
    }

    /// `count` samples of class `label`.
    public func sample(count: Int, label: Int, random: inout Random) -> LatentSamples {
        LatentSamples(latent: latent, z: perClass[label].sample(count: count, random: &random).z,
                      labels: [UInt8](repeating: UInt8(label), count: count))
    }

    public func tempered(_ temperature: Double) -> any LatentSampler {
        ClassConditionalSampler(perClass: perClass.map { $0.tempered(temperature) })
    }

    public var summary: String {
        // The distinct summaries in class order: "2 components per class", or "per class: 2 components or 4 components".
        var distinct: [String] = []
        for summary in perClass.map(\.summary) where !distinct.contains(summary) { distinct.append(summary) }
        return distinct.count == 1 ? distinct[0] + " per class" : "per class: " + distinct.joined(separator: " or ")
    }
}
