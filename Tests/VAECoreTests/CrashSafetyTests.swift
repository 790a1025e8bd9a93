import Foundation
import Testing
import TestSupport
@testable import VAECore

// The trainer as a process that dies: SIGKILL at chosen points and Ctrl-C (through the fault
// injection library, Tests/Preload/fault-injection.c), and a file-size limit standing in for a full disk.

/// A folder with a small synthetic dataset under the KMNIST file names, made once per process.
private func syntheticDataFolder() -> String {
    let folder = temporaryFolder()
    for (split, set) in [("train", syntheticImageSet(count: 240, seed: 31)), ("t10k", syntheticImageSet(count: 60, seed: 32))] {
        writeSplit(set, split: split, in: folder)
    }
    return folder
}

/// 3 epochs of 6 batches of a small model, ending with a small importance-weighted estimate,
/// which a resumed run must reproduce too. N(0, I), whose products `sgemmCalls` counts (a
/// VampPrior run's resume is checked in PriorAndObjectiveRunTests).
private func trainArguments(data: String, runDir: String, epochs: Int = 3) -> [String] {
    ["--data", data, "--no-download", "--run-dir", runDir, "--epochs", String(epochs), "--hidden", "32",
     "--latent-dim", "4", "--batch-size", "40", "--threads", "1", "--seed", "5", "--prior", "normal"] + resumeArguments
}

/// A resume as vae-train prints it, with no data folder named: an empty $KMNIST_DIR is unset.
private let withoutDataFolder = ["KMNIST_DIR": ""]

/// What a resume repeats: the final estimate's k is a flag, not part of the run.
private let resumeArguments = ["--iwae-k", "20"]

private func leftoverTemporaryFiles(_ folder: String) -> [String] {
    [folder, folder + "/checkpoints"].flatMap { dir in
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(temporaryFileSuffix) }
    }
}

private let data = syntheticDataFolder()

/// A trainer that failed where the tests need its run.
private struct TrainingFailed: Error, CustomStringConvertible {
    let description: String
}

/// An uninterrupted run's files, made once per process; a failure (or a trainer past its time
/// limit) fails every test that needs them, with its message.
private let reference = Result { () throws -> [String: [UInt8]] in
    let folder = temporaryFolder("reference")
    defer { removeTemporaryFolder(folder) }
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder + "/run"))
    guard result.status == 0 else { throw TrainingFailed(description: "the reference run failed: \(result.stderr)") }
    return try runFiles(folder + "/run")
}

/// Resumes the run in `folder` as vae-train's message says to, and expects it to end with the
/// uninterrupted run's files.
private func expectResumedToTheReference(_ folder: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let resumed = try runTool("vae-train", ["--resume", folder] + resumeArguments, environment: withoutDataFolder)
    #expect(resumed.status == 0, "\(resumed.stderr)", sourceLocation: sourceLocation)
    expectIdentical(try runFiles(folder), try reference.get(), what, sourceLocation: sourceLocation)
}

/// The small model of `trainArguments` makes this many sgemm calls in a training step of 40
/// images and in evaluating its 60 test images, one batch.
private let smallModel = VAEConfig(hidden: [32], latentDim: 4)
private let sgemmCallsPerStep = sgemmCalls(smallModel, rows: 40, backward: true)
private let sgemmCallsPerEvaluation = sgemmCalls(smallModel, rows: 60, backward: false), batchesPerEpoch = 6

/// The sgemm call that starts training batch `batch` (counting from 1 over the whole run).
private func firstSgemmCall(ofBatch batch: Int) -> Int {
    let epochsDone = (batch - 1) / batchesPerEpoch
    return (batch - 1) * sgemmCallsPerStep + epochsDone * sgemmCallsPerEvaluation + 1
}

/// The files the trainer writes, in order: the record of its data folder and the epoch-0 state,
/// then per epoch its checkpoint, metrics.jsonl and the state, each written whole to a temporary
/// file beside it.
private func temporaryFile(ofWrite n: Int, in folder: String) -> String {
    guard n > 0 else { return folder + "/.data-folder" + temporaryFileSuffix }
    let names = ["/.state.safetensors", "/checkpoints/.epoch-000\((n + 1) / 3).safetensors", "/.metrics.jsonl"]
    return folder + names[(n - 1) % 3] + temporaryFileSuffix
}

/// The size of the n-th write of an uninterrupted run (metrics.jsonl holds timings, so its
/// size moves by a few bytes from run to run; `referenceMetricsSize` is one run's).
private func referenceWriteSize(_ n: Int) throws -> Int {
    guard n > 0 else { return URL(fileURLWithPath: data).standardizedFileURL.path.utf8.count + 1 }
    switch (n - 1) % 3 {
    case 0: return try reference.get()["state"]!.count
    case 1: return try reference.get()["epoch \((n + 1) / 3)"]!.count
    default: return try referenceMetricsSize.get()[n / 3 - 1]
    }
}

/// Where a kill `fraction` into write n lands: after this many bytes of it.
private func bytesBeforeTheKill(ofWrite n: Int, _ fraction: Double) throws -> Int {
    Int(Double(try referenceWriteSize(n)) * fraction)
}

private let referenceMetricsSize = Result { () throws -> [Int] in
    let folder = temporaryFolder("metrics")
    defer { removeTemporaryFolder(folder) }
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder + "/run"))
    guard result.status == 0 else { throw TrainingFailed(description: "the run for the metrics' size failed: \(result.stderr)") }
    let lines = try String(contentsOfFile: RunDirectory(folder + "/run").metricsPath, encoding: .utf8).split(separator: "\n")
    return (1...lines.count).map { n in lines[..<n].reduce(0) { $0 + $1.utf8.count + 1 } }
}

enum CrashPoint: CustomStringConvertible, Sendable {
    /// Just before the first product of training batch n (counting over the run, 6 an epoch).
    case beforeBatch(Int)
    /// A fraction into the n-th file write of the run (0: the data folder's record, 1: the
    /// epoch-0 state, then per epoch: checkpoint, metrics, state).
    case insideWrite(Int, Double)

    var description: String {
        switch self {
        case .beforeBatch(let n): return "before batch \(n)"
        case .insideWrite(let n, let f): return "\(f * 100)% into write \(n)"
        }
    }
}

/// Killing the trainer at any of these points and resuming (as often as needed) ends with
/// checkpoints and state byte-identical to an uninterrupted run, and no temporary file left.
/// Each kill is checked to have landed where it was aimed: in its batch's epoch, or with
/// exactly the aimed number of bytes in the temporary file of its write.
@Test(arguments: [
    CrashPoint.beforeBatch(4), .beforeBatch(7), .beforeBatch(12),
    .insideWrite(0, 0.5), .insideWrite(1, 0.5), .insideWrite(2, 0.01), .insideWrite(2, 0.5), .insideWrite(2, 0.999),
    .insideWrite(3, 0.5), .insideWrite(4, 0.5), .insideWrite(5, 0.5), .insideWrite(6, 0.9), .insideWrite(7, 0.9),
])
func killedRunsResumeToIdenticalCheckpoints(at point: CrashPoint) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let environment: [String: String]
    switch point {
    case .beforeBatch(let n):
        environment = ["VAE_CRASH_AT_SGEMM": String(firstSgemmCall(ofBatch: n))]
    case .insideWrite(let n, let fraction):
        environment = ["VAE_CRASH_IN_FILE": "\(n):\(try bytesBeforeTheKill(ofWrite: n, fraction))"]
    }
    let killed = try runTool("vae-train", trainArguments(data: data, runDir: folder),
                             environment: environment.merging(["LD_PRELOAD": try preloadLibrary("fault-injection")]) { $1 })
    #expect(killed.status == SIGKILL, "the fault injection should have killed the run: \(killed.stderr)")

    let directory = RunDirectory(folder)
    switch point {
    case .beforeBatch(let n):
        // Killed inside an epoch: every earlier epoch complete, and the state at the last of them.
        let epochsDone = (n - 1) / batchesPerEpoch
        #expect(directory.checkpointEpochs() == Array(0..<epochsDone).map { $0 + 1 }, "killed \(point)")
        #expect(try readTrainingState(directory.statePath).epoch == epochsDone, "killed \(point)")
    case .insideWrite(let n, let fraction):
        let partial = temporaryFile(ofWrite: n, in: folder)
        let size = (try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? nil
        #expect(try size == bytesBeforeTheKill(ofWrite: n, fraction), "\(partial) after a kill \(point)")
    }

    var resumed: ProcessOutput?
    for _ in 0..<3 where resumed?.status != 0 {
        // Killed before the first state was complete, a run can only start again; the trainer says so.
        let started = FileManager.default.fileExists(atPath: directory.statePath)
        resumed = try runTool("vae-train", started
            ? ["--resume", folder, "--data", data, "--no-download", "--epochs", "3", "--threads", "1"] + resumeArguments
            : trainArguments(data: data, runDir: folder))
    }
    #expect(resumed?.status == 0, "\(resumed?.stderr ?? "")")
    expectIdentical(try runFiles(folder), try reference.get(), "resumed after a crash \(point)")
    #expect(leftoverTemporaryFiles(folder).isEmpty)
}

/// The lines `VAE_TRACE_RENAMES` writes ("rename PATH", "fsync-folder PATH") while `epochs`
/// epochs are trained into `folder`.
private func traceOfTraining(into folder: String, epochs: Int, trace: String) throws -> [Substring] {
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: epochs), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_TRACE_RENAMES": trace,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    return try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
}

/// A rename lasts through a power cut only once its folder is synced: every file the trainer
/// puts in place (checkpoints, metrics.jsonl, the state) has its folder fsynced after its rename,
/// and each folder it makes (the run's, its checkpoints') has its parent fsynced before a file
/// is renamed into it.
@Test func everyRenamedFileHasItsFolderSyncedAfterwards() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let events = try traceOfTraining(into: folder, epochs: 2, trace: scratch + "/trace.txt").map { line in
        let space = line.firstIndex(of: " ")!
        let path = URL(fileURLWithPath: String(line[line.index(after: space)...])).resolvingSymlinksInPath().path
        return (kind: String(line[..<space]), path: path)
    }
    let renamed = events.filter { $0.kind == "rename" }.map(\.path)
    let run = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
    for name in ["/checkpoints/epoch-0001.safetensors", "/checkpoints/epoch-0002.safetensors", "/metrics.jsonl", "/state.safetensors"] {
        #expect(renamed.contains(run + name), "\(name) was not renamed into place: \(renamed)")
    }
    for (index, event) in events.enumerated() where event.kind == "rename" {
        let parent = URL(fileURLWithPath: event.path).deletingLastPathComponent().path
        #expect(events[(index + 1)...].contains { $0.kind == "fsync-folder" && $0.path == parent },
                "\(event.path): its folder was not fsynced after the rename")
    }
    for made in [run, run + "/checkpoints"] {
        let parent = URL(fileURLWithPath: made).deletingLastPathComponent().path
        let firstRename = try #require(events.firstIndex { $0.kind == "rename" && $0.path.hasPrefix(made + "/") })
        #expect(events[..<firstRename].contains { $0.kind == "fsync-folder" && $0.path == parent },
                "\(made): its parent was not fsynced once it was made")
    }
}

/// Ctrl-C (here raised in the middle of epoch 2) stops between batches with exit 130, says how
/// to resume, keeps the finished checkpoint valid, and the resumed run matches an
/// uninterrupted one.
@Test func ctrlCStopsCleanlyAndResumes() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let interrupted = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_INTERRUPT_AT_SGEMM": String(firstSgemmCall(ofBatch: batchesPerEpoch + 3)),
    ])
    #expect(interrupted.status == 130, "\(interrupted.stderr)")
    #expect(interrupted.stderr.contains("interrupted during epoch 2"), "\(interrupted.stderr)")
    #expect(interrupted.stderr.contains("checkpoints up to epoch 1 are complete"), "\(interrupted.stderr)")
    // The run does not keep --iwae-k, so the advice repeats it.
    #expect(interrupted.stderr.hasSuffix("Continue with: vae-train --resume \(folder) --iwae-k 20\n"), "\(interrupted.stderr)")
    let directory = RunDirectory(folder)
    #expect(directory.checkpointEpochs() == [1])
    #expect(try readCheckpoint(directory.checkpoint(epoch: 1)).epoch == 1)
    #expect(try readTrainingState(directory.statePath).epoch == 1)

    // Exactly as the message says: without --epochs the run keeps its own 3, and without --data
    // (or $KMNIST_DIR, which scripts/mutants sets) it reads the folder it was trained on.
    let resumed = try runTool("vae-train", ["--resume", folder] + resumeArguments, environment: withoutDataFolder)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(resumed.stdout.hasPrefix("vae-train: mlp 784-32-4 relu") && resumed.stdout.contains(
        ", 3 epochs, 240 train / 60 test images, ") && resumed.stdout.contains(" resuming \(folder) at epoch 2\nepoch 2/3 "),
            "\(resumed.stdout)")
    expectIdentical(try runFiles(folder), try reference.get(), "resumed after Ctrl-C")

    // A finished run resumed again has nothing to do; fewer epochs than it has done is refused.
    let again = try runTool("vae-train", ["--resume", folder, "--no-download"], environment: withoutDataFolder)
    #expect(again.status == 0, "\(again.stderr)")
    #expect(again.stdout == "vae-train: \(folder) has completed all 3 epochs; nothing to do (--epochs N with N above 3 trains it further)\n")
    // An estimate asked of a finished run is pointed to vae-eval, not dropped without a word.
    let estimate = try runTool("vae-train", ["--resume", folder, "--no-download"] + resumeArguments, environment: withoutDataFolder)
    #expect(estimate.status == 0, "\(estimate.stderr)")
    #expect(estimate.stdout == "vae-train: \(folder) has completed all 3 epochs; nothing to do (--epochs N with N above 3 trains it "
            + "further; vae-eval --k 20 \(folder)/checkpoints/epoch-0003.safetensors estimates -log p(x))\n")
    let fewer = try runTool("vae-train", ["--resume", folder, "--no-download", "--epochs", "2"], environment: withoutDataFolder)
    #expect(fewer.status == 64)
    #expect(fewer.stderr == "vae-train: --epochs 2: \(folder) has already completed 3 epochs\n")
    expectIdentical(try runFiles(folder), try reference.get(), "after resuming a finished run")
}

/// A Ctrl-C while a checkpoint is being written waits for the write, and then reaches vae-train's
/// own handler (restored after the write): the run stops cleanly in the next epoch, or, after the
/// last, finishes.
@Test func aCtrlCDuringACheckpointsWriteStopsTheRunAfterIt() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let renames = try traceOfTraining(into: scratch + "/traced", epochs: 1, trace: scratch + "/trace.txt").filter { $0.hasPrefix("rename ") }
    let checkpointRename = try #require(renames.firstIndex { $0.hasSuffix("/epoch-0001.safetensors") }) + 1

    let folder = scratch + "/run"
    let interrupted = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_INTERRUPT_AT_RENAME": String(checkpointRename),
    ])
    #expect(interrupted.status == 130, "\(interrupted.stderr)")
    #expect(interrupted.stderr.hasPrefix("vae-train: interrupted during epoch 2; checkpoints up to epoch 1 are complete."),
            "\(interrupted.stderr)")
    let directory = RunDirectory(folder)
    #expect(directory.checkpointEpochs() == [1] && leftoverTemporaryFiles(folder).isEmpty)
    #expect(try readCheckpoint(directory.checkpoint(epoch: 1)).epoch == 1 && readTrainingState(directory.statePath).epoch == 1)

    // In the last epoch's write there is nothing left to stop: the run ends as a finished one.
    let last = scratch + "/last"
    let finished = try runTool("vae-train", trainArguments(data: data, runDir: last, epochs: 1), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_INTERRUPT_AT_RENAME": String(checkpointRename),
    ])
    #expect(finished.status == 0 && finished.stderr.isEmpty, "\(finished.stderr)")
    #expect(finished.stdout.hasSuffix("vae-train: done; render the animations with: vae-render --all --run-dir \(last)\n"))
    #expect(try RunDirectory(last).checkpointEpochs() == [1] && readTrainingState(RunDirectory(last).statePath).epoch == 1)
}

/// Stop signals that come while a checkpoint is written are each sent again once it is in place,
/// as often as they came: Ctrl-C twice stops at once after the write (the run left at its epoch-0
/// state, resumable), and Ctrl-C then SIGTERM stops between batches with SIGTERM's code, 143.
@Test(arguments: [false, true])
func stopSignalsDuringAWriteAreEachSentAgain(terminate: Bool) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let renames = try traceOfTraining(into: scratch + "/traced", epochs: 1, trace: scratch + "/trace.txt").filter { $0.hasPrefix("rename ") }
    let checkpointRename = try #require(renames.firstIndex { $0.hasSuffix("/epoch-0001.safetensors") }) + 1
    let folder = scratch + "/run", directory = RunDirectory(folder)
    // Ctrl-C twice at the checkpoint's rename, or Ctrl-C and then SIGTERM.
    var environment = ["LD_PRELOAD": try preloadLibrary("fault-injection"),
                       "VAE_INTERRUPT_AT_RENAME": terminate ? "\(checkpointRename)" : "\(checkpointRename),\(checkpointRename)"]
    if terminate { environment["VAE_TERMINATE_AT_RENAME"] = String(checkpointRename) }
    let stopped = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: environment)
    #expect(directory.checkpointEpochs() == [1] && leftoverTemporaryFiles(folder).isEmpty)
    if terminate {
        #expect(stopped.status == 143, "\(stopped.stderr)")
        #expect(stopped.stderr.hasPrefix("vae-train: interrupted during epoch 2 (SIGTERM); checkpoints up to epoch 1 are complete"),
                "\(stopped.stderr)")
    } else {
        #expect(stopped.status == SIGINT, "\(stopped.stderr)")
        #expect(try readTrainingState(directory.statePath).epoch == 0)
    }
    try expectResumedToTheReference(folder, "resumed after stop signals in a write")
}

/// A trainer started with Ctrl-C ignored (as a script's background job is) keeps ignoring it:
/// here a SIGINT in the middle of epoch 2 changes nothing, and the run ends as an uninterrupted one.
@Test func anIgnoredCtrlCStaysIgnored() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let command = "trap '' INT; exec " + ([try toolPath("vae-train")] + trainArguments(data: data, runDir: folder)).map { "'\($0)'" }
        .joined(separator: " ")
    let trainer = try ChildProcess("/bin/bash", ["-c", command], environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_INTERRUPT_AT_SGEMM": String(firstSgemmCall(ofBatch: batchesPerEpoch + 3)),
    ])
    defer { trainer.stop() }
    let result = try trainer.finish()
    #expect(result.status == 0, "\(result.stderr)")
    expectIdentical(try runFiles(folder), try reference.get(), "a run that ignored Ctrl-C")
}

/// Ctrl-C in the first epoch of an --overwrite leaves the old run as it was, and nothing beside
/// it, and says so; so do a divergence there and a final estimate that is not finite. Over a
/// folder that holds no run, --overwrite starts as a fresh run would, with an epoch-0 state to
/// resume from.
@Test func ctrlCInAnOverwritesFirstEpochKeepsTheOldRun() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let old = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 1))
    #expect(old.status == 0, "\(old.stderr)")
    let before = try runFiles(folder), metrics = try readFile(RunDirectory(folder).metricsPath)
    let interrupted = try runTool("vae-train", trainArguments(data: data, runDir: folder) + ["--overwrite", "--seed", "6"], environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_INTERRUPT_AT_SGEMM": String(firstSgemmCall(ofBatch: 3)),
    ])
    #expect(interrupted.status == 130, "\(interrupted.stderr)")
    let kept = "\(folder) still holds the run --overwrite was to replace, as it was\n"
    #expect(interrupted.stderr == "vae-train: interrupted during epoch 1; " + kept)
    expectIdentical(try runFiles(folder), before, "the old run")
    #expect(try readFile(RunDirectory(folder).metricsPath) == metrics)
    #expect(leftoverTemporaryFiles(folder).isEmpty && PathKind(RunDirectory(folder).replacementStatePath) == .nothing)

    let diverged = try runTool("vae-train", trainArguments(data: data, runDir: folder) + ["--overwrite", "--lr", "1e6"])
    #expect(diverged.status == 70 && diverged.stderr.hasSuffix("(start again with --overwrite and a lower --lr); " + kept), "\(diverged.stderr)")
    expectIdentical(try runFiles(folder), before, "the old run after a divergence")

    // Its only epoch is the last: the final estimate, made non-finite as in
    // aNonFiniteFinalEstimateStopsBeforeTheLastCheckpoint, comes before anything of the new run is written.
    let badEstimate = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 1) + ["--overwrite", "--seed", "6"], environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_NAN_AT_SGEMM": String(firstSgemmCall(ofBatch: batchesPerEpoch + 1) + sgemmCalls(smallModel, rows: 1, backward: false, layers: 1)),
    ])
    #expect(badEstimate.status == 70 && badEstimate.stderr.hasSuffix("the epoch's checkpoint was not written (the same command "
                                                                      + "without --iwae-k trains the run without the estimate); " + kept),
            "\(badEstimate.stderr)")
    expectIdentical(try runFiles(folder), before, "the old run after a non-finite estimate")

    let empty = scratch + "/empty"
    let fresh = try runTool("vae-train", trainArguments(data: data, runDir: empty) + ["--overwrite"], environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_INTERRUPT_AT_SGEMM": String(firstSgemmCall(ofBatch: 3)),
    ])
    #expect(fresh.status == 130)
    #expect(fresh.stderr.hasPrefix("vae-train: interrupted during epoch 1; no epoch was completed. Continue with: "), "\(fresh.stderr)")
    #expect(try readTrainingState(RunDirectory(empty).statePath).epoch == 0)
}

/// A crash between --overwrite's rename of the new state over the old and its removal of the old
/// run's files leaves the old checkpoints beside the new epoch-0 state: of the same configuration
/// but the seed, they would pass for the new run's; of another, they would stop its resume. The
/// resume removes every checkpoint past its epoch, even when it is stopped in its first epoch,
/// and ends with the straight run's files. The old run's divergence record is gone already.
@Test(arguments: [["--seed", "6"], ["--hidden", "16"]])
func aResumeAfterAnOverwriteCrashedMidwayKeepsNoneOfTheOldCheckpoints(oldRun: [String]) throws {
    let folder = temporaryFolder() + "/run"
    defer { removeTemporaryFolder(folder) }
    let old = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 4) + oldRun)
    #expect(old.status == 0, "\(old.stderr)")
    // Had the old run diverged, its record goes before the rename: the new run is not refused as diverged.
    try RunDirectory(folder).recordDivergence("training diverged in epoch 5: the loss is NaN")
    // Renames: the replacement state into place beside the old one, then over it.
    let faults = ["LD_PRELOAD": try preloadLibrary("fault-injection")]
    let crashed = try runTool("vae-train", trainArguments(data: data, runDir: folder) + ["--overwrite"],
                              environment: faults.merging(["VAE_CRASH_AFTER_RENAME": "2"]) { $1 })
    #expect(crashed.status == SIGKILL, "\(crashed.stderr)")
    let directory = RunDirectory(folder)
    #expect(try readTrainingState(directory.statePath).epoch == 0 && directory.checkpointEpochs() == [1, 2, 3, 4],
            "the crash did not land between the rename and the removals")

    let interrupted = try runTool("vae-train", ["--resume", folder] + resumeArguments,
                                  environment: faults.merging(withoutDataFolder) { $1 }
                                      .merging(["VAE_INTERRUPT_AT_SGEMM": String(firstSgemmCall(ofBatch: 3))]) { $1 })
    #expect(interrupted.status == 130, "\(interrupted.stderr)")
    #expect(interrupted.stderr.hasPrefix("vae-train: warning: removed the checkpoints of epochs 1, 2, 3 and 4, past the state's "
                                         + "epoch 0 (left by a run stopped before writing its state, or while --overwrite replaced an "
                                         + "older run)\nvae-train: interrupted during epoch 1; "), "\(interrupted.stderr)")
    #expect(directory.checkpointEpochs().isEmpty)
    try expectResumedToTheReference(folder, "resumed after a crash within --overwrite")
}

/// A run folder whose fsync fails (EIO) right after --overwrite renamed the new epoch-0 state over
/// the old one, before the old run's checkpoints are removed, stops the trainer with exit 73
/// saying what the folder holds and what to do; doing it ends with none of the old checkpoints.
@Test func aFolderFsyncFailingWithinOverwritesReplacementSaysWhatTheFolderHolds() throws {
    let folder = temporaryFolder() + "/run"
    defer { removeTemporaryFolder(folder) }
    let old = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 4) + ["--seed", "6"])
    #expect(old.status == 0, "\(old.stderr)")
    // The run folder's fsyncs: after the replacement state's rename beside the old, then over it.
    let stopped = try runTool("vae-train", trainArguments(data: data, runDir: folder) + ["--overwrite"], environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_FAIL_FSYNC": "/run", "VAE_FAIL_FSYNC_AT": "2",
    ])
    let directory = RunDirectory(folder)
    #expect(stopped.status == 73, "\(stopped.stderr)")
    #expect(stopped.stderr == "vae-train: cannot fsync the folder \(folder) after renaming \(directory.replacementStatePath) to "
            + "\(directory.statePath): Input/output error; \(folder) holds the new run's epoch-0 state beside the old run's "
            + "checkpoints: start it again with --overwrite\n")
    #expect(try readTrainingState(directory.statePath).epoch == 0 && directory.checkpointEpochs() == [1, 2, 3, 4])
    let again = try runTool("vae-train", trainArguments(data: data, runDir: folder) + ["--overwrite"])
    #expect(again.status == 0, "\(again.stderr)")
    expectIdentical(try runFiles(folder), try reference.get(), "started again after a failed fsync within --overwrite")
}

/// A second Ctrl-C (here one sgemm call after the first, within the same batch) stops at once,
/// as SIGINT's default action, with no message; the finished checkpoint stays and the run resumes
/// to the uninterrupted one's files.
@Test func aSecondCtrlCStopsAtOnce() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let first = firstSgemmCall(ofBatch: batchesPerEpoch + 3)
    let interrupted = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_INTERRUPT_AT_SGEMM": "\(first),\(first + 1)",
    ])
    #expect(interrupted.status == SIGINT, "\(interrupted.stderr)")
    #expect(!interrupted.stderr.contains("Continue with"), "\(interrupted.stderr)")
    #expect(RunDirectory(folder).checkpointEpochs() == [1])
    try expectResumedToTheReference(folder, "resumed after a second Ctrl-C")
}

/// A Ctrl-C that comes while a file write reads the handler it will put back (before it defers
/// stop signals) is still a first one: the second stops at once, though the write restored the
/// handler the first had replaced by the default. Both come at the reads of epoch 1's writes.
@Test func aSecondCtrlCStopsAtOnceAfterAFileWriteRestoredTheHandler() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let interrupted = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        // The first read is vae-train's own, whether Ctrl-C is ignored; two writes precede epoch 1's.
        "VAE_INTERRUPT_AT_QUERY": "4,5",
    ])
    #expect(interrupted.status == SIGINT, "\(interrupted.stderr)")
    #expect(RunDirectory(folder).checkpointEpochs() == [1])
    try expectResumedToTheReference(folder, "resumed after a second Ctrl-C")
}

/// Ctrl-C during the final importance-weighted estimate (minutes with the default k) stops
/// within an image, leaves the last epoch to be trained again, and the resumed run matches.
@Test func ctrlCDuringTheFinalEstimateStops() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    // The calls of the final estimate follow the last epoch's evaluation; ten calls into it.
    let interrupted = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_INTERRUPT_AT_SGEMM": String(firstSgemmCall(ofBatch: 3 * batchesPerEpoch + 1) + 10),
    ])
    #expect(interrupted.status == 130, "\(interrupted.stderr)")
    #expect(interrupted.stderr.contains("interrupted while estimating -log p(x) after epoch 3; checkpoints up to epoch 2 are complete "
                                        + "(the last epoch's checkpoint waits for the estimate: a resume trains that epoch again, to the "
                                        + "same weights). Continue with"),
            "\(interrupted.stderr)")
    #expect(interrupted.stderr.hasSuffix("Continue with: vae-train --resume \(folder) --iwae-k 20\n"), "\(interrupted.stderr)")
    #expect(RunDirectory(folder).checkpointEpochs() == [1, 2])
    try expectResumedToTheReference(folder, "resumed after Ctrl-C in the final estimate")
}

/// A temporary file left by a crash is removed when the run starts again, also one of a name the
/// run will not write (those it writes would be reused by the write anyway).
@Test func leftoverTemporaryFilesAreCleanedUp() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    try FileManager.default.createDirectory(atPath: folder + "/checkpoints", withIntermediateDirectories: true)
    write([1, 2, 3], to: folder + "/checkpoints/.epoch-0001.safetensors" + temporaryFileSuffix)
    write([1, 2, 3], to: folder + "/checkpoints/.epoch-0009.safetensors" + temporaryFileSuffix)
    write([1, 2, 3], to: folder + "/.state.safetensors" + temporaryFileSuffix)
    write([1, 2, 3], to: folder + "/.other.safetensors" + temporaryFileSuffix)
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 1))
    #expect(result.status == 0, "\(result.stderr)")
    #expect(leftoverTemporaryFiles(folder).isEmpty)
}

/// The folders the tools make are 0755 and the files they write 0644, less the umask, so that
/// others may read a run and its GIFs.
@Test func madeFoldersAndWrittenFilesAreReadableByAll() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("Umask:") })
    let mask = try #require(mode_t(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8))
    _ = try createFolders(scratch + "/a/b", what: "a folder")
    try writeFileAtomically([1, 2], to: scratch + "/a/b/file")
    for (path, mode) in [(scratch + "/a", 0o755), (scratch + "/a/b", 0o755), (scratch + "/a/b/file", 0o644)] {
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == mode_t(mode) & ~mask,
                "\(path): \(String(info.st_mode & 0o777, radix: 8)), umask \(String(mask, radix: 8))")
    }
}

/// An atomic write over a longer leftover temporary file writes just the new bytes.
@Test func anAtomicWriteReplacesALongerLeftover() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let path = scratch + "/file"
    let leftover = (path as NSString).deletingLastPathComponent + "/.file" + temporaryFileSuffix
    write([UInt8](repeating: 9, count: 100), to: leftover)
    try writeFileAtomically([1, 2, 3], to: path)
    #expect(try readFile(path) == [1, 2, 3])
    #expect(!FileManager.default.fileExists(atPath: leftover))
}

/// A replaced file keeps its permissions, alone or in a set; a new one gets 0644 less the umask.
@Test func anAtomicWriteKeepsTheReplacedFilesPermissions() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    func permissions(_ name: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: scratch + "/" + name)[.posixPermissions] as! Int
    }
    for (name, mode) in [("private", 0o600), ("shared", 0o664), ("read-only", 0o444)] {
        write([7], to: scratch + "/" + name)
        #expect(chmod(scratch + "/" + name, mode_t(mode)) == 0)
    }
    try writeFileAtomically([1, 2], to: scratch + "/private")
    try writeFilesAtomically([(bytes: [3], path: scratch + "/shared"), (bytes: [4], path: scratch + "/read-only"),
                              (bytes: [5], path: scratch + "/new")])
    // Read, not set: umask(2) changes it for every thread of the test process.
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let mask = try #require(status.firstMatch(of: /Umask:\s+([0-7]+)/).flatMap { Int($0.1, radix: 8) })
    #expect(try [permissions("private"), permissions("shared"), permissions("read-only"), permissions("new")]
            == [0o600, 0o664, 0o444, 0o644 & ~mask])
    #expect(try readFile(scratch + "/private") == [1, 2] && readFile(scratch + "/read-only") == [4])
}

/// A link left where the temporary file goes (by accident or by someone else) would take the bytes
/// to its target, a file no check looked at, and a FIFO would block the write: both are refused,
/// before any work and by the write itself, and left as they are.
@Test func aLinkOrAFIFONamedAsTheTemporaryFileIsRefused() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    write([7], to: scratch + "/notes")
    let link = scratch + "/.out" + temporaryFileSuffix, fifo = scratch + "/.fifo-out" + temporaryFileSuffix
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "notes")
    #expect(mkfifo(fifo, 0o644) == 0)
    for (path, message) in [(scratch + "/out", "\(link), the name of its temporary file, is a symbolic link; remove it"),
                            (scratch + "/fifo-out", "\(fifo), the name of its temporary file, is not a regular file; remove it")] {
        #expect(throws: VAEError(.cannotWrite, "cannot write \(path): " + message)) { try checkFileCanBeWritten(path) }
        #expect(throws: VAEError(.cannotWrite, "cannot write \(path): " + message)) { try writeFileAtomically([1, 2, 3], to: path) }
    }
    #expect(try readFile(scratch + "/notes") == [7])
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "notes")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).sorted() == [".fifo-out.partial", ".out.partial", "notes"])
}

/// A write through a symbolic link replaces the file it points to and leaves the link; a FIFO,
/// a device, a stream of the process (/dev/stdout) or a link to nothing, which a renamed file
/// would replace rather than write, is refused before anything is created, and a path elsewhere
/// in /proc is told as what it is.
@Test func anAtomicWriteFollowsALinkAndRefusesWhatIsNoFile() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    try FileManager.default.createDirectory(atPath: scratch + "/real", withIntermediateDirectories: false)
    write([7], to: scratch + "/real/file")
    try FileManager.default.createSymbolicLink(atPath: scratch + "/link", withDestinationPath: "real/file")
    try writeFileAtomically([1, 2, 3], to: scratch + "/link")
    #expect(try readFile(scratch + "/real/file") == [1, 2, 3])
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: scratch + "/link") == "real/file")
    #expect(leftoverTemporaryFiles(scratch).isEmpty && leftoverTemporaryFiles(scratch + "/real").isEmpty)

    #expect(mkfifo(scratch + "/fifo", 0o644) == 0)
    try FileManager.default.createSymbolicLink(atPath: scratch + "/to-null", withDestinationPath: "/dev/null")
    try FileManager.default.createSymbolicLink(atPath: scratch + "/dangling", withDestinationPath: scratch + "/nothing")
    try FileManager.default.createSymbolicLink(atPath: scratch + "/to-stdout", withDestinationPath: "/dev/stdout")
    // A folder that leads to the streams: its files are this process's descriptors.
    try FileManager.default.createSymbolicLink(atPath: scratch + "/streams", withDestinationPath: "/proc/self/fd")
    let rest = "; files are written whole (a temporary file renamed into place), so name a regular file"
    for (name, message) in [("fifo", "it is a FIFO" + rest), ("to-null", "/dev/null is a device" + rest),
                            ("to-stdout", "it is /proc/self/fd/1, one of this process's streams" + rest),
                            ("streams/1", "it is /proc/\(getpid())/fd/1, one of this process's streams" + rest),
                            ("dangling", "it is a symbolic link to \(scratch)/nothing, which does not exist")] {
        let path = scratch + "/" + name
        #expect(throws: VAEError(.cannotWrite, "cannot write \(path): " + message)) { try checkFileCanBeWritten(path) }
        #expect(throws: VAEError(.cannotWrite, "cannot write \(path): " + message)) { try writeFileAtomically([1], to: path) }
    }
    #expect(throws: VAEError(.cannotWrite, "cannot write /dev/fd/2: it is /dev/fd/2, one of this process's streams" + rest)) {
        try checkFileCanBeWritten("/dev/fd/2")
    }
    let thread = try #require(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").first)
    #expect(throws: VAEError(.cannotWrite, "cannot write /proc/self/task/\(thread)/fd/2: it is /proc/self/task/\(thread)/fd/2, "
                             + "one of this process's streams" + rest)) {
        try checkFileCanBeWritten("/proc/self/task/\(thread)/fd/2")
    }
    // The rest of /proc holds no stream: a folder there that does not exist is told as such.
    for (path, folder) in [("/proc/nothing/x", "/proc/nothing"), ("/proc/nothing/fd/1", "/proc/nothing/fd")] {
        #expect(throws: VAEError(.cannotWrite, "cannot write \(path): the folder \(folder) does not exist")) {
            try checkFileCanBeWritten(path)
        }
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).sorted() == ["dangling", "fifo", "link", "real", "streams",
                                                                                     "to-null", "to-stdout"])
    #expect(try FileManager.default.attributesOfItem(atPath: "/dev/null")[.type] as? FileAttributeType == .typeCharacterSpecial)
}

/// A path names a folder or a file through links, and nothing when missing or dangling.
@Test func aPathsKindFollowsLinks() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    write([7], to: scratch + "/file")
    for (name, target) in [("to-folder", scratch), ("to-file", scratch + "/file"), ("dangling", scratch + "/nothing")] {
        try FileManager.default.createSymbolicLink(atPath: scratch + "/" + name, withDestinationPath: target)
    }
    let kinds = ["", "/file", "/to-folder", "/to-file", "/dangling", "/nothing", "/file/below"].map { PathKind(scratch + $0) }
    #expect(kinds == [.folder, .file, .folder, .file, .nothing, .nothing, .nothing])
}

/// A write that fails (here: past a file-size limit, as on a full disk) is one clear error;
/// the earlier checkpoints stay intact and no temporary file is left.
@Test func aFailedWriteKeepsEveryEarlierCheckpoint() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    #expect(try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 2)).status == 0)
    let before = try runFiles(folder)
    // ulimit -f counts 1024-byte blocks; leave room for small files but not for a checkpoint.
    let blocks = before["epoch 1"]!.count / 1024 / 2
    let result = try runToolWithFileSizeLimit("vae-train", ["--resume", folder, "--data", data, "--no-download", "--epochs", "3",
                                                            "--threads", "1", "--iwae-k", "20"], blocks: blocks)
    let message = result.stderr
    #expect(result.status == 73, "\(message)")
    #expect(message.hasPrefix("vae-train: cannot write \(folder)/checkpoints/epoch-0003.safetensors: File too large"), "\(message)")
    #expect(message.filter { $0 == "\n" }.count == 1)
    expectIdentical(try runFiles(folder), before, "after the failed write")
    #expect(leftoverTemporaryFiles(folder).isEmpty)
}

@Test func anUnwritableRunFolderIsRefused() throws {
    let parent = temporaryFolder()
    defer { removeTemporaryFolder(parent) }
    write([0], to: parent + "/file")
    let result = try runTool("vae-train", trainArguments(data: data, runDir: parent + "/file/run", epochs: 1))
    #expect(result.status == 73)
    #expect(result.stderr == "vae-train: cannot create the run folder \(parent)/file/run: Not a directory\n")
}

/// A learning rate, a KL weight or a fixed σ that makes training blow up stops it with the epoch
/// and batch named and the flags to change in a new run (a resume cannot change them), and no
/// checkpoint is written from the diverged state. The folder records the message, and a resume
/// is refused with it at once. In epoch 1 the folder holds no checkpoint, so the new run needs
/// no --overwrite, and it removes the record.
@Test(arguments: [
    (["--lr", "1e6"], "(start again with a lower --lr: a resume would repeat the same steps)\n"),
    (["--beta", "1e30"], "(start again with a lower --lr or --beta: a resume would repeat the same steps)\n"),
    (["--likelihood", "gaussian-fixed", "--sigma", "1e-12"],
     "(start again with a lower --lr or a larger --sigma: a resume would repeat the same steps)\n"),
])
func divergenceStopsWithoutACheckpoint(flags: [String], advice: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder) + flags)
    #expect(result.status == 70, "\(result.stderr)")
    #expect(result.stderr.contains("training diverged in epoch 1") && result.stderr.hasSuffix(advice), "\(result.stderr)")
    let directory = RunDirectory(folder)
    #expect(directory.checkpointEpochs().isEmpty)
    let message = String(result.stderr.dropFirst("vae-train: ".count).dropLast())
    #expect(try directory.recordedDivergence() == message)
    let state = try readFile(directory.statePath)
    let resumed = try runTool("vae-train", ["--resume", folder, "--data", data, "--threads", "1"])
    #expect(resumed.status == 64 && resumed.stderr == "vae-train: cannot resume: \(folder)/diverged records that \(message)\n",
            "\(resumed.stderr)")
    #expect(try readFile(directory.statePath) == state)
    let again = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 1))
    #expect(again.status == 0, "the advice followed: \(again.stderr)")
    #expect(try directory.recordedDivergence() == nil)
}

/// A disk that fails a write's fsync or its rename (EIO, from the fault-injection library) stops
/// the trainer with exit 73 naming the file and the reason, and leaves no temporary file: here
/// epoch 1's checkpoint fails, the epoch-0 state stays, and the run resumes from it.
@Test(arguments: [("VAE_FAIL_FSYNC", "epoch-0001.safetensors" + temporaryFileSuffix), ("VAE_FAIL_RENAME", "epoch-0001.safetensors")])
func aFailedWriteLeavesNoTemporaryFileAndTheRunResumes(variable: String, suffix: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run", directory = RunDirectory(folder)
    let checkpoint = directory.checkpoint(epoch: 1), temporary = folder + "/checkpoints/.epoch-0001.safetensors" + temporaryFileSuffix
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 2),
                             environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), variable: suffix])
    #expect(result.status == 73, "\(result.stderr)")
    #expect(result.stderr == (variable == "VAE_FAIL_FSYNC"
        ? "vae-train: cannot write \(checkpoint): fsync failed: Input/output error\n"
        : "vae-train: cannot rename \(temporary) to \(checkpoint): Input/output error\n"))
    #expect(leftoverTemporaryFiles(folder).isEmpty, "\(leftoverTemporaryFiles(folder))")
    #expect(directory.checkpointEpochs().isEmpty)
    #expect(try readTrainingState(directory.statePath).epoch == 0)
    let resumed = try runTool("vae-train", ["--resume", folder, "--data", data, "--threads", "1"] + resumeArguments)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(directory.checkpointEpochs() == [1, 2])
}

/// A folder whose fsync fails (EIO) after a checkpoint's rename may lose that rename in a power
/// cut: the trainer stops with exit 73 naming the folder and the file, before it records the
/// epoch in metrics.jsonl or the state, so the resume trains epoch 1 again. A failed fsync of the
/// run folder after making `checkpoints/` in it is refused the same way, before any training.
@Test func aFolderThatFailsItsFsyncStopsTheTrainer() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run", directory = RunDirectory(folder)
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 2),
                             environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_FAIL_FSYNC": "/run/checkpoints"])
    #expect(result.status == 73, "\(result.stderr)")
    #expect(result.stderr == "vae-train: cannot fsync the folder \(folder)/checkpoints after writing \(directory.checkpoint(epoch: 1)): "
            + "Input/output error\n")
    #expect(directory.checkpointEpochs() == [1])
    #expect(try readTrainingState(directory.statePath).epoch == 0)
    #expect(!FileManager.default.fileExists(atPath: directory.metricsPath))
    let resumed = try runTool("vae-train", ["--resume", folder, "--data", data, "--threads", "1"] + resumeArguments)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(directory.checkpointEpochs() == [1, 2])

    let other = scratch + "/other"
    let refused = try runTool("vae-train", trainArguments(data: data, runDir: other, epochs: 2),
                              environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_FAIL_FSYNC": "/other"])
    #expect(refused.status == 73, "\(refused.stderr)")
    #expect(refused.stderr == "vae-train: cannot fsync the folder \(other) after creating \(other)/checkpoints: Input/output error\n")
    #expect(PathKind(RunDirectory(other).checkpointsFolder) == .nothing, "the folder it made is removed")
}

/// A checkpoints folder the user may not write (access(2) refused by the fault-injection library:
/// root may write anywhere) is refused with exit 73 naming it, before any training; nothing is
/// written in it.
@Test func aCheckpointsFolderTheUserMayNotWriteIsRefused() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run", directory = RunDirectory(folder)
    try FileManager.default.createDirectory(atPath: directory.checkpointsFolder, withIntermediateDirectories: true)
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_DENY_ACCESS": "/run/checkpoints",
    ])
    #expect(result.status == 73, "\(result.stderr)")
    #expect(result.stderr == "vae-train: cannot write into the run's checkpoints folder \(directory.checkpointsFolder): "
            + "Permission denied\n")
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.checkpointsFolder).isEmpty)
    #expect(PathKind(directory.statePath) == .nothing)
}

/// A NaN where the model computes (one product's first output poisoned by the fault-injection
/// library, as an overflow would leave) stops training with the batch and the check named: the
/// loss, for the encoder's mean and log-variance in a step's forward pass; a gradient, for the
/// first product of its backward pass. In epoch 2, the advice keeps the run's first checkpoint;
/// a resume is refused (under the lock: a trainer replacing the run may be removing the record),
/// a new run without --overwrite is advised only that, and the --overwrite removes the record.
@Test(arguments: [(false, "the loss is NaN"), (true, "a gradient is not finite")])
func aNaNInATrainingStepIsNamed(backward: Bool, problem: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let offset = sgemmCalls(smallModel, rows: 40, backward: false, layers: backward ? .max : 1)
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_NAN_AT_SGEMM": String(firstSgemmCall(ofBatch: batchesPerEpoch + 3) + offset),
    ])
    #expect(result.status == 70, "\(result.stderr)")
    let message = "training diverged in epoch 2, batch 3 of 6: \(problem); no checkpoint was written from "
        + "this state (start again with --overwrite and a lower --lr: a resume would repeat the same steps)"
    #expect(result.stderr == "vae-train: \(message)\n")
    let directory = RunDirectory(folder)
    #expect(directory.checkpointEpochs() == [1])
    let resumed = try runTool("vae-train", ["--resume", folder, "--data", data, "--threads", "1"] + resumeArguments)
    #expect(resumed.status == 64 && resumed.stderr == "vae-train: cannot resume: \(folder)/diverged records that \(message)\n",
            "\(resumed.stderr)")
    #expect(directory.checkpointEpochs() == [1])
    let holder = open(directory.lockPath, O_RDWR | O_CLOEXEC)
    try #require(holder >= 0 && flock(holder, LOCK_EX | LOCK_NB) == 0)
    let busy = try runTool("vae-train", ["--resume", folder, "--data", data, "--threads", "1"] + resumeArguments)
    close(holder)
    #expect(busy.status == 75, "the lock comes first: \(busy.stderr)")
    let fresh = try runTool("vae-train", trainArguments(data: data, runDir: folder))
    #expect(fresh.status == 64 && fresh.stderr == "vae-train: \(folder) already holds checkpoints (up to epoch 1); pass --overwrite to "
            + "replace it (\(folder)/diverged records that \(message))\n", "\(fresh.stderr)")
    // So is a state past epoch 0 whose checkpoints were deleted.
    let kept = try readFile(directory.checkpoint(epoch: 1))
    unlink(directory.checkpoint(epoch: 1))
    let stateOnly = try runTool("vae-train", trainArguments(data: data, runDir: folder))
    #expect(stateOnly.status == 64 && stateOnly.stderr == "vae-train: \(folder) holds the resume state of a run after epoch 1 "
            + "(\(directory.statePath)); pass --overwrite to replace it (\(folder)/diverged records that \(message))\n", "\(stateOnly.stderr)")
    write(kept, to: directory.checkpoint(epoch: 1))
    let again = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 1) + ["--overwrite"])
    #expect(again.status == 0, "the advice followed: \(again.stderr)")
    #expect(try directory.recordedDivergence() == nil)
}

/// A fresh start over a run that diverged in its first epoch removes the record only once its own
/// state is written: killed between the two (after the state's rename), the folder still refuses
/// a resume, rather than resuming the old state into the same divergence. A record that cannot be
/// written (its rename fails) leaves the divergence's own message and exit code.
@Test func theDivergenceRecordOutlivesACrashedFreshStartAndAFailedWrite() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run", directory = RunDirectory(folder)
    let faults = ["LD_PRELOAD": try preloadLibrary("fault-injection")]
    let unrecorded = try runTool("vae-train", trainArguments(data: data, runDir: folder) + ["--lr", "1e6"],
                                 environment: faults.merging(["VAE_FAIL_RENAME": "/diverged"]) { $1 })
    #expect(unrecorded.status == 70 && unrecorded.stderr.hasPrefix("vae-train: training diverged in epoch 1"), "\(unrecorded.stderr)")
    #expect(PathKind(directory.divergenceRecordPath) == .nothing)
    let diverged = try runTool("vae-train", trainArguments(data: data, runDir: folder) + ["--lr", "1e6"])
    #expect(try diverged.status == 70 && directory.recordedDivergence() != nil, "\(diverged.stderr)")
    // The data folder is recorded already, so the new state's is the first rename.
    let crashed = try runTool("vae-train", trainArguments(data: data, runDir: folder),
                              environment: faults.merging(["VAE_CRASH_AFTER_RENAME": "1"]) { $1 })
    #expect(crashed.status == SIGKILL, "\(crashed.stderr)")
    let resumed = try runTool("vae-train", ["--resume", folder, "--data", data, "--threads", "1"] + resumeArguments)
    #expect(resumed.status == 64 && resumed.stderr.hasPrefix("vae-train: cannot resume: \(folder)/diverged records that "),
            "\(resumed.stderr)")
}

/// A resumed run that diverges records it as a new one does: the resume process counts its sgemm
/// calls from its own first batch, epoch 2's first.
@Test func aDivergenceInAResumeIsRecorded() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let faults = ["LD_PRELOAD": try preloadLibrary("fault-injection")]
    let stopped = try runTool("vae-train", trainArguments(data: data, runDir: folder),
                              environment: faults.merging(["VAE_INTERRUPT_AT_SGEMM": String(firstSgemmCall(ofBatch: batchesPerEpoch + 2))]) { $1 })
    #expect(stopped.status == 130, "\(stopped.stderr)")
    let directory = RunDirectory(folder)
    #expect(try readTrainingState(directory.statePath).epoch == 1 && (try directory.recordedDivergence()) == nil)
    let offset = sgemmCalls(smallModel, rows: 40, backward: false, layers: 1)
    let resumed = try runTool("vae-train", ["--resume", folder, "--data", data, "--threads", "1"] + resumeArguments,
                              environment: faults.merging(["VAE_NAN_AT_SGEMM": String(firstSgemmCall(ofBatch: 3) + offset)]) { $1 })
    #expect(resumed.status == 70 && resumed.stderr.hasPrefix("vae-train: training diverged in epoch 2, batch 3 of 6: the loss is NaN"),
            "\(resumed.stderr)")
    #expect(try directory.recordedDivergence() == String(resumed.stderr.dropFirst("vae-train: ".count).dropLast()))
}

/// An importance-weighted estimate that comes out NaN (the first test image's mean poisoned as
/// above) is recorded nowhere: the run stops with exit 70 before the last epoch's checkpoint,
/// and a resume without --iwae-k, as the message says, trains that epoch again and ends.
@Test func aNonFiniteFinalEstimateStopsBeforeTheLastCheckpoint() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    // After epoch 2's steps and evaluation: the first image's encoder, past its first layer.
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 2), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        "VAE_NAN_AT_SGEMM": String(firstSgemmCall(ofBatch: 2 * batchesPerEpoch + 1) + sgemmCalls(smallModel, rows: 1, backward: false, layers: 1)),
    ])
    #expect(result.status == 70, "\(result.stderr)")
    #expect(result.stderr == "vae-train: the importance-weighted estimate after epoch 2 is NaN (k=20): the model gives a test "
            + "image a weight out of range; the epoch's checkpoint was not written (vae-train --resume \(folder) without --iwae-k "
            + "ends the run without the estimate)\n")
    let directory = RunDirectory(folder)
    #expect(directory.checkpointEpochs() == [1])
    #expect(try readEpochLosses(directory.metricsPath).map(\.epoch) == [1])
    let resumed = try runTool("vae-train", ["--resume", folder, "--data", data, "--threads", "1"])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(directory.checkpointEpochs() == [1, 2])
    #expect(try readSafetensors(directory.checkpoint(epoch: 2)).metadata["test_iwae"] == nil)
}

/// After the last epoch the trainer estimates -log p(x) by importance sampling and records it in
/// the last metrics line and the last checkpoint, and only there.
@Test func theLastEpochRecordsTheImportanceWeightedEstimate() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 2))
    #expect(result.status == 0, "\(result.stderr)")
    // In a log, the estimate's line says that the last epoch, whose line comes after it, is trained.
    let printed = result.stdout.split(separator: "\n").map { String($0.prefix(14)) }
    #expect(printed == ["vae-train: mlp", "epoch 1/2  tra", "estimating -lo", "epoch 2/2  tra", "test -log p(x)", "vae-train: don"],
            "\(result.stdout)")
    #expect(result.stdout.contains("estimating -log p(x) after epoch 2, before its checkpoint: the 60 test images with 20 "
                                   + "importance samples each\n"), "\(result.stdout)")
    #expect(result.stdout.contains("(IWAE, k=20)"), "\(result.stdout)")
    let lines = try String(contentsOfFile: RunDirectory(folder).metricsPath, encoding: .utf8).split(separator: "\n")
    let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    try #require(objects.count == 2, "\(lines)")
    #expect(objects[0]["test_iwae"] == nil)
    let iwae = try #require((objects[1]["test_iwae"] as? NSNumber)?.doubleValue)
    let elbo = try #require((objects[1]["test_loss"] as? NSNumber)?.doubleValue)
    #expect(iwae < elbo && iwae > elbo - 20, "IWAE \(iwae) against the negative ELBO \(elbo)")
    #expect((objects[1]["iwae_k"] as? NSNumber)?.intValue == 20)
    let last = try readSafetensors(RunDirectory(folder).checkpoint(epoch: 2))
    // Compared as numbers: JSONSerialization may round the last digit of what it parses.
    let recorded = try #require(last.metadata["test_iwae"].flatMap(Double.init))
    #expect(abs(recorded - iwae) <= 1e-12 * abs(iwae) && last.metadata["iwae_k"] == "20", "\(recorded) against \(iwae)")
    #expect(try readSafetensors(RunDirectory(folder).checkpoint(epoch: 1)).metadata["test_iwae"] == nil)
    // The figure is the estimate with the k and the seed of the run, of the final model.
    let final = try readCheckpoint(RunDirectory(folder).checkpoint(epoch: 2))
    let test = try KMNIST.load(from: data).test
    let expected = try importanceWeightedNLL(final.model, test, k: 20, seed: 5)
    #expect(abs(recorded - expected) <= 1e-12 * abs(expected), "\(recorded) against \(expected) recomputed")
    #expect(abs(try importanceWeightedNLL(final.model, test, k: 10, seed: 5) - expected) > 1e-6, "k must change the estimate")
}

/// Two processes writing one file at once would share its temporary file: the second is refused
/// while the first holds it, the target is left as it was, and the write goes through once the
/// temporary is free again.
@Test func aSecondWriterOfTheSameFileIsRefused() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let path = scratch + "/file", temporary = scratch + "/.file" + temporaryFileSuffix
    try writeFileAtomically([7], to: path)
    // A lock of another open file description conflicts as another process's would.
    let other = open(temporary, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
    #expect(other >= 0 && flock(other, LOCK_EX) == 0)
    #expect(throws: VAEError(.cannotWrite, "cannot write \(path): another process is writing it (\(temporary) is locked)")) {
        try writeFileAtomically([1, 2, 3], to: path)
    }
    #expect(try readFile(path) == [7])
    #expect(FileManager.default.fileExists(atPath: temporary), "the other writer's temporary file was removed")
    // Unlocked before the close, as RunLock does: a tool that another test starts at this moment
    // holds a copy of the descriptor between its fork and its exec, and with it the lock.
    flock(other, LOCK_UN)
    close(other)
    try writeFileAtomically([1, 2, 3], to: path)
    #expect(try readFile(path) == [1, 2, 3])
    #expect(!FileManager.default.fileExists(atPath: temporary))
}

/// Only the tools' own temporary files (hidden, ending in .partial) are a crash's leftovers: a
/// user's file that merely ends in .partial is kept.
@Test func onlyHiddenPartialFilesAreRemovedAsLeftovers() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    write([1], to: folder + "/.epoch-0001.safetensors" + temporaryFileSuffix)
    write([2], to: folder + "/download" + temporaryFileSuffix)
    removeLeftoverTemporaryFiles(in: folder)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["download" + temporaryFileSuffix])
    #expect(!isLeftoverTemporaryFile("download" + temporaryFileSuffix) && isLeftoverTemporaryFile(".a" + temporaryFileSuffix))
}

/// A folder that cannot be opened to be synced is an error, naming the change it would have made
/// last, unless this process may not read it (EACCES), where nothing more can be done.
@Test func aFolderThatCannotBeOpenedForItsSyncIsAnError() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    #expect(throws: VAEError(.cannotWrite, "cannot open the folder \(folder)/gone to fsync it after writing x: No such file or directory")) {
        try syncFolder(folder + "/gone", after: "writing x")
    }
    try syncFolder(folder, after: "writing x")
}
