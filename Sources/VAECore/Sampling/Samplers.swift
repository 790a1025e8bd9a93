import Foundation

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

/// The sampler `kind` for `model`: the prior, the model's VampPrior, or a sampler fitted to the
/// encoder's means of `training` (which such a sampler needs: a mixture by EM, or a second-stage
/// VAE), deterministically for the model and `seed`, with its spread scaled by `temperature`.
/// A conditional model gets one fitted sampler per class.
public func makeSampler(_ kind: SamplerKind, model: VAEModel, codec: LatentCodec, training: ImageSet?,
                        seed: UInt64, temperature: Double = 1) throws -> any LatentSampler {
    guard kind.isAvailable(for: model.config) else {
        // vae-train refuses --prior vamp beside --conditional, so only an unconditional run can have one.
        let remedy = model.config.conditional ? "a conditional run has none" : "vae-train --prior vamp makes one"
        throw VAEError(.usage, "--sampler \(kind.rawValue) draws from a VampPrior, and this run has the \(model.config.prior.rawValue) "
                       + "prior (\(remedy))")
    }
    func fitted(_ images: ImageSet) throws -> any LatentSampler {
        let means = codec.encodeMeans(model, images: images)
        try checkFinite(means, width: codec.latent, computedBy: model) { "the encoder's mean of a training image (\($0 + 1) of \(images.count))" }
        if kind == .twoStage { return try TwoStageSampler.fit(means, latent: codec.latent, seed: seed).tempered(temperature) }
        return GaussianMixture.fit(means, latent: codec.latent, covariance: kind == .gmm ? .full : .diagonal, seed: seed)
            .mixture.tempered(temperature)
    }
    switch kind {
    case .prior:
        let prior = StandardNormalSampler(latent: codec.latent)
        return model.config.conditional ? ClassConditionalSampler(perClass: Array(repeating: prior, count: VAEConfig.classes)) : prior
    case .vamp:
        return VampPriorSampler(latent: codec.latent, diagonalComponents: model.priorComponents()).tempered(temperature)
    case .gmm, .gmmDiagonal, .twoStage:
        guard let training else { preconditionFailure("the \(kind.rawValue) sampler is fitted to the training images") }
        if let problem = fittingProblem(kind, model: model, training: training) {
            throw VAEError(.usage, "--sampler \(kind.rawValue) \(problem); use --sampler prior")
        }
        // A conditional model gets one sampler per class, fitted to the means of that class's images.
        guard model.config.conditional else { return try fitted(training) }
        return ClassConditionalSampler(perClass: try (0..<VAEConfig.classes).map { try fitted(training.images(ofClass: $0)) })
    }
}

/// What a sampler of `kind` made by `makeSampler` is, for a report: "32 components, temperature
/// 1.15" (the summary alone for the prior, which takes no temperature).
public func samplerDescription(_ kind: SamplerKind, _ sampler: any LatentSampler, temperature: Double) -> String {
    kind.takesTemperature ? "\(sampler.summary), temperature \(temperature)" : sampler.summary
}

/// Why the fitted sampler `kind` cannot be fitted to `training` for `model` ("is fitted to ...
/// but the training split has 9"), or nil: a mixture holds out every tenth point, so it needs ten,
/// the second stage one, and a conditional model fits one sampler per class.
public func fittingProblem(_ kind: SamplerKind, model: VAEModel, training: ImageSet) -> String? {
    guard kind.needsTrainingImages else { return nil }
    let conditional = model.config.conditional
    let counts = conditional ? (0..<VAEConfig.classes).map { c in training.labels.count(where: { Int($0) == c }) } : [training.count]
    let needed = kind == .twoStage ? 1 : GaussianMixture.minimumPoints
    guard let thin = counts.indices.first(where: { counts[$0] < needed }) else { return nil }
    return "is fitted to the encoded training images and needs at least \(count: needed, "image")"
        + "\(conditional ? " of each class" : ""), but the training split has \(counts[thin])\(conditional ? " of class \(thin)" : "")"
}

/// The temperature of every sampler but the prior unless a flag says otherwise. Wider components
/// bring the samples' Fréchet distance down and their classifier confidence down with it
/// (docs/quality.md, measured with the GMM on the N(0, I) default model of commit 1130530: FD
/// 148 and confidence 0.90 at T = 1, 114 and 0.89 at 1.3); 1.15 kept the confidence of a second,
/// independently trained classifier above 0.85 there.
public let defaultSamplingTemperature = 1.15
/// The largest --temperature: far past any useful spread (at 1 the samplers keep their fitted one).
public let maximumSamplingTemperature = 10.0

/// The training split of the KMNIST folder, for the samplers fitted to it; it must be the one
/// the run was trained on. `use` says what needs it, for the error when the files are missing.
public func loadTrainingImages(from folder: String, for run: RunConfig,
                               use: String = "the gmm, gmm-diagonal and two-stage samplers are fitted to the encoded training "
                                   + "images (point --data or KMNIST_DIR at the folder the run was trained on, or use --sampler "
                                   + "prior)") throws -> ImageSet {
    try run.loadSplit(.training, from: folder, runName: "the run", advice: use)
}
