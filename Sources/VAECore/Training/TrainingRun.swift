import Foundation

/// How a run treats a folder that already holds checkpoints.
public enum StartMode: Sendable {
    /// Refuse if there are checkpoints: nobody's run is overwritten silently.
    case fresh
    /// Replace the previous run's files, once the new run has its first epoch to write: until
    /// then (a divergence, a Ctrl-C, a crash in epoch 1) the old run stays as it was. A folder
    /// that holds no run is started as a fresh run would be.
    case overwrite
    /// Continue after the last epoch recorded in state.safetensors.
    case resume
}

/// The most floats a training run's activations may take: 4 GB, as its parameters with their
/// gradients and Adam's moments may (`RunConfig.maximumParameters`).
public let maximumWorkspaceFloats = 1 << 30

/// Refuses data, read from `folder` when it is given, that `run` cannot train on: other image
/// counts or images than a resumed run's, fewer training images than the VampPrior's
/// pseudo-inputs, which start as training images, or too many for memory (`checkMemory`).
public func checkData(_ data: KMNIST, from folder: String?, for run: RunConfig, directory: RunDirectory) throws {
    guard run.trainImages == data.train.count && run.testImages == data.test.count else {
        throw VAEError(.usage, "the run in \(directory.path) was trained on \(run.trainImages) training and \(run.testImages) "
                       + "test images, but the data holds \(data.train.count) and \(data.test.count); "
                       + KMNIST.otherDataAdvice(folder: folder))
    }
    try run.checkRecordedMD5(of: data.train, .training, source: folder ?? "the data")
    try run.checkRecordedMD5(of: data.test, .test, source: folder ?? "the data")
    guard run.model.pseudoInputs <= data.train.count else {
        // The default model has a VampPrior, so a small --data meets this without naming the flag.
        throw VAEError(.usage, "--pseudo-inputs \(run.model.pseudoInputs) is more than the \(count: data.train.count, "training image") "
                       + "they start from; pass --pseudo-inputs \(data.train.count) or fewer, or --prior normal")
    }
    try checkMemory(for: run, trainImages: data.train.count)
}

/// Refuses a model of more than `RunConfig.maximumParameters`, and a model or batch (its size
/// clipped to `trainImages`) whose activations would not fit `maximumWorkspaceFloats`.
public func checkMemory(for run: RunConfig, trainImages: Int) throws {
    if let problem = RunConfig.tooManyParameters(run.model) { throw VAEError(.usage, problem) }
    let layout = ParameterLayout(run.model)
    func gigabytes(_ floats: Int) -> String { String(format: "%.1f GB", Double(floats) / Double(1 << 28)) }
    // Evaluation takes the same workspace, at least 500 rows and a VampPrior's pseudo-inputs, however small the batch.
    let unbatched = Workspace.storageFloats(layout: layout, capacity: evaluationBatchSize, sampleCapacity: evaluationBatchSize)
    guard unbatched <= maximumWorkspaceFloats else {
        let vamp = run.model.prior == .vamp
        throw VAEError(.usage, "the model's activations for the \(evaluationBatchSize) test images it evaluates at a time"
                       + (vamp ? " and its \(run.model.pseudoInputs) pseudo-inputs" : "") + " would take \(gigabytes(unbatched)), more "
                       + "than the 4 GB a training run may take; choose smaller --hidden widths" + (vamp ? " or fewer --pseudo-inputs" : ""))
    }
    let size = Trainer.workspaceSize(run, trainImages: trainImages)
    let floats = Workspace.storageFloats(layout: layout, capacity: size.capacity, sampleCapacity: size.sampleCapacity)
    guard floats <= maximumWorkspaceFloats else {
        let rows = min(run.batchSize, trainImages), draws = run.objective == .iwae ? " with \(run.trainSamples) draws each" : ""
        throw VAEError(.usage, "a batch of \(count: rows, "image")\(draws) would take \(gigabytes(floats)) for its activations, "
                       + "more than the 4 GB a training run may take; choose a smaller --batch-size" + (draws.isEmpty ? "" : " or --train-k"))
    }
}

/// Trains `run` into `directory`, writing after every epoch the checkpoint, the metrics line and
/// the resume state, in that order, each atomically. A crash at any point leaves a state file
/// that matches a complete checkpoint (or the epoch-0 state written first; with `.overwrite` of a
/// run, the old run's files until the new one's first epoch is trained); the epoch after it is
/// simply trained again, and a resume first removes every checkpoint past its state's epoch. No
/// other process may write the folder meanwhile: `lock` is its lock when the caller took it
/// already, and otherwise `train` takes it. `dataFolder`, where the data came from, is recorded
/// for the tools that read the run. `started` is called once the folder has been checked and
/// prepared, just before the first epoch.
public func train(_ run: RunConfig, data: KMNIST, dataFolder: String? = nil, directory: RunDirectory, lock: RunLock? = nil,
                  mode: StartMode, finalIWAESamples: Int = 0,
                  started: () -> Void = {},
                  shouldStop: () -> Bool = { false },
                  progress: (TrainingProgress) -> Void = { _ in },
                  finalEvaluationProgress: (_ imagesDone: Int) -> Void = { _ in },
                  epochFinished: (EpochMetrics) -> Void = { _ in }) throws {
    try checkData(data, from: dataFolder, for: run, directory: directory)
    let lock = try lock ?? RunLock(directory)
    precondition(lock.path == directory.lockPath, "the lock of another run folder")
    // Held to the end, whatever the optimiser makes of the last use above.
    defer { withExtendedLifetime(lock) {} }
    let trainer = Trainer(run: run, data: data)
    var metricsLines: [String] = []
    // A replacement that stops before its first epoch leaves the old run as it was, and nothing beside it.
    defer { if trainer.replacesARun { unlink(directory.replacementStatePath) } }
    // Where the data came from, for the tools that read the run; rewritten only when it changes.
    func recordDataFolder() throws {
        if let dataFolder, try directory.recordedDataFolder() != absolutePath(dataFolder) {
            try directory.recordDataFolder(dataFolder)
        }
    }
    switch mode {
    case .overwrite where directory.holdsARun:
        try directory.prepare()
        try directory.checkRunFilesRemovable()
        try trainer.writeState(to: directory.replacementStatePath)
        trainer.replacesARun = true
    case .fresh, .overwrite:
        if mode == .fresh { try directory.checkHoldsNoRun() }
        try directory.prepare()
        try recordDataFolder()
        // An epoch-0 state lets a run killed in its first epoch be resumed like any other.
        try trainer.writeState(to: directory.statePath)
        // A run that diverged in its first epoch (its state epoch 0's too) is started again; after
        // the state, so that a crash between the two cannot leave the old state resumable.
        try directory.removeDivergenceRecord()
    case .resume:
        let state = try directory.readState()
        try directory.prepare()
        try trainer.restore(state)
        try recordDataFolder()
        metricsLines = try directory.metricsLines(through: trainer.completedEpochs, of: run)
    }
    // A checkpoint still to come that could not be written (a folder or a FIFO in its place or
    // its temporary file's, a link to nothing) is refused now, not after an epoch of training.
    // Only names already in the folder can be in the way (the old run's, which a replacement
    // removes, are not); the folder itself was checked above.
    let named = Set(directory.checkpointEpochs() + directory.epochsOfLeftoverTemporaries()).sorted()
    for epoch in named where !trainer.replacesARun && epoch > trainer.completedEpochs && epoch <= run.epochs {
        try checkFileCanBeWritten(directory.checkpoint(epoch: epoch))
    }
    if mode == .resume { try directory.removeCheckpoints(after: trainer.completedEpochs) }
    started()

    while trainer.completedEpochs < run.epochs {
        let start = DispatchTime.now().uptimeNanoseconds
        let trainLoss: LossTerms, testLoss: LossTerms, seconds: Double
        do {
            trainLoss = try trainer.trainEpoch(shouldStop: shouldStop, progress: progress)
            seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            testLoss = try trainer.testLoss(epoch: trainer.completedEpochs)
        } catch let error as VAEError where error.kind == .failed && !trainer.replacesARun {
            // The two throw `.failed` only for a divergence. Recorded so that a resume, which would
            // repeat it, is refused at once; a replacement's leaves the old run as it was. A record
            // that cannot be written must not hide the divergence's own message.
            try? directory.recordDivergence(error.message)
            throw error
        }
        let epoch = trainer.completedEpochs
        var metrics = EpochMetrics(epoch: epoch, train: trainLoss, test: testLoss,
                                   seconds: seconds, imagesPerSecond: Double(data.train.count) / seconds)
        if epoch == run.epochs && finalIWAESamples > 0 {
            let nll = try importanceWeightedNLL(trainer.model, trainer.testImages, k: finalIWAESamples, seed: run.seed) { done in
                finalEvaluationProgress(done)
                // The epoch's checkpoint waits for this figure, so a resume trains the epoch again.
                if shouldStop() {
                    throw VAEError(.interrupted, "interrupted while estimating \(run.model.negativeLogLikelihood) after epoch \(epoch)")
                }
            }
            // No checkpoint or metrics line records a non-finite figure, as vae-eval prints none.
            guard nll.isFinite else {
                // A replacement has nothing of its own to resume: a resume would find the old run.
                let withoutEstimate = trainer.replacesARun
                    ? "the same command without --iwae-k trains the run without the estimate"
                    : "vae-train --resume \(shellPath(directory.path)) without --iwae-k ends the run without the estimate"
                throw VAEError(.failed, "the importance-weighted estimate after epoch \(epoch) is \(numberText(nll)) (k=\(finalIWAESamples)): "
                               + "the model gives a test image a weight out of range; the epoch's checkpoint was not written "
                               + "(\(withoutEstimate))")
            }
            metrics.testIWAE = (nll, finalIWAESamples)
        }
        if trainer.replacesARun {
            try directory.replaceRun()
            try recordDataFolder()
            trainer.replacesARun = false
        }
        try writeCheckpoint(trainer.model, run: run, metrics: metrics, to: directory.checkpoint(epoch: epoch))
        metricsLines.append(metrics.jsonLine)
        try directory.writeMetrics(metricsLines)
        try trainer.writeState(to: directory.statePath)
        epochFinished(metrics)
    }
}
