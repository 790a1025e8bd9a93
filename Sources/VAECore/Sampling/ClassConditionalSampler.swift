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
        var distinct: [String] = []
        for summary in perClass.map(\.summary) where !distinct.contains(summary) { distinct.append(summary) }
        if distinct.count == 1 { return distinct[0] + " per class" }
        return "per class: " + (Self.mergedOnTheirNumber(distinct) ?? distinct.joined(separator: " or "))
    }

    /// Summaries that differ only in one number, written once around it: "2 components" and
    /// "4 components" make "2 or 4 components" ("1 component" and "4 components" make "1 or 4
    /// components"), three or more values their range ("sigma 0.709 to 0.779 of a standard
    /// deviation"); nil when they differ otherwise. A row of a quality table then names ten
    /// classes' samplers in one line.
    static func mergedOnTheirNumber(_ summaries: [String]) -> String? {
        var words = summaries.map { $0.split(separator: " ", omittingEmptySubsequences: false).map(String.init) }
        guard words.allSatisfy({ $0.count == words[0].count }) else { return nil }
        // "1 component" merges with "4 components": a noun after 1 takes the plural another summary has.
        for i in words[0].indices.dropLast() {
            let plurals = Set(words.map { $0[i + 1] })
            for s in words.indices where words[s][i] == "1" && plurals.contains(words[s][i + 1] + "s") { words[s][i + 1] += "s" }
        }
        let differing = words[0].indices.filter { i in words.contains { $0[i] != words[0][i] } }
        guard differing.count == 1, let at = differing.first else { return nil }
        let values = words.map { $0[at] }
        guard values.allSatisfy({ Double($0) != nil }) else { return nil }
        let sorted = values.sorted { Double($0)! < Double($1)! }
        var merged = words[0]
        merged[at] = sorted.count == 2 ? "\(sorted[0]) or \(sorted[1])" : "\(sorted[0]) to \(sorted[sorted.count - 1])"
        return merged.joined(separator: " ")
    }
}
