import Foundation

public let checkpointFormat = "kmnist-vae-checkpoint/1"

/// Writes the model's weights, one tensor per named view of the flat buffer, with the run's
/// configuration and the epoch's losses in `__metadata__`. Timings are left out on purpose:
/// they vary from run to run, and checkpoints of the same seed must be identical byte for byte.
public func writeCheckpoint(_ model: VAEModel, run: RunConfig, metrics: EpochMetrics, to path: String) throws {
    var metadata = run.metadata
    metadata["format"] = checkpointFormat
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
    try writeSafetensors(safetensorsEntries(model.layout.tensors, of: model.parameters), metadata: metadata, to: path)
}

/// One F32 safetensors entry per named view of a flat parameter buffer, borrowing its bytes.
func safetensorsEntries(_ tensors: [ParameterTensor], of parameters: FloatBuffer) -> [SafetensorsEntry] {
    let raw = UnsafeRawPointer(parameters.pointer)
    return tensors.map { tensor in
        SafetensorsEntry(name: tensor.name, dtype: .F32, shape: tensor.shape,
                         bytes: UnsafeRawBufferPointer(start: raw + tensor.offset * 4, count: tensor.count * 4))
    }
}

/// A model read back from a checkpoint, with what it says about its run.
public struct Checkpoint: @unchecked Sendable {
    public let path: String
    public let run: RunConfig
    /// The losses it records of its epoch (without the timings, which checkpoints leave out).
    public let metrics: EpochMetrics
    public let model: VAEModel

    public var epoch: Int { metrics.epoch }
}

/// The largest checkpoint we read: the parameters alone (a state file also holds Adam's two
/// moments, `maximumSafetensorsFile`).
public let maximumCheckpointFile = 8 + maximumSafetensorsHeader + 4 * RunConfig.maximumParameters + (1 << 20)

/// Reads and validates a checkpoint: format, configuration, and every tensor's shape.
public func readCheckpoint(_ path: String) throws -> Checkpoint {
    try parseCheckpoint(try readFile(path, atMost: maximumCheckpointFile), path: path)
}

/// `readCheckpoint` on bytes already in memory; `path` only names them in errors.
public func parseCheckpoint(_ bytes: [UInt8], path: String) throws -> Checkpoint {
    let file = try parseSafetensors(bytes, path: path)
    let meta = try checkpointMetadata(file, path: path)
    let run = try RunConfig(meta)
    let metrics = try epochMetrics(meta)
    // Check every tensor against the configuration before allocating the model, so metadata
    // describing a huge network cannot make us allocate more than the file holds.
    let layout = ParameterLayout(run.model)
    try file.checkParameters(layout.tensors, owner: "a model with arch \(run.model.arch.rawValue), hidden \(run.model.hidden) "
                                                    + "and latent \(run.model.latentDim)")
    let model = VAEModel(config: run.model, origin: path)
    try file.copyParameters(layout.tensors, into: model.parameters.pointer)
    return Checkpoint(path: path, run: run, metrics: metrics, model: model)
}

/// `readCheckpoint` for a checkpoint of a run's folder, refused unless it holds the epoch its name
/// says and, given a `reference` (a run and the file it comes from), a run of the same
/// configuration: a file copied in from another run or epoch would otherwise pass for this one.
public func readCheckpoint(_ path: String, epoch: Int, configuredAs reference: (run: RunConfig, source: String)?) throws -> Checkpoint {
    let checkpoint = try readCheckpoint(path)
    guard checkpoint.epoch == epoch else {
        throw VAEError(.badData, "\(path) holds epoch \(checkpoint.epoch), not the epoch \(epoch) its name says")
    }
    if let reference {
        let differences = checkpoint.run.differences(from: reference.run)
        if !differences.isEmpty {
            throw VAEError(.badData, "\(path) comes from a different configuration than \(reference.source): "
                           + differences.joined(separator: ", "))
        }
    }
    return checkpoint
}

/// A checkpoint's metadata, once its format is checked.
private func checkpointMetadata(_ file: SafetensorsFile, path: String) throws -> MetadataReader {
    try file.checkFormat(checkpointFormat, kind: "checkpoint")
    return MetadataReader(metadata: file.metadata, path: path)
}

/// The epoch and its losses, as `writeCheckpoint` recorded them.
private func epochMetrics(_ meta: MetadataReader) throws -> EpochMetrics {
    func terms(_ split: String) throws -> LossTerms {
        LossTerms(reconstruction: try meta.loss(split + "_reconstruction"), kl: try meta.loss(split + "_kl"))
    }
    var metrics = EpochMetrics(epoch: try meta.integer("epoch", minimum: 1), train: try terms("train"), test: try terms("test"),
                               seconds: .nan, imagesPerSecond: .nan)
    if meta.metadata["test_iwae"] != nil {
        metrics.testIWAE = (try meta.loss("test_iwae"), try meta.integer("iwae_k", minimum: 1))
    }
    return metrics
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

    func integer(_ key: String, minimum: Int) throws -> Int {
        let text = try string(key)
        guard let value = Int(text), value >= minimum else { throw invalid(key, text) }
        return value
    }

    func double(_ key: String) throws -> Double {
        let text = try string(key)
        guard let value = Double(text) else { throw invalid(key, text) }
        return value
    }

    /// A loss in nats per image: what a trainer can write is finite, a mean of Float terms
    /// (metrics.jsonl, rebuilt from a checkpoint, refuses any other).
    func loss(_ key: String) throws -> Double {
        let value = try double(key)
        guard abs(value) <= Double(Float.greatestFiniteMagnitude) else { throw invalid(key, try string(key)) }
        return value
    }

    func invalid(_ key: String, _ value: String, expected: String? = nil) -> VAEError {
        VAEError(.badData, "\(path): metadata \(key) has the invalid value \"\(value)\"" + (expected.map { " (\($0) expected)" } ?? ""))
    }
}
