/// Latent points to decode, row-major `[count, latent]`, with the class each one was drawn for
/// when the model is class-conditional (nil otherwise).
public struct LatentSamples: Sendable, Equatable {
    public let latent: Int
    public var z: [Float]
    public var labels: [UInt8]?

    public init(latent: Int, z: [Float], labels: [UInt8]? = nil) {
        precondition(latent >= 1 && z.count % latent == 0)
        precondition(labels == nil || labels!.count == z.count / latent, "one label per latent point")
        self.latent = latent
        self.z = z
        self.labels = labels
    }

    public var count: Int { z.count / latent }
}

/// A distribution over the latent space that the decoder turns into images.
public protocol LatentSampler: Sendable {
    var latent: Int { get }
    /// `count` points drawn with `random`.
    func sample(count: Int, random: inout Random) -> LatentSamples
    /// The same sampler with every covariance scaled by temperature² (the prior has none to scale).
    func tempered(_ temperature: Double) -> any LatentSampler
    /// What it is, for a report: "32 components".
    var summary: String { get }
}

/// z ~ N(0, I), `--sampler prior`: the model's own prior only for `--prior normal`.
public struct StandardNormalSampler: LatentSampler {
    public let latent: Int

    public init(latent: Int) {
        self.latent = latent
    }

    public func sample(count: Int, random: inout Random) -> LatentSamples {
        var z = [Float](repeating: 0, count: count * latent)
        z.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
        return LatentSamples(latent: latent, z: z)
    }

    public func tempered(_ temperature: Double) -> any LatentSampler { self }

    public var summary: String { "N(0, I)" }
}
