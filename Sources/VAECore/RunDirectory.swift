import Foundation

/// The files of one training run:
///
///     <run>/checkpoints/epoch-NNNN.safetensors   weights + configuration + metrics, every epoch
///     <run>/metrics.jsonl                        one JSON object per epoch
///     <run>/state.safetensors                    what resuming needs: moments, step, random state
public struct RunDirectory: Sendable {
    public let path: String

    public init(_ path: String) {
        self.path = path
    }

    public var checkpointsFolder: String { path + "/checkpoints" }
    public var metricsPath: String { path + "/metrics.jsonl" }
    public var statePath: String { path + "/state.safetensors" }

    public func checkpoint(epoch: Int) -> String { checkpointPath(runDirectory: path, epoch: epoch) }

    /// Epochs that have a checkpoint file, ascending.
    public func checkpointEpochs() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsFolder)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("epoch-"), name.hasSuffix(".safetensors") else { return nil }
            return Int(name.dropFirst(6).dropLast(12))
        }.sorted()
    }

    public func checkpointPaths() -> [String] { checkpointEpochs().map { checkpoint(epoch: $0) } }

    /// Creates the folders, and clears temporary files left by a crash.
    public func prepare() throws {
        do {
            try FileManager.default.createDirectory(atPath: checkpointsFolder, withIntermediateDirectories: true)
        } catch {
            throw VAEError(.cannotWrite, "cannot create the run folder \(checkpointsFolder): \(error.localizedDescription)")
        }
        guard access(path, W_OK) == 0, access(checkpointsFolder, W_OK) == 0 else {
            throw VAEError(.cannotWrite, "the run folder \(path) is not writable")
        }
        removeLeftoverTemporaryFiles(in: path)
        removeLeftoverTemporaryFiles(in: checkpointsFolder)
    }

    /// Removes what a previous run left, for `--overwrite`.
    public func removeRunFiles() throws {
        for epoch in checkpointEpochs() { unlink(checkpoint(epoch: epoch)) }
        unlink(metricsPath)
        unlink(statePath)
    }

    /// The resume state, with advice when a run was stopped before writing one.
    public func readState() throws -> TrainingState {
        guard FileManager.default.fileExists(atPath: statePath) else {
            throw VAEError(.missingInput, "cannot resume: \(statePath) does not exist (the run was stopped before it had "
                           + "written anything); start it again without --resume")
        }
        return try readTrainingState(statePath)
    }

    /// Rewrites metrics.jsonl with `lines` (atomically, like every file of a run).
    public func writeMetrics(_ lines: [String]) throws {
        try writeFileAtomically(Array(lines.map { $0 + "\n" }.joined().utf8), to: metricsPath)
    }

    /// The metrics lines of epochs 1...`epoch`, to continue a resumed run's file.
    public func metricsLines(through epoch: Int) -> [String] {
        guard let bytes = try? readFile(metricsPath), let text = String(bytes: bytes, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init).filter { line in
            guard let data = line.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let lineEpoch = (object["epoch"] as? NSNumber)?.intValue else { return false }
            return lineEpoch <= epoch
        }
    }
}

public let stateFormat = "kmnist-vae-state/1"

extension Trainer {
    /// Saves what `--resume` needs: the parameters, Adam's moments and step, the random state.
    public func writeState(to path: String) throws {
        var metadata = run.metadata
        metadata["format"] = stateFormat
        metadata["epoch"] = String(completedEpochs)
        metadata["adam_step"] = String(optimizer.step)
        let count = model.layout.count
        var randomState = [random.state.0, random.state.1, random.state.2, random.state.3].map(\.littleEndian)
        try randomState.withUnsafeMutableBytes { randomBytes in
            try writeSafetensors([
                SafetensorsEntry(name: "parameters", dtype: .F32, shape: [count], bytes: model.parameters.rawBytes),
                SafetensorsEntry(name: "adam.m", dtype: .F32, shape: [count], bytes: optimizer.m.rawBytes),
                SafetensorsEntry(name: "adam.v", dtype: .F32, shape: [count], bytes: optimizer.v.rawBytes),
                SafetensorsEntry(name: "random", dtype: .U64, shape: [4], bytes: UnsafeRawBufferPointer(randomBytes)),
            ], metadata: metadata, to: path)
        }
    }

    /// Continues from a state written by `writeState`, after checking it belongs to this run.
    public func restore(_ state: TrainingState) throws {
        // A resumed run may be given more epochs; everything else must match.
        var comparable = state.run
        comparable.epochs = run.epochs
        guard comparable == run else {
            throw VAEError(.usage, "\(state.path) belongs to a run with a different configuration or data "
                           + "(\(state.run.summary)) than requested (\(run.summary))")
        }
        guard state.epoch <= run.epochs else {
            throw VAEError(.usage, "\(state.path) is at epoch \(state.epoch), past the \(run.epochs) epochs requested")
        }
        restore(epoch: state.epoch, parameters: state.parameters, m: state.m, v: state.v,
                step: state.step, random: state.random)
    }
}

/// The contents of state.safetensors.
public struct TrainingState: Sendable {
    public let path: String
    public let run: RunConfig
    public let epoch: Int
    public let step: Int
    public let parameters: [Float]
    public let m: [Float]
    public let v: [Float]
    public let random: Random
}

public func readTrainingState(_ path: String) throws -> TrainingState {
    let file = try readSafetensors(path)
    guard file.metadata["format"] == stateFormat else {
        throw VAEError(.badData, "\(path): not a kmnist-vae training state")
    }
    let meta = MetadataReader(metadata: file.metadata, path: path)
    let run = try RunConfig(meta)
    let count = ParameterLayout(run.model).count
    let r = try file.uint64s("random", shape: [4])
    return TrainingState(path: path, run: run, epoch: try meta.integer("epoch", minimum: 0),
                         step: try meta.integer("adam_step", minimum: 0),
                         parameters: try file.floats("parameters", shape: [count]),
                         m: try file.floats("adam.m", shape: [count]), v: try file.floats("adam.v", shape: [count]),
                         random: Random(state: (r[0], r[1], r[2], r[3])))
}

extension RunConfig {
    /// A one-line description for logs and messages.
    public var summary: String {
        let convolutions = model.convolutions
        let input = convolutions.first.map { "\($0.height)x\($0.width)x\($0.imageChannels)" } ?? String(VAEConfig.inputSize)
        let widths = [input] + convolutions.map { "\($0.gridHeight)x\($0.gridWidth)x\($0.gridChannels)" }
            + (model.hidden + [model.latentDim]).map(String.init)
        return "\(model.arch.rawValue) \(widths.joined(separator: "-")) \(model.activation.rawValue), "
            + "\(model.likelihood.rawValue)\(model.likelihood == .gaussianFixed ? " sigma \(model.sigma)" : ""), "
            + (beta != 1 ? "beta \(beta), " : "") + (klWarmupEpochs > 0 ? "KL warm-up \(klWarmupEpochs) epochs, " : "")
            + (binarization == .dynamic ? "dynamically binarised, " : "")
            + "batch \(batchSize), lr \(learningRate), seed \(seed), "
            + "\(epochs) epochs, \(trainImages) train / \(testImages) test images"
    }
}
