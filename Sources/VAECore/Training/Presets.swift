/// Named starting points for a run; explicit flags override their values.
public enum Preset: String, Sendable, CaseIterable {
    /// The project's default, 784-1024-32: on the 7,011 local training images one wide hidden
    /// layer generalises better than deeper stacks, and 32 latent dimensions keep reconstructions
    /// sharp (see the README for the comparison).
    case standard = "default"
    /// The canonical PyTorch example (pytorch/examples, vae/main.py): 784-400-20, ReLU,
    /// Adam 1e-3, batch 128. It is what ../shared/anchors/torch_vae.py trains.
    case pytorchExample = "pytorch-example"
    /// The convolutional VAE: two stride-2 convolutions (32 and 64 channels) and one dense layer
    /// of 512 in the encoder, mirrored in the decoder (see the README for the comparison).
    case conv

    public var arch: Architecture {
        switch self {
        case .standard, .pytorchExample: return .mlp
        case .conv: return .conv
        }
    }

    public var hidden: [Int] {
        switch self {
        case .standard: return [1024]
        case .pytorchExample: return [400]
        case .conv: return [512]
        }
    }

    public var latentDim: Int {
        switch self {
        case .standard, .conv: return 32
        case .pytorchExample: return 20
        }
    }

    public var batchSize: Int { 128 }

    public var learningRate: Double { 1e-3 }

    /// The default model learns a VampPrior: on the local data it beats N(0, I) in the test
    /// ELBO and the IWAE bound, and its samples score better than any sampler fitted after
    /// training (docs/models.md). The reference-sized and conv presets keep N(0, I).
    public var prior: Prior { self == .standard ? .vamp : .normal }
}

/// The VampPrior's pseudo-inputs unless `--pseudo-inputs` says otherwise.
public let defaultPseudoInputs = 500

/// Draws per image of the importance-weighted objective unless `--train-k` says otherwise.
public let defaultTrainSamples = 5
