import Foundation

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
        let differences = run.differences(from: state.run)
        guard differences.isEmpty else {
            throw VAEError(.usage, "\(state.path) belongs to another run: " + differences.joined(separator: ", "))
        }
        guard state.epoch <= run.epochs else {
            throw VAEError(.usage, "\(state.path) is at epoch \(state.epoch), past the \(count: run.epochs, "epoch") requested")
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
    try file.checkFormat(stateFormat, kind: "training state")
    // Only vae-train writes a state, always with its data's checksum: without one, a damaged
    // moment or random state would be trained on unchecked.
    guard file.metadata[dataChecksumKey] != nil else {
        throw VAEError(.badData, "\(path): metadata \(dataChecksumKey) is missing, which vae-train always records; the file was "
                       + "changed by another program, or damaged")
    }
    let meta = MetadataReader(metadata: file.metadata, path: path)
    let run = try RunConfig(meta)
    let count = ParameterLayout(run.model).count
    try file.checkStoredInOrder(["parameters", "adam.m", "adam.v", "random"])
    let r = try file.uint64s("random", shape: [4])
    // xoshiro256** never reaches the all-zero state, and from it would draw nothing but zeros:
    // the shuffle's rejection sampling would then never end.
    guard r.contains(where: { $0 != 0 }) else {
        throw VAEError(.badData, "\(path): the random state is all zeros, which no run can reach; the file is damaged")
    }
    // Adam steps once a batch, so a state after `epoch` epochs has taken exactly so many steps:
    // an edited epoch would otherwise have a resume remove the checkpoints past it.
    let epoch = try meta.integer("epoch", minimum: 0), step = try meta.integer("adam_step", minimum: 0)
    let batchesPerEpoch = Batches(count: run.trainImages, size: run.batchSize).count
    let (steps, overflow) = epoch.multipliedReportingOverflow(by: batchesPerEpoch)
    guard !overflow && step == steps else {
        throw VAEError(.badData, "\(path): metadata adam_step \(step) does not match epoch \(epoch) "
                       + "(\(count: batchesPerEpoch, "step") an epoch); the file is damaged")
    }
    // A mean of squares: below 0, its square root would make the weights NaN at the next step,
    // reported as divergence with advice to lower --lr rather than as the damage it is.
    let v = try file.floats("adam.v", shape: [count])
    if let index = v.firstIndex(where: { $0 < 0 }) {
        throw VAEError(.badData, "\(path): adam.v[\(index)] is \(v[index]), below 0, which Adam's mean of squared gradients never is; "
                       + "the file is damaged")
    }
    return TrainingState(path: path, run: run, epoch: epoch, step: step,
                         parameters: try file.floats("parameters", shape: [count]),
                         m: try file.floats("adam.m", shape: [count]), v: v,
                         random: Random(state: (r[0], r[1], r[2], r[3])))
}
