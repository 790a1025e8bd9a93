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

/// The samplers the tools offer, by the name their `--sampler` flag takes.
public enum SamplerKind: String, Sendable, CaseIterable {
    /// z ~ N(0, I), the standard normal: the model's own prior only for `--prior normal`.
    case prior
    /// A Gaussian mixture with full covariances, fitted by EM to the encoded training means.
    case gmm
    /// The same with diagonal covariances.
    case gmmDiagonal = "gmm-diagonal"
    /// A VampPrior model's own prior: the mixture of the encoder's posteriors at its pseudo-inputs.
    case vamp
    /// A second VAE fitted to the encoded training means (`TwoStageSampler`).
    case twoStage = "two-stage"

    /// What vae-sample and the sampling GIF draw from unless told otherwise: a VampPrior run's own
    /// prior, whose samples score better than a mixture's fitted to that run afterwards, else the
    /// full-covariance mixture (docs/quality.md).
    public static func standard(for config: VAEConfig) -> SamplerKind { config.prior == .vamp ? .vamp : .gmm }

    /// Whether it is fitted to the encoded training images (which must then be at hand).
    public var needsTrainingImages: Bool { self == .gmm || self == .gmmDiagonal || self == .twoStage }

    /// Whether it takes a temperature: all but N(0, I).
    public var takesTemperature: Bool { self != .prior }

    /// Whether a model of `config` can draw from it: only a VampPrior model has the vamp sampler.
    public func isAvailable(for config: VAEConfig) -> Bool { self != .vamp || config.prior == .vamp }
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
