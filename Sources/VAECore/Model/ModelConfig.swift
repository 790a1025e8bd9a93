/// The likelihood p(x|z) the decoder parameterises.
public enum Likelihood: String, Sendable, CaseIterable {
    /// Pixels in [0, 1] as Bernoulli probabilities σ(logits); the loss is binary cross-entropy.
    case bernoulli
    /// N(mu(z), σ²(z)) per pixel, the decoder of the original write-up: a mean head and a
    /// log-variance head, the log-variance clamped to [`gaussianLogVarianceRange`].
    case gaussian
    /// N(mu(z), σ²) per pixel with one fixed σ (`VAEConfig.sigma`).
    case gaussianFixed = "gaussian-fixed"

    /// Decoder outputs per pixel: the mean, plus the log-variance for the learned Gaussian.
    public var outputsPerPixel: Int { self == .gaussian ? 2 : 1 }
}

/// The learned Gaussian's log σ² is clamped to this range (σ from 0.03 to 2.7): without a floor,
/// the always-black background pixels would drive σ to 0 and the density to infinity. Outside
/// the range the log-variance gets no gradient.
public let gaussianLogVarianceRange: ClosedRange<Float> = -7...2

/// The network between the image and the latent code.
public enum Architecture: String, Sendable, CaseIterable {
    /// Fully connected layers: 784 → hidden → head, mirrored by the decoder.
    case mlp
    /// 3x3 stride-2 convolutions (by default 28x28x1 → 14x14x32 → 7x7x64) before the hidden
    /// layers, mirrored by transposed convolutions at the end of the decoder (see NN/Convolution.swift).
    case conv

    /// Whether the decoder can produce the likelihood's outputs. The conv decoder ends in one
    /// output channel, so it has no place for the learned Gaussian's per-pixel log-variance.
    public func supports(_ likelihood: Likelihood) -> Bool {
        self == .mlp || likelihood.outputsPerPixel == 1
    }
}

/// The prior p(z) that the KL term (or the importance weights) compares the posterior with.
public enum Prior: String, Sendable, CaseIterable {
    /// N(0, I); the ELBO's KL term in closed form.
    case normal
    /// The VampPrior (Tomczak and Welling 2018): p(z) = (1/K) Σ_k q(z|u_k), the encoder's posteriors
    /// at K learned pseudo-inputs u_k, stored as the parameter tensor `prior.pseudo_inputs`. The
    /// KL term has no closed form and is estimated by the sampled z: log q(z|x) - log p(z).
    case vamp
}

/// Everything that fixes the shape of a model. It is stored in every checkpoint, and two
/// checkpoints with different configurations never mix.
public struct VAEConfig: Equatable, Sendable {
    public static let imageSide = 28
    public static let inputSize = imageSide * imageSide
    /// KMNIST's classes, the length of a conditional model's one-hot label.
    public static let classes = 10
    public var arch: Architecture
    /// Output channels of the conv encoder's convolutions from the input inwards, each halving
    /// the side (28 → 14 → 7 with the default two); the decoder mirrors them. Empty for the MLP.
    public var convChannels: [Int]
    /// Widths of the fully connected hidden layers from the input side inwards (for conv, after
    /// the last convolution's map, flattened); the decoder mirrors them.
    public var hidden: [Int]
    public var latentDim: Int
    public var likelihood: Likelihood
    /// The fixed standard deviation of `Likelihood.gaussianFixed` (ignored otherwise).
    public var sigma: Float
    public var activation: Activation
    /// A class-conditional VAE: the label's one-hot joins the input of the encoder's and the
    /// decoder's first layer, so the model is q(z|x, y) and p(x|z, y).
    public var conditional: Bool
    public var prior: Prior
    /// The VampPrior's pseudo-inputs, K (0 for the normal prior).
    public var pseudoInputs: Int

    public init(arch: Architecture = .mlp, convChannels: [Int] = [32, 64], hidden: [Int], latentDim: Int,
                likelihood: Likelihood = .bernoulli, sigma: Float = 0.1, activation: Activation = .relu,
                conditional: Bool = false, prior: Prior = .normal, pseudoInputs: Int = 0) {
        self.arch = arch
        self.convChannels = arch == .conv ? convChannels : []
        self.hidden = hidden
        self.latentDim = latentDim
        self.likelihood = likelihood
        self.sigma = likelihood == .gaussianFixed ? sigma : 0.1
        self.activation = activation
        self.conditional = conditional
        self.prior = prior
        self.pseudoInputs = prior == .vamp ? pseudoInputs : 0
    }

    /// The one-hot label's length in the first layers' inputs: 10 for a conditional model, else 0.
    public var labelInputs: Int { conditional ? VAEConfig.classes : 0 }

    /// What the model's bounds are on, for messages: a conditional model's on the likelihood of
    /// the image given its class.
    public var negativeLogLikelihood: String { conditional ? "-log p(x|y)" : "-log p(x)" }

    /// The encoder's convolutions from the input inwards, none for the MLP.
    public var convolutions: [ConvShape] {
        var shapes: [ConvShape] = []
        var side = VAEConfig.imageSide, channels = 1
        for next in convChannels {
            let shape = ConvShape(height: side, width: side, imageChannels: channels, gridChannels: next)
            shapes.append(shape)
            side = shape.gridHeight
            channels = next
        }
        return shapes
    }
}
