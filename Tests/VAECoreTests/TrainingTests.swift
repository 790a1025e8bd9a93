import Foundation
import Testing
import TestSupport
import VAECore

private func syntheticData() -> KMNIST {
    KMNIST(train: syntheticImageSet(count: 150, seed: 7), test: syntheticImageSet(count: 40, seed: 8))
}

private func syntheticRun(seed: UInt64 = 3, epochs: Int = 2, conditional: Bool = false) -> RunConfig {
    RunConfig(model: VAEConfig(hidden: [32], latentDim: 4, conditional: conditional), epochs: epochs, batchSize: 32, learningRate: 1e-3,
              seed: seed, preset: "default", trainImages: 150, testImages: 40)
}

/// A workspace's slices count as exhausted only when they have handed out every float of the
/// buffer: the check that its size was computed right.
@Test func rowSlicesAreExhaustedOnlyWhenEveryFloatIsHandedOut() {
    var slices = RowSlices(of: FloatBuffer(count: 10), rows: 2)
    _ = slices.take(3)
    #expect(!slices.isExhausted)
    _ = slices.take(floats: 3)
    #expect(!slices.isExhausted)
    _ = slices.take(floats: 1)
    #expect(slices.isExhausted)
}

/// A state past the epochs a trainer is given is refused, even where the state's own run
/// planned that many.
@Test func aStatePastTheEpochsAskedForIsRefused() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/state.safetensors"
    let trainer = Trainer(run: syntheticRun(epochs: 3), data: syntheticData())
    for _ in 0..<2 { _ = try trainer.trainEpoch() }
    try trainer.writeState(to: path)
    let state = try readTrainingState(path)
    try Trainer(run: syntheticRun(epochs: 2), data: syntheticData()).restore(state)
    #expect(throws: VAEError(.usage, "\(path) is at epoch 2, past the 1 epoch requested")) {
        try Trainer(run: syntheticRun(epochs: 1), data: syntheticData()).restore(state)
    }
}

/// A short run on the real data: the test loss goes down epoch after epoch. It trains on the
/// first 7,011 training images, which are the whole of ../shared/kmnist's training split, so that
/// it is the same run on that copy and on the official files.
@Test(.needsRealKMNIST) func shortTrainingOnKMNISTLowersTheTestLoss() throws {
    let found = try KMNIST.load(from: RealKMNIST.requireFolder())
    let sharedCount = 7011
    try #require(found.train.count >= sharedCount)
    let data = KMNIST(train: ImageSet(pixels: Array(found.train.pixels[..<(sharedCount * VAEConfig.inputSize)]),
                                      labels: Array(found.train.labels[..<sharedCount])),
                      test: found.test)
    let run = RunConfig(model: VAEConfig(hidden: [128], latentDim: 8), epochs: 2, batchSize: 128, learningRate: 1e-3,
                        seed: 0, preset: "default", trainImages: data.train.count, testImages: data.test.count)
    let trainer = Trainer(run: run, data: data)
    let before = trainer.evaluate(data.test, epoch: 0).total
    let first = try trainer.trainEpoch()
    let afterOne = trainer.evaluate(data.test, epoch: 1).total
    _ = try trainer.trainEpoch()
    let afterTwo = trainer.evaluate(data.test, epoch: 2).total
    #expect(before > 500, "an untrained Bernoulli decoder scores about 784·log 2 ≈ 543 nats")
    #expect(first.total < before)
    #expect(afterOne < before - 150, "test loss \(before) → \(afterOne) after one epoch")
    #expect(afterTwo < afterOne, "test loss \(afterOne) → \(afterTwo) in the second epoch")
}

/// A batch larger than the training set is the training set: the step is the same as with a
/// batch of exactly its size, and the buffers hold no more rows than it has (a batch of a million
/// once allocated them all, 2.9 GB for the default model, or crashed for larger ones).
@Test func aBatchLargerThanTheTrainingSetIsTheTrainingSet() throws {
    let data = KMNIST(train: syntheticImageSet(count: 700, seed: 7), test: syntheticImageSet(count: 40, seed: 8))
    func trained(batchSize: Int) throws -> Trainer {
        let run = RunConfig(model: VAEConfig(hidden: [32], latentDim: 4, prior: .normal), epochs: 2, batchSize: batchSize,
                            learningRate: 1e-3, seed: 3, preset: "default", trainImages: 700, testImages: 40)
        let trainer = Trainer(run: run, data: data)
        for _ in 0..<2 { _ = try trainer.trainEpoch() }
        return trainer
    }
    let huge = try trained(batchSize: RunConfig.batchSizeRange.upperBound), exact = try trained(batchSize: 700)
    #expect(huge.workspace.capacity == 700)
    expectIdentical(Array(UnsafeBufferPointer(start: huge.model.parameters.pointer, count: huge.model.parameters.count)),
                    Array(UnsafeBufferPointer(start: exact.model.parameters.pointer, count: exact.model.parameters.count)),
                    "the parameters after two epochs")
}

/// A training step uses the run's learning rate: Adam's first step moves each parameter by
/// lr·g/(|g| + ε), so by lr itself wherever its gradient is far above ε, and by no more anywhere.
/// One epoch of one batch (the whole training set) is that one step.
@Test(arguments: [Float(1e-3), 3e-4])
func theFirstStepMovesEachParameterByTheLearningRate(learningRate: Float) throws {
    let data = syntheticData()
    let run = RunConfig(model: VAEConfig(hidden: [32], latentDim: 4, prior: .normal), epochs: 1, batchSize: 150,
                        learningRate: Double(learningRate), seed: 3, preset: "default", trainImages: 150, testImages: 40)
    let trainer = Trainer(run: run, data: data)
    let parameters = { Array(UnsafeBufferPointer(start: trainer.model.parameters.pointer, count: trainer.model.parameters.count)) }
    let before = parameters()
    _ = try trainer.trainEpoch()
    let moves = zip(parameters(), before).map { abs($0 - $1) }
    let largest = moves.max()!, median = moves.sorted()[moves.count / 2]
    #expect(largest <= learningRate * 1.001, "a parameter moved \(largest) with lr \(learningRate)")
    #expect(abs(median - learningRate) <= learningRate * 1e-3, "the median parameter moved \(median) with lr \(learningRate)")
}

/// The same seed reproduces every checkpoint bit for bit; another seed does not.
@Test func sameSeedGivesIdenticalCheckpoints() throws {
    let data = syntheticData()
    let a = temporaryFolder(), b = temporaryFolder(), c = temporaryFolder()
    defer { [a, b, c].forEach(removeTemporaryFolder) }
    try train(syntheticRun(), data: data, directory: RunDirectory(a), mode: .fresh)
    try train(syntheticRun(), data: data, directory: RunDirectory(b), mode: .fresh)
    try train(syntheticRun(seed: 4), data: data, directory: RunDirectory(c), mode: .fresh)
    let filesA = try runFiles(a)
    #expect(filesA.keys.sorted() == ["epoch 1", "epoch 2", "state"])
    expectIdentical(try runFiles(b), filesA, "the same seed's files")
    expectDifferent(try #require(try runFiles(c)["epoch 2"]), try #require(filesA["epoch 2"]), "epoch 2 of another seed")
}

/// The runs whose resume is checked: each keeps a state of its own between epochs (the labels
/// that follow the shuffled images, the binarising stream, the warm-up's β, which the stop in
/// epoch 2 falls inside, the convolutions' and the Gaussian decoder's parameters).
enum ResumedRunKind: String, CaseIterable, CustomTestStringConvertible {
    case plain, conditional, dynamicBinarization, klWarmup, conv, gaussian

    func run(epochs: Int) -> RunConfig {
        var run = syntheticRun(epochs: epochs, conditional: self == .conditional)
        switch self {
        case .plain, .conditional: break
        case .dynamicBinarization: run.binarization = .dynamic
        case .klWarmup: run.klWarmupEpochs = 3
        case .conv: run.model = VAEConfig(arch: .conv, convChannels: [4, 8], hidden: [16], latentDim: 4)
        case .gaussian: run.model = VAEConfig(hidden: [32], latentDim: 4, likelihood: .gaussian)
        }
        return run
    }

    var testDescription: String { rawValue }
}

/// Stopping (as Ctrl-C does) in the middle of epoch 2, then resuming, ends with the same files
/// as a run that was never interrupted; so does resuming a finished run with more epochs.
@Test(arguments: ResumedRunKind.allCases)
func resumedRunsMatchUninterruptedOnes(kind: ResumedRunKind) throws {
    let data = syntheticData()
    let run = kind.run(epochs:)
    let straight = temporaryFolder(), interrupted = temporaryFolder(), extended = temporaryFolder()
    defer { [straight, interrupted, extended].forEach(removeTemporaryFolder) }
    try train(run(3), data: data, directory: RunDirectory(straight), mode: .fresh)

    var batches = 0
    expectVAEError(.interrupted, containing: ["interrupted during epoch 2"]) {
        try train(run(3), data: data, directory: RunDirectory(interrupted), mode: .fresh,
                  shouldStop: { batches += 1; return batches > 7 })
    }
    #expect(RunDirectory(interrupted).checkpointEpochs() == [1])
    try train(run(3), data: data, directory: RunDirectory(interrupted), mode: .resume)
    expectIdentical(try runFiles(interrupted), try runFiles(straight), "interrupted and resumed")
    // A finished run resumed with its own epochs has nothing left to train, and changes nothing.
    try train(run(3), data: data, directory: RunDirectory(straight), mode: .resume)
    expectIdentical(try runFiles(straight), try runFiles(interrupted), "a finished run resumed")

    try train(run(1), data: data, directory: RunDirectory(extended), mode: .fresh)
    try train(run(3), data: data, directory: RunDirectory(extended), mode: .resume)
    // Epoch 1's checkpoint records the 1 epoch planned then; the later files match exactly.
    var files = try runFiles(extended), reference = try runFiles(straight)
    let extendedFirst = files.removeValue(forKey: "epoch 1"), straightFirst = reference.removeValue(forKey: "epoch 1")
    expectDifferent(try #require(extendedFirst), try #require(straightFirst), "epoch 1")
    expectIdentical(files, reference, "extended")
    let metrics = try String(contentsOfFile: RunDirectory(extended).metricsPath, encoding: .utf8)
    #expect(metrics.split(separator: "\n").count == 3)
}

/// A resume whose metrics.jsonl was deleted, or lost a line, rebuilds each missing epoch's line
/// from its checkpoint: the same losses, the timings null; the loss curve keeps every epoch.
@Test func aResumeRebuildsMissingMetricsLinesFromTheCheckpoints() throws {
    let data = syntheticData()
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    try train(syntheticRun(epochs: 3), data: data, directory: directory, mode: .fresh)
    let original = try readMetricsLines(directory.metricsPath).map(\.text)
    func withoutTimings(_ line: String) -> String {
        line.replacingOccurrences(of: #""seconds":[^,]*,"images_per_second":[^,}]*"#, with: #""seconds":null,"images_per_second":null"#,
                                  options: .regularExpression)
    }
    // Epoch 2's line cut by hand, then the whole file deleted.
    try (original[0] + "\n" + original[2] + "\n").write(toFile: directory.metricsPath, atomically: true, encoding: .utf8)
    try train(syntheticRun(epochs: 4), data: data, directory: directory, mode: .resume)
    var lines = try readMetricsLines(directory.metricsPath).map(\.text)
    #expect(lines.count == 4)
    #expect(Array(lines[..<3]) == [original[0], withoutTimings(original[1]), original[2]], "\(lines)")
    #expect(lines[1] != original[1] && lines[1].contains(#""seconds":null"#))

    unlink(directory.metricsPath)
    try train(syntheticRun(epochs: 5), data: data, directory: directory, mode: .resume)
    lines = try readMetricsLines(directory.metricsPath).map(\.text)
    #expect(lines.count == 5)
    #expect(Array(lines[..<3]) == original.map(withoutTimings), "\(lines)")
    #expect(try readEpochLosses(directory.metricsPath).map(\.epoch) == [1, 2, 3, 4, 5])

    // A line whose losses are not its checkpoint's (copied in from another run) is refused, and
    // once deleted, rebuilt.
    let kept = try readFile(directory.metricsPath)
    let keptLines = try readMetricsLines(directory.metricsPath).map(\.text)
    let foreign = keptLines[1].replacingOccurrences(of: #""train_loss":[^,]*"#, with: #""train_loss":123.5"#, options: .regularExpression)
    #expect(foreign != keptLines[1])
    try ([keptLines[0], foreign] + keptLines[2...]).map { $0 + "\n" }.joined().write(toFile: directory.metricsPath, atomically: true, encoding: .utf8)
    let second = try readCheckpoint(directory.checkpoint(epoch: 2)).metrics
    expectVAEError(.badData, containing: ["\(directory.metricsPath): epoch 2's line records losses 123.5 and ",
                                          ", its checkpoint \(second.train.total) and \(second.test.total); delete that line"]) {
        try train(syntheticRun(epochs: 6), data: data, directory: directory, mode: .resume)
    }
    #expect(directory.checkpointEpochs() == [1, 2, 3, 4, 5])
    write(kept, to: directory.metricsPath)

    // A line that cannot be read is no line to rebuild: the resume stops, and says how to mend it.
    write(Array(kept.prefix(40)) + Array("\n".utf8), to: directory.metricsPath)
    #expect(throws: VAEError(.badData, "\(directory.metricsPath):1: not a metrics line (a JSON object with an epoch from 1, and a "
                             + "train_loss and a test_loss that are finite Float values); mend or delete that line, and the resume "
                             + "rebuilds a missing line from its epoch's checkpoint")) {
        try train(syntheticRun(epochs: 6), data: data, directory: directory, mode: .resume)
    }
    #expect(directory.checkpointEpochs() == [1, 2, 3, 4, 5])
}

/// Every start records where the data came from: a fresh run, an --overwrite once it replaces the
/// run (whose files, the old record among them, it removes), a resume given other data. The
/// replacement's state is a temporary file, which the next trainer clears if a crash left it.
@Test func everyStartRecordsItsDataFolder() throws {
    let data = syntheticData()
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    try train(syntheticRun(epochs: 1), data: data, dataFolder: "/first", directory: directory, mode: .fresh)
    #expect(try directory.recordedDataFolder() == "/first")
    try train(syntheticRun(seed: 9, epochs: 1), data: data, dataFolder: "/second", directory: directory, mode: .overwrite)
    #expect(try directory.recordedDataFolder() == "/second")
    try train(syntheticRun(seed: 9, epochs: 2), data: data, dataFolder: "/third", directory: directory, mode: .resume)
    #expect(try directory.recordedDataFolder() == "/third" && directory.checkpointEpochs() == [1, 2])
    #expect(isLeftoverTemporaryFile(URL(fileURLWithPath: directory.replacementStatePath).lastPathComponent))
}

/// A divergence record emptied by hand still refuses a resume, saying it holds no message; a
/// folder in its place is named as such, not read as no record.
@Test func aDamagedDivergenceRecordIsToldAsSuch() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    try train(syntheticRun(epochs: 1), data: syntheticData(), directory: directory, mode: .fresh)
    try directory.recordDivergence("")
    #expect(throws: VAEError(.usage, "cannot resume: \(directory.divergenceRecordPath) records that training diverged "
                             + "(no message recorded)")) {
        _ = try directory.readState()
    }
    unlink(directory.divergenceRecordPath)
    try FileManager.default.createDirectory(atPath: directory.divergenceRecordPath, withIntermediateDirectories: false)
    #expect(throws: VAEError(.badData, "\(directory.divergenceRecordPath) is a folder, where a run records that its training "
                             + "diverged; remove it")) {
        _ = try directory.readState()
    }
}

/// A test loss that is not finite (here the KL term of a log-variance that overflows e^x) is a
/// divergence: metrics.jsonl could not record it, so no checkpoint may.
@Test func aTestLossThatIsNotFiniteIsADivergence() throws {
    let trainer = Trainer(run: syntheticRun(), data: syntheticData())
    let head = trainer.model.layout.head
    trainer.model.parameters.pointer[head.biasOffset + trainer.run.model.latentDim] = 1000
    #expect(throws: VAEError(.failed, "training diverged in epoch 1: the test loss is NaN; no checkpoint was written from this state "
                             + "(start again with a lower --lr: a resume would repeat the same steps)")) {
        try trainer.testLoss(epoch: 1)
    }
    // Past epoch 1 the folder holds the earlier epochs' checkpoints, which a new run must replace.
    #expect(throws: VAEError(.failed, "training diverged in epoch 2: the test loss is NaN; no checkpoint was written from this state "
                             + "(start again with --overwrite and a lower --lr: a resume would repeat the same steps)")) {
        try trainer.testLoss(epoch: 2)
    }
    trainer.model.parameters.pointer[head.biasOffset + trainer.run.model.latentDim] = 0
    #expect(try trainer.testLoss(epoch: 1) == trainer.evaluate(trainer.testImages, epoch: 1))
}

@Test func existingCheckpointsAreNeverOverwrittenSilently() throws {
    let data = syntheticData()
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    try train(syntheticRun(epochs: 1), data: data, directory: RunDirectory(folder), mode: .fresh)
    let before = try runFiles(folder)
    #expect {
        try train(syntheticRun(seed: 9, epochs: 1), data: data, directory: RunDirectory(folder), mode: .fresh)
    } throws: { ($0 as? VAEError)?.message.contains("pass --resume to continue that run or --overwrite") == true }
    expectIdentical(try runFiles(folder), before, "after the refusal")
    try train(syntheticRun(seed: 9, epochs: 1), data: data, directory: RunDirectory(folder), mode: .overwrite)
    expectDifferent(try #require(try runFiles(folder)["epoch 1"]), try #require(before["epoch 1"]), "epoch 1, overwritten")
}

/// A folder whose checkpoints are gone but whose state is past epoch 0 still holds a run that
/// can be resumed: a fresh run is refused there too. A state at epoch 0 (a run stopped in its
/// first epoch) holds nothing to lose, and a fresh run starts over it.
@Test func aResumableStateIsNeverOverwrittenSilently() throws {
    let data = syntheticData()
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    try train(syntheticRun(epochs: 2), data: data, directory: directory, mode: .fresh)
    for epoch in directory.checkpointEpochs() { unlink(directory.checkpoint(epoch: epoch)) }
    let state = try readFile(directory.statePath)
    #expect {
        try train(syntheticRun(seed: 9, epochs: 1), data: data, directory: directory, mode: .fresh)
    } throws: { error in
        (error as? VAEError)?.message == "\(folder) holds the resume state of a run after epoch 2 (\(directory.statePath)); "
            + "pass --resume to continue that run or --overwrite to replace it"
    }
    expectIdentical(try readFile(directory.statePath), state, "the state after the refusal")
    #expect(directory.checkpointEpochs().isEmpty)
    // Nor is a state that cannot be read.
    write(Array(state.prefix(100)), to: directory.statePath)
    #expect {
        try train(syntheticRun(seed: 9, epochs: 1), data: data, directory: directory, mode: .fresh)
    } throws: { error in
        (error as? VAEError)?.message.hasPrefix("\(folder) holds a resume state that cannot be read (\(directory.statePath): ") == true
            && (error as? VAEError)?.message.hasSuffix("); pass --overwrite to replace the run") == true
            && (error as? VAEError)?.kind == .usage
    }
    #expect(try readFile(directory.statePath) == Array(state.prefix(100)))

    try train(syntheticRun(seed: 9, epochs: 1), data: data, directory: directory, mode: .overwrite)
    #expect(directory.checkpointEpochs() == [1])
    #expect(try readTrainingState(directory.statePath).epoch == 1)
}

/// --overwrite replaces the old run only once the new one has its first epoch to write: stopped,
/// diverged or crashed before that, the folder holds the old run as it was. A file of the old
/// run that could not be removed (a folder under a checkpoint's name) is refused before training.
@Test func anOverwriteKeepsTheOldRunUntilItsFirstCheckpoint() throws {
    let data = syntheticData()
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    try train(syntheticRun(epochs: 2), data: data, directory: directory, mode: .fresh)
    let before = try runFiles(folder), metrics = try readFile(directory.metricsPath)
    expectVAEError(.interrupted, containing: ["interrupted during epoch 1"]) {
        try train(syntheticRun(seed: 9, epochs: 3), data: data, directory: directory, mode: .overwrite, shouldStop: { true })
    }
    expectIdentical(try runFiles(folder), before, "after an overwrite stopped in its first epoch")
    var diverging = syntheticRun(seed: 9, epochs: 3)
    diverging.learningRate = 1e30
    expectVAEError(.failed, containing: ["training diverged in epoch 1, batch 2 of 5: the loss is NaN"]) {
        try train(diverging, data: data, directory: directory, mode: .overwrite)
    }
    expectIdentical(try runFiles(folder), before, "after an overwrite that diverged in its first epoch")
    #expect(try readFile(directory.metricsPath) == metrics)
    #expect(try directory.recordedDivergence() == nil, "the old run did not diverge")

    try train(syntheticRun(seed: 9, epochs: 1), data: data, directory: directory, mode: .overwrite)
    #expect(directory.checkpointEpochs() == [1])
    #expect(try readTrainingState(directory.statePath).epoch == 1)
    #expect(try readMetricsLines(directory.metricsPath).count == 1)
    expectDifferent(try #require(try runFiles(folder)["epoch 1"]), try #require(before["epoch 1"]), "epoch 1, replaced")

    let kept = try runFiles(folder)
    let stuck = directory.checkpoint(epoch: 2)
    try FileManager.default.createDirectory(atPath: stuck, withIntermediateDirectories: false)
    var epochs = 0
    #expect(throws: VAEError(.cannotWrite, "cannot remove \(stuck) of the run being replaced: Is a directory")) {
        try train(syntheticRun(seed: 4, epochs: 1), data: data, directory: directory, mode: .overwrite, progress: { _ in epochs += 1 })
    }
    #expect(epochs == 0, "refused before training")
    #expect(try readFile(directory.statePath) == kept["state"])
    #expect(try readFile(directory.checkpoint(epoch: 1)) == kept["epoch 1"])

    // One that appears while the new run trains stops the replacement there, the new run's
    // epoch-0 state in place of the old state: a resume starts the new run again.
    try FileManager.default.removeItem(atPath: stuck)
    #expect(throws: VAEError(.cannotWrite, "cannot remove \(stuck) of the run being replaced: Is a directory")) {
        try train(syntheticRun(seed: 4, epochs: 2), data: data, directory: directory, mode: .overwrite, progress: { _ in
            if PathKind(stuck) == .nothing { try? FileManager.default.createDirectory(atPath: stuck, withIntermediateDirectories: false) }
        })
    }
    let state = try readTrainingState(directory.statePath)
    #expect(state.epoch == 0 && state.run.seed == 4 && state.run.epochs == 2)
    #expect(PathKind(directory.checkpoint(epoch: 1)) == .nothing && PathKind(directory.replacementStatePath) == .nothing)
}

/// The library's train() refuses a model past `RunConfig.maximumParameters` as vae-train's
/// flags are refused, before it allocates anything or makes the folder (8.7 billion
/// parameters would take 139 GB with their gradients and moments).
@Test func trainRefusesAModelOfTooManyParameters() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    var run = syntheticRun()
    run.model.hidden = [65536, 65536]
    let parameters = ParameterLayout(run.model).count
    expectVAEError(.usage, containing: ["the model would have \(parameters) parameters, more than the 250000000 a training run takes"]) {
        try train(run, data: syntheticData(), directory: RunDirectory(scratch + "/run"), mode: .fresh)
    }
    #expect(PathKind(scratch + "/run") == .nothing)
}

/// A resume reads every checkpoint the run keeps as the renderer does: one copied in under
/// another epoch's name, one cut short, one of another run, or a state copied in from another
/// run, stops it with one line, and nothing is written.
@Test func aResumeRefusesCheckpointsThatAreNotTheRunsOwn() throws {
    let data = syntheticData()
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let directory = RunDirectory(scratch + "/run"), other = RunDirectory(scratch + "/other")
    try train(syntheticRun(epochs: 3), data: data, directory: directory, mode: .fresh)
    try train(syntheticRun(seed: 9, epochs: 3), data: data, directory: other, mode: .fresh)
    let original = try runFiles(directory.path), metrics = try readFile(directory.metricsPath)

    unlink(directory.metricsPath)
    try FileManager.default.removeItem(atPath: directory.checkpoint(epoch: 2))
    try FileManager.default.copyItem(atPath: directory.checkpoint(epoch: 3), toPath: directory.checkpoint(epoch: 2))
    expectVAEError(.badData, containing: ["\(directory.checkpoint(epoch: 2)) holds epoch 3, not the epoch 2 its name says"]) {
        try train(syntheticRun(epochs: 4), data: data, directory: directory, mode: .resume)
    }
    #expect(!FileManager.default.fileExists(atPath: directory.metricsPath))
    #expect(directory.checkpointEpochs() == [1, 2, 3])
    write(original["epoch 2"]!, to: directory.checkpoint(epoch: 2))

    // A damaged checkpoint (cut short) is refused too, before anything is written.
    write(Array(original["epoch 1"]!.prefix(original["epoch 1"]!.count - 4)), to: directory.checkpoint(epoch: 1))
    expectVAEError(.badData, containing: ["\(directory.checkpoint(epoch: 1)): the file is cut short"]) {
        try train(syntheticRun(epochs: 4), data: data, directory: directory, mode: .resume)
    }
    #expect(!FileManager.default.fileExists(atPath: directory.metricsPath))
    #expect(directory.checkpointEpochs() == [1, 2, 3])
    write(original["epoch 1"]!, to: directory.checkpoint(epoch: 1))

    // With every metrics line there, the checkpoints are checked all the same: another run's
    // first one, where the state's own check reads only the checkpoint of its epoch.
    write(metrics, to: directory.metricsPath)
    try FileManager.default.removeItem(atPath: directory.checkpoint(epoch: 1))
    try FileManager.default.copyItem(atPath: other.checkpoint(epoch: 1), toPath: directory.checkpoint(epoch: 1))
    expectVAEError(.badData, containing: ["\(directory.checkpoint(epoch: 1)) comes from a different configuration than "
                                          + "\(directory.statePath): seed 9 instead of 3"]) {
        try train(syntheticRun(epochs: 4), data: data, directory: directory, mode: .resume)
    }
    #expect(directory.checkpointEpochs() == [1, 2, 3])
    write(original["epoch 1"]!, to: directory.checkpoint(epoch: 1))

    // Another run's state is refused by its check against the checkpoint of its epoch.
    try FileManager.default.removeItem(atPath: directory.statePath)
    try FileManager.default.copyItem(atPath: other.statePath, toPath: directory.statePath)
    expectVAEError(.badData, containing: ["\(directory.checkpoint(epoch: 3)) comes from a different configuration than "
                                          + "\(directory.statePath): seed 3 instead of 9"]) {
        try train(syntheticRun(seed: 9, epochs: 4), data: data, directory: directory, mode: .resume)
    }
    #expect(directory.checkpointEpochs() == [1, 2, 3])
    write(original["state"]!, to: directory.statePath)
    expectIdentical(try runFiles(directory.path), original, "the run after both refusals")
    expectIdentical(try readFile(directory.metricsPath), metrics, "metrics.jsonl after both refusals")
}

/// A folder where a run file goes is refused before the first epoch, not after it.
@Test func aFolderInPlaceOfARunFileIsRefusedBeforeTraining() throws {
    let data = syntheticData()
    for name in ["metrics.jsonl", "state.safetensors", "data-folder", "diverged"] {
        let folder = temporaryFolder()
        defer { removeTemporaryFolder(folder) }
        try FileManager.default.createDirectory(atPath: folder + "/" + name, withIntermediateDirectories: true)
        var epochsStarted = 0
        expectVAEError(.cannotWrite, containing: ["cannot write \(folder)/\(name): it is a folder, not a file"]) {
            try train(syntheticRun(epochs: 1), data: data, dataFolder: folder, directory: RunDirectory(folder), mode: .fresh,
                      progress: { _ in epochsStarted += 1 })
        }
        #expect(epochsStarted == 0, "\(name)")
        #expect(RunDirectory(folder).checkpointEpochs().isEmpty)
    }
    // So is one where a resume's last checkpoint goes: checked before its first epoch as well.
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    try train(syntheticRun(epochs: 1), data: data, directory: RunDirectory(folder), mode: .fresh)
    let last = RunDirectory(folder).checkpoint(epoch: 3)
    try FileManager.default.createDirectory(atPath: last, withIntermediateDirectories: true)
    var epochsStarted = 0
    expectVAEError(.cannotWrite, containing: ["cannot write \(last): it is a folder, not a file"]) {
        try train(syntheticRun(epochs: 3), data: data, directory: RunDirectory(folder), mode: .resume,
                  progress: { _ in epochsStarted += 1 })
    }
    #expect(epochsStarted == 0)
    #expect(!FileManager.default.fileExists(atPath: RunDirectory(folder).checkpoint(epoch: 2)))
}

@Test func metricsFileHasOneObjectPerEpoch() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let data = syntheticData()
    try train(syntheticRun(), data: data, directory: RunDirectory(folder), mode: .fresh)
    let lines = try String(contentsOfFile: RunDirectory(folder).metricsPath, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 2)
    for (i, line) in lines.enumerated() {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect((object["epoch"] as? NSNumber)?.intValue == i + 1)
        for key in ["train_loss", "test_loss", "train_reconstruction", "train_kl", "test_reconstruction", "test_kl",
                    "seconds", "images_per_second"] {
            #expect((object[key] as? NSNumber)?.doubleValue.isFinite == true, "\(key) in \(line)")
        }
        let loss = (object["test_loss"] as! NSNumber).doubleValue
        let parts = (object["test_reconstruction"] as! NSNumber).doubleValue + (object["test_kl"] as! NSNumber).doubleValue
        #expect(abs(loss - parts) < 1e-6)
        // Training images, not test images, per second of the epoch.
        let seconds = (object["seconds"] as! NSNumber).doubleValue, rate = (object["images_per_second"] as! NSNumber).doubleValue
        #expect(abs(rate * seconds / Double(data.train.count) - 1) < 1e-9, "\(line)")
    }
}

/// An epoch's training loss terms are its steps' own: in an epoch of one step, the KL term (which
/// the noise does not touch under N(0, I)) is that of the training images at the initial weights,
/// and the reconstruction term that of another draw of the noise, a few tenths of a percent away.
@Test func anEpochsTrainingLossIsItsStepsLoss() throws {
    var run = syntheticRun(epochs: 1)
    run.batchSize = run.trainImages
    let trainer = Trainer(run: run, data: syntheticData())
    let before = trainer.evaluate(syntheticData().train, epoch: 1)
    let terms = try trainer.trainEpoch()
    #expect(abs(terms.kl / before.kl - 1) < 1e-6, "KL \(terms.kl) against \(before.kl) at the initial weights")
    #expect(abs(terms.reconstruction / before.reconstruction - 1) < 0.01,
            "reconstruction \(terms.reconstruction) against \(before.reconstruction) at the initial weights")
}

/// The progress of an epoch whose last batch is short (150 images in batches of 32: 22 last)
/// counts the images actually seen, and its last running loss is the mean loss per image the
/// epoch returns, reconstruction and KL together.
@Test func lastProgressOfAnEpochCountsItsImagesAndEndsAtTheEpochsLoss() throws {
    let trainer = Trainer(run: syntheticRun(), data: syntheticData())
    var reports: [TrainingProgress] = []
    let terms = try trainer.trainEpoch(progress: { reports.append($0) })
    #expect(reports.map(\.imagesSeen) == [32, 64, 96, 128, 150])
    #expect(reports.map(\.batch) == [1, 2, 3, 4, 5] && reports.allSatisfy { $0.batches == 5 && $0.epoch == 1 })
    let last = try #require(reports.last)
    #expect(abs(last.runningLoss - terms.total) <= 1e-12 * abs(terms.total),
            "running loss \(last.runningLoss) against the epoch's \(terms.total)")
}

@Test func klWeightRampsOverTheWarmUpEpochsStepByStep() {
    var run = syntheticRun(epochs: 4)
    run.beta = 2
    run.klWarmupEpochs = 2
    let trainer = Trainer(run: run, data: syntheticData())
    #expect(trainer.klWeight(epoch: 1, batch: 0, batches: 4) == 0.25)
    #expect(trainer.klWeight(epoch: 1, batch: 3, batches: 4) == 1)
    #expect(trainer.klWeight(epoch: 2, batch: 1, batches: 4) == 1.5)
    #expect(trainer.klWeight(epoch: 3, batch: 0, batches: 4) == 2)
    run.klWarmupEpochs = 0
    #expect(Trainer(run: run, data: syntheticData()).klWeight(epoch: 1, batch: 0, batches: 4) == 2)
}

/// Which training image each row of the trainer's last batch holds (the images are distinct).
private func imagesInTheLastBatch(_ trainer: Trainer, rows: Int) -> [Int] {
    let size = VAEConfig.inputSize, pixels = trainer.data.train.pixels
    let index = Dictionary(uniqueKeysWithValues: (0..<trainer.data.train.count).map { (Array(pixels[$0 * size..<($0 + 1) * size]), $0) })
    return (0..<rows).map { row in
        index[(0..<size).map { UInt8((trainer.workspace.input[row * size + $0] * 255).rounded()) }] ?? -1
    }
}

/// Every epoch takes the training images in an order of its own: a batch of the whole set holds
/// each image once, neither in file order nor in the previous epoch's.
@Test func everyEpochShufflesTheTrainingImagesAnew() throws {
    var run = syntheticRun()
    run.batchSize = 150
    let trainer = Trainer(run: run, data: syntheticData())
    _ = try trainer.trainEpoch()
    let first = imagesInTheLastBatch(trainer, rows: 150)
    _ = try trainer.trainEpoch()
    let second = imagesInTheLastBatch(trainer, rows: 150)
    #expect(first.sorted() == Array(0..<150) && second.sorted() == Array(0..<150), "each image once: \(first), \(second)")
    #expect(first != Array(0..<150))
    #expect(second != first)
}

/// With --binarize dynamic the network trains on 0-or-1 images drawn afresh every batch.
@Test func dynamicBinarisationReachesTheTrainingBatches() throws {
    var run = syntheticRun()
    run.batchSize = 150
    run.binarization = .dynamic
    let trainer = Trainer(run: run, data: syntheticData())
    _ = try trainer.trainEpoch()
    let input = UnsafeBufferPointer(start: trainer.workspace.input, count: 150 * VAEConfig.inputSize)
    #expect(input.allSatisfy { $0 == 0 || $0 == 1 })
    #expect(input.contains(1))
}

/// The warm-up's KL weight is the one training uses: one batch an epoch, the first step of a
/// 4-epoch warm-up to β = 1 takes the same step as β = 0.25 without one.
@Test func theWarmUpsKLWeightIsTheOneTrainingUses() throws {
    var warmUp = syntheticRun(), quarter = syntheticRun()
    warmUp.batchSize = 150
    warmUp.klWarmupEpochs = 4
    quarter.batchSize = 150
    quarter.beta = 0.25
    let trainers = [Trainer(run: warmUp, data: syntheticData()), Trainer(run: quarter, data: syntheticData())]
    for trainer in trainers { _ = try trainer.trainEpoch() }
    expectIdentical(trainers[0].model.parameters.array, trainers[1].model.parameters.array, "after one step")
    // β = 1 from the first step takes another.
    var full = warmUp
    full.klWarmupEpochs = 0
    let unweighted = Trainer(run: full, data: syntheticData())
    _ = try unweighted.trainEpoch()
    #expect(unweighted.model.parameters.array != trainers[1].model.parameters.array)
}

/// Each epoch's test loss has z draws of its own, the same however often it is evaluated: the same
/// model evaluated as another epoch changes its reconstruction term a little, and its closed-form
/// KL term not at all.
@Test func eachEpochsTestLossDrawsItsOwnNoise() {
    let data = syntheticData()
    let trainer = Trainer(run: syntheticRun(), data: data)
    let first = trainer.evaluate(data.test, epoch: 1), second = trainer.evaluate(data.test, epoch: 2)
    #expect(trainer.evaluate(data.test, epoch: 1) == first)
    #expect(second.kl == first.kl)
    #expect(second.reconstruction != first.reconstruction)
    #expect(abs(second.reconstruction - first.reconstruction) < 0.01 * first.reconstruction, "\(first) vs \(second)")
}

/// Epochs named in a report (missing checkpoints): a few, then how many more.
@Test func epochListsNameAFewEpochsAndCountTheRest() {
    #expect([[4], [2, 5], [2, 5, 7], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], Array(1...40)].map { epochList($0) }
            == ["epoch 4", "epochs 2 and 5", "epochs 2, 5 and 7", "epochs 1, 2, 3, 4 and 5", "epochs 1, 2, 3, 4 and 2 more",
                "epochs 1, 2, 3, 4 and 36 more"])
    #expect(epochList(Array(1...7), showing: 7) == "epochs 1, 2, 3, 4, 5, 6 and 7")
    #expect(epochList(Array(1...8), showing: 7) == "epochs 1, 2, 3, 4, 5, 6 and 2 more")
}

/// The epoch of a GIF's caption and of vae-train's log line is padded with spaces to the width of
/// the planned count, so that it keeps its place from frame to frame and line to line. A
/// checkpoint's metadata may hold an epoch past its run's plan, which the caption shows as it is.
@Test func epochCaptionPadsTheEpochWithSpacesToThePlansWidth() {
    #expect(epochCaption(7, of: 30) == "epoch  7/30")
    #expect(epochCaption(30, of: 30) == "epoch 30/30")
    #expect(epochCaption(7, of: 1000) == "epoch    7/1000")
    #expect(epochCaption(12, of: 3) == "epoch 12/3")
}

/// Dynamic binarisation: training inputs are 0 or 1 with the pixel as probability, and the
/// test set is binarised once, the same way for every run.
@Test func dynamicBinarisation() throws {
    let images = syntheticImageSet(count: 50, seed: 12)
    let workspace = Workspace(layout: ParameterLayout(VAEConfig(hidden: [4], latentDim: 2)), capacity: 50)
    images.pixels.withUnsafeBufferPointer { workspace.loadImages($0.baseAddress!, first: 0, rows: 50) }
    let grey = (0..<50 * 784).reduce(0.0) { $0 + Double(workspace.input[$1]) }
    // The count of ones is a sum of Bernoulli draws: its variance is Σ p(1 - p), small here,
    // where most pixels are black or white (about 23 ones a standard deviation, against the 250
    // that √Σp would allow).
    let variance = (0..<50 * 784).reduce(0.0) { sum, i in sum + Double(workspace.input[i]) * (1 - Double(workspace.input[i])) }
    var random = Random(seed: 1)
    workspace.binarizeInput(rows: 50, random: &random)
    let values = UnsafeBufferPointer(start: workspace.input, count: 50 * 784)
    #expect(values.allSatisfy { $0 == 0 || $0 == 1 })
    let ones = values.reduce(0.0) { $0 + Double($1) }
    #expect(abs(ones - grey) < 4 * variance.squareRoot(), "\(ones) ones: the expected number is the sum of the pixels, \(grey)")

    var run = syntheticRun()
    run.binarization = .dynamic
    let a = images.evaluationImages(for: run), b = images.evaluationImages(for: run)
    expectIdentical(a.pixels, b.pixels, "two binarisations of the test set")
    #expect(a.pixels.allSatisfy { $0 == 0 || $0 == 255 })
    expectIdentical(images.evaluationImages(for: syntheticRun()).pixels, images.pixels, "the test set without binarisation")
    // Each pixel is 255 with probability pixel/255: black stays black, white stays white, and a
    // grey of 64 turns white about 64 times in 255 (100,352 pixels: ±0.0014 a standard deviation).
    let levels: [UInt8] = [0, 64, 255]
    let greys = ImageSet(pixels: (0..<3 * 128 * 784).map { levels[$0 % 3] }, labels: [UInt8](repeating: 0, count: 3 * 128))
    let binary = greys.binarized(seed: 9).pixels
    let whiteShare = { (levelIndex: Int) in
        Double(stride(from: levelIndex, to: binary.count, by: 3).filter { binary[$0] == 255 }.count) / Double(binary.count / 3)
    }
    #expect(whiteShare(0) == 0 && whiteShare(2) == 1, "black \(whiteShare(0)) and white \(whiteShare(2)) turned white")
    #expect(abs(whiteShare(1) - 64.0 / 255) < 0.005, "grey 64 turned white \(whiteShare(1)) of the time")

    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    try train(run, data: syntheticData(), directory: RunDirectory(folder), mode: .fresh)
    let checkpoint = try readCheckpoint(RunDirectory(folder).checkpoint(epoch: 2))
    #expect(checkpoint.run.binarization == .dynamic)
    // The test loss it records is of the binarised test images.
    let trainer = Trainer(run: run, data: syntheticData())
    for _ in 0..<2 { _ = try trainer.trainEpoch() }
    let binarizedTest = syntheticData().test.evaluationImages(for: run)
    #expect(binarizedTest.pixels.allSatisfy { $0 == 0 || $0 == 255 })
    #expect(checkpoint.metrics.test == trainer.evaluate(binarizedTest, epoch: 2))
    #expect(checkpoint.metrics.test != trainer.evaluate(syntheticData().test, epoch: 2), "the grey test images' loss")
}

@Test(arguments: [Likelihood.gaussian, .gaussianFixed])
func gaussianRunsTrainAndRoundTrip(likelihood: Likelihood) throws {
    var run = syntheticRun(epochs: 3)
    run.model = VAEConfig(hidden: [32], latentDim: 4, likelihood: likelihood, sigma: 0.2)
    run.learningRate = 3e-3
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    var losses: [Double] = []
    try train(run, data: syntheticData(), directory: RunDirectory(folder), mode: .fresh, epochFinished: { losses.append($0.test.total) })
    #expect(losses.last! < losses.first!, "test loss should fall: \(losses)")
    let checkpoint = try readCheckpoint(RunDirectory(folder).checkpoint(epoch: 3))
    #expect(checkpoint.run == run)
    #expect((checkpoint.model.tensor(named: "decoder.logvar.weight") != nil) == (likelihood == .gaussian))
}

/// The decoder's mean images, two rows of them: σ of the Bernoulli logits, or the Gaussian's
/// mean clamped to [0, 1], each row's read past the learned Gaussian's log-variances before it.
@Test(arguments: Likelihood.allCases)
func decoderMeansOfEveryLikelihood(likelihood: Likelihood) {
    let model = VAEModel(config: VAEConfig(hidden: [4], latentDim: 2, likelihood: likelihood, sigma: 0.5))
    let rows = 2, size = VAEConfig.inputSize, width = likelihood.outputsPerPixel * size
    var random = Random(seed: 5)
    let outputs = randomFloats(rows * width, random: &random)
    var images = [Float](repeating: -1, count: rows * size)
    model.decoderMeans(outputs, into: &images, rows: rows)
    var worst: Float = 0
    for r in 0..<rows {
        for i in 0..<size {
            let output = outputs[r * width + i]
            let expected = likelihood == .bernoulli ? 1 / (1 + exp(-output)) : min(max(output, 0), 1)
            worst = worse(worst, abs(images[r * size + i] - expected))
        }
    }
    #expect(worst < 1e-6)
}

/// A model stops the process (a precondition's trap, SIGILL on x86-64) rather than write past a
/// workspace cut for another model or one with fewer rows than asked for; the largest call that
/// fits passes.
@Test func aModelRefusesAWorkspaceOfAnotherModelOrTooFewRows() async {
    let model = VAEModel(config: VAEConfig(hidden: [4], latentDim: 2))
    _ = model.forward(Workspace(layout: model.layout, capacity: 8), rows: 8, computeGradients: true)
    model.backward(Workspace(layout: model.layout, capacity: 8), rows: 8)
    model.decode(Workspace(layout: model.layout, capacity: 2, sampleCapacity: 8), rows: 8)
    await #expect(processExitsWith: .signal(SIGILL)) {
        let model = VAEModel(config: VAEConfig(hidden: [4], latentDim: 2))
        _ = model.forward(Workspace(layout: ParameterLayout(VAEConfig(hidden: [5], latentDim: 2)), capacity: 8), rows: 8,
                          computeGradients: false)
    }
    await #expect(processExitsWith: .signal(SIGILL)) {
        let model = VAEModel(config: VAEConfig(hidden: [4], latentDim: 2))
        _ = model.forward(Workspace(layout: model.layout, capacity: 8), rows: 9, computeGradients: false)
    }
    await #expect(processExitsWith: .signal(SIGILL)) {
        let model = VAEModel(config: VAEConfig(hidden: [4], latentDim: 2))
        model.decode(Workspace(layout: model.layout, capacity: 8, sampleCapacity: 4), rows: 5)
    }
    await #expect(processExitsWith: .signal(SIGILL)) {
        let model = VAEModel(config: VAEConfig(hidden: [4], latentDim: 2, prior: .vamp, pseudoInputs: 3))
        _ = model.forwardImportanceWeighted(Workspace(layout: model.layout, capacity: 2, sampleCapacity: 9), rows: 2, samples: 5,
                                            computeGradients: false)
    }
    let classifier = Classifier()
    classifier.forward(ClassifierWorkspace(classifier, capacity: 3), rows: 3)
    await #expect(processExitsWith: .signal(SIGILL)) {
        let classifier = Classifier()
        classifier.forward(ClassifierWorkspace(classifier, capacity: 3), rows: 4)
    }
}
