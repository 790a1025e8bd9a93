import Foundation

/// Everything a run was started with: the model's shape and the training hyperparameters.
public struct RunConfig: Equatable, Sendable {
    public var model: VAEConfig
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Double
    public var seed: UInt64
    /// The preset the values came from ("default" or e.g. "pytorch-example"), for the record.
    public var preset: String
    public var trainImages: Int
    public var testImages: Int
    /// Weight of the KL term in the training objective (1: the ELBO; β-VAE otherwise).
    public var beta: Double
    /// Epochs over which the KL weight ramps linearly from 0 to `beta`, step by step (0: none).
    public var klWarmupEpochs: Int
    public var binarization: Binarization

    public init(model: VAEConfig, epochs: Int, batchSize: Int, learningRate: Double, seed: UInt64,
                preset: String, trainImages: Int, testImages: Int, beta: Double = 1, klWarmupEpochs: Int = 0,
                binarization: Binarization = .none) {
        self.model = model
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
        self.preset = preset
        self.trainImages = trainImages
        self.testImages = testImages
        self.beta = beta
        self.klWarmupEpochs = klWarmupEpochs
        self.binarization = binarization
    }
}

/// How pixels in [0, 1] are presented to the model.
public enum Binarization: String, Sendable, CaseIterable {
    /// As grey levels: the Bernoulli likelihood then scores soft targets, not a true likelihood.
    case none
    /// Each training batch resampled as Bernoulli(pixel); the test set binarised once with a
    /// fixed seed. The Bernoulli NLL is then a likelihood comparable to published figures.
    case dynamic
}

/// Losses of one epoch, in nats per image.
public struct EpochMetrics: Equatable, Sendable {
    public var epoch: Int
    /// Mean over the epoch's training batches, as the model changed (like PyTorch's example).
    public var train: LossTerms
    /// Negative ELBO of the test set after the epoch, one z sample per image.
    public var test: LossTerms
    public var seconds: Double
    public var imagesPerSecond: Double
    /// The importance-weighted -log p(x) of the test set and its sample count, after the last epoch.
    public var testIWAE: (nll: Double, k: Int)?

    public init(epoch: Int, train: LossTerms, test: LossTerms, seconds: Double, imagesPerSecond: Double,
                testIWAE: (nll: Double, k: Int)? = nil) {
        self.epoch = epoch
        self.train = train
        self.test = test
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
        self.testIWAE = testIWAE
    }

    public static func == (a: EpochMetrics, b: EpochMetrics) -> Bool {
        a.epoch == b.epoch && a.train == b.train && a.test == b.test && a.seconds == b.seconds
            && a.imagesPerSecond == b.imagesPerSecond && a.testIWAE?.nll == b.testIWAE?.nll && a.testIWAE?.k == b.testIWAE?.k
    }

    /// One line of metrics.jsonl.
    public var jsonLine: String {
        func number(_ value: Double) -> String { value.isFinite ? String(value) : "null" }
        return "{\"epoch\":\(epoch),\"train_loss\":\(number(train.total)),"
            + "\"train_reconstruction\":\(number(train.reconstruction)),\"train_kl\":\(number(train.kl)),"
            + "\"test_loss\":\(number(test.total)),\"test_reconstruction\":\(number(test.reconstruction)),"
            + "\"test_kl\":\(number(test.kl)),\"seconds\":\(number(seconds)),"
            + "\"images_per_second\":\(number(imagesPerSecond))"
            + (testIWAE.map { ",\"test_iwae\":\(number($0.nll)),\"iwae_k\":\($0.k)" } ?? "") + "}"
    }
}

public let checkpointFormat = "kmnist-vae-checkpoint/1"

/// `<run>/checkpoints/epoch-NNNN.safetensors`
public func checkpointPath(runDirectory: String, epoch: Int) -> String {
    let digits = String(epoch)
    return runDirectory + "/checkpoints/epoch-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits + ".safetensors"
}

/// Writes the model's weights, one tensor per named view of the flat buffer, with the run's
/// configuration and the epoch's losses in `__metadata__`. Timings are left out on purpose:
/// they vary from run to run, and checkpoints of the same seed must be identical byte for byte.
public func writeCheckpoint(_ model: VAEModel, run: RunConfig, metrics: EpochMetrics, to path: String) throws {
    var metadata = run.metadata
    metadata["epoch"] = String(metrics.epoch)
    metadata["train_loss"] = String(metrics.train.total)
    metadata["train_reconstruction"] = String(metrics.train.reconstruction)
    metadata["train_kl"] = String(metrics.train.kl)
    metadata["test_loss"] = String(metrics.test.total)
    metadata["test_reconstruction"] = String(metrics.test.reconstruction)
    metadata["test_kl"] = String(metrics.test.kl)
    if let iwae = metrics.testIWAE {
        metadata["test_iwae"] = String(iwae.nll)
        metadata["iwae_k"] = String(iwae.k)
    }
    let raw = UnsafeRawPointer(model.parameters.pointer)
    let entries = model.layout.tensors.map { tensor in
        SafetensorsEntry(name: tensor.name, dtype: .F32, shape: tensor.shape,
                         bytes: UnsafeRawBufferPointer(start: raw + tensor.offset * 4, count: tensor.count * 4))
    }
    try writeSafetensors(entries, metadata: metadata, to: path)
}

/// A model read back from a checkpoint, with what it says about its run.
public struct Checkpoint: @unchecked Sendable {
    public let path: String
    public let run: RunConfig
    public let epoch: Int
    public let testLoss: Double
    public let model: VAEModel
}

/// Reads and validates a checkpoint: format, configuration, and every tensor's shape.
public func readCheckpoint(_ path: String) throws -> Checkpoint {
    try parseCheckpoint(try readFile(path), path: path)
}

/// `readCheckpoint` on bytes already in memory; `path` only names them in errors.
public func parseCheckpoint(_ bytes: [UInt8], path: String) throws -> Checkpoint {
    let file = try parseSafetensors(bytes, path: path)
    let meta = MetadataReader(metadata: file.metadata, path: path)
    guard file.metadata["format"] == checkpointFormat else {
        throw VAEError(.badData, "\(path): not a kmnist-vae checkpoint (metadata format is \(file.metadata["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(checkpointFormat)\")")
    }
    let run = try RunConfig(meta)
    let epoch = try meta.integer("epoch", minimum: 1)
    let testLoss = try meta.double("test_loss")
    // Check every tensor against the configuration before allocating the model, so metadata
    // describing a huge network cannot make us allocate more than the file holds.
    let layout = ParameterLayout(run.model)
    if let extra = Set(file.tensors.keys).subtracting(layout.tensors.map(\.name)).sorted().first {
        throw VAEError(.badData, "\(path): unexpected tensor \(extra) for a model with arch \(run.model.arch.rawValue), hidden \(run.model.hidden) and latent \(run.model.latentDim)")
    }
    for tensor in layout.tensors {
        _ = try file.tensor(tensor.name, dtype: .F32, shape: tensor.shape)
    }
    let model = VAEModel(config: run.model)
    for tensor in layout.tensors {
        try file.copyFloats(tensor.name, shape: tensor.shape, into: model.parameters.pointer + tensor.offset)
    }
    return Checkpoint(path: path, run: run, epoch: epoch, testLoss: testLoss, model: model)
}

extension RunConfig {
    /// The configuration as safetensors metadata strings.
    public var metadata: [String: String] {
        var metadata = [
            "format": checkpointFormat,
            "arch": model.arch.rawValue,
            "input_shape": "\(VAEConfig.imageSide),\(VAEConfig.imageSide)",
            "hidden": model.hidden.map(String.init).joined(separator: ","),
            "latent_dim": String(model.latentDim),
            "likelihood": model.likelihood.rawValue,
            "sigma": String(model.sigma),
            "beta": String(beta),
            "kl_warmup_epochs": String(klWarmupEpochs),
            "binarize": binarization.rawValue,
            "activation": model.activation.rawValue,
            "epochs": String(epochs),
            "batch_size": String(batchSize),
            "learning_rate": String(learningRate),
            "optimizer": "adam",
            "seed": String(seed),
            "preset": preset,
            "train_images": String(trainImages),
            "test_images": String(testImages),
        ]
        if model.arch == .conv { metadata["conv_channels"] = model.convChannels.map(String.init).joined(separator: ",") }
        return metadata
    }

    init(_ meta: MetadataReader) throws {
        let archText = try meta.string("arch")
        guard let arch = Architecture(rawValue: archText) else { throw meta.invalid("arch", archText) }
        let convChannels = arch == .conv ? try meta.widths("conv_channels") : []
        if arch == .conv && convChannels.isEmpty { throw meta.invalid("conv_channels", "") }
        let hidden = try meta.widths("hidden")
        let latent = try meta.integer("latent_dim", minimum: 1, maximum: 65536)
        let likelihoodText = try meta.string("likelihood")
        guard let likelihood = Likelihood(rawValue: likelihoodText) else { throw meta.invalid("likelihood", likelihoodText) }
        guard arch.supports(likelihood) else {
            throw VAEError(.badData, "\(meta.path): metadata likelihood \"\(likelihoodText)\" is not possible with arch \"\(archText)\"")
        }
        let activationText = try meta.string("activation")
        guard let activation = Activation(rawValue: activationText) else { throw meta.invalid("activation", activationText) }
        let rate = try meta.string("learning_rate")
        guard let learningRate = Double(rate), learningRate > 0 else { throw meta.invalid("learning_rate", rate) }
        let seedText = try meta.string("seed")
        guard let seed = UInt64(seedText) else { throw meta.invalid("seed", seedText) }
        // Keys added after the first checkpoints were written default to what those runs did.
        let sigmaText = meta.metadata["sigma"] ?? "0.1"
        guard let sigma = Float(sigmaText), sigma > 0, sigma.isFinite else { throw meta.invalid("sigma", sigmaText) }
        let betaText = meta.metadata["beta"] ?? "1.0"
        guard let beta = Double(betaText), beta >= 0, beta.isFinite else { throw meta.invalid("beta", betaText) }
        let binarizeText = meta.metadata["binarize"] ?? "none"
        guard let binarization = Binarization(rawValue: binarizeText) else { throw meta.invalid("binarize", binarizeText) }
        self.init(model: VAEConfig(arch: arch, convChannels: convChannels, hidden: hidden, latentDim: latent,
                                   likelihood: likelihood, sigma: sigma, activation: activation),
                  epochs: try meta.integer("epochs", minimum: 1),
                  batchSize: try meta.integer("batch_size", minimum: 1),
                  learningRate: learningRate, seed: seed, preset: try meta.string("preset"),
                  trainImages: try meta.integer("train_images", minimum: 1),
                  testImages: try meta.integer("test_images", minimum: 0),
                  beta: beta, klWarmupEpochs: meta.metadata["kl_warmup_epochs"] == nil ? 0 : try meta.integer("kl_warmup_epochs", minimum: 0),
                  binarization: binarization)
    }
}

/// Typed access to string metadata, with errors that name the file and key.
struct MetadataReader {
    let metadata: [String: String]
    let path: String

    func string(_ key: String) throws -> String {
        guard let value = metadata[key] else {
            throw VAEError(.badData, "\(path): metadata key \(key) is missing")
        }
        return value
    }

    /// Comma-separated layer widths ("" for none), each from 1 to 65536.
    func widths(_ key: String) throws -> [Int] {
        let text = try string(key)
        let widths = text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        // Far beyond any model trained here, yet small enough that a hostile header cannot describe
        // a layout whose tensor list alone fills memory (1,1,1,... costs two bytes a layer).
        guard widths.count <= 1024, widths.allSatisfy({ $0 != nil && $0! > 0 && $0! <= 65536 }) else {
            throw invalid(key, text)
        }
        return widths.map { $0! }
    }

    func integer(_ key: String, minimum: Int, maximum: Int = Int.max) throws -> Int {
        let text = try string(key)
        guard let value = Int(text), value >= minimum, value <= maximum else { throw invalid(key, text) }
        return value
    }

    func double(_ key: String) throws -> Double {
        let text = try string(key)
        guard let value = Double(text) else { throw invalid(key, text) }
        return value
    }

    func invalid(_ key: String, _ value: String) -> VAEError {
        VAEError(.badData, "\(path): metadata \(key) has the invalid value \"\(value)\"")
    }
}
