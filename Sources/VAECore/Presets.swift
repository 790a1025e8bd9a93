/// Named starting points for a run; explicit flags override their values.
public enum Preset: String, Sendable, CaseIterable {
    /// The project's default: see the README for why these values.
    case standard = "default"
    /// The canonical PyTorch example (pytorch/examples, vae/main.py): 784-400-20, ReLU,
    /// Adam 1e-3, batch 128. It is what ../shared/anchors/torch_vae.py trains.
    case pytorchExample = "pytorch-example"

    public var hidden: [Int] {
        switch self {
        case .standard: return [512, 256]
        case .pytorchExample: return [400]
        }
    }

    public var latentDim: Int {
        switch self {
        case .standard: return 16
        case .pytorchExample: return 20
        }
    }

    public var batchSize: Int {
        switch self {
        case .standard: return 64
        case .pytorchExample: return 128
        }
    }

    public var learningRate: Double { 1e-3 }
}
