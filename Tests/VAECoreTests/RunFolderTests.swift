import Foundation
import Testing
import TestSupport
import VAECore
import VAETesting

// One writer per run folder, readers at any time, and a run that knows where its data is.

/// A small model on the synthetic fixtures, trained for `epochs` epochs (many, for a trainer
/// that is stopped by a signal), one thread, no final estimate.
private let smallModel = VAEConfig(hidden: [32], latentDim: 4)

private func trainArguments(runDir: String, seed: Int, epochs: Int) -> [String] {
    ["--data", syntheticData, "--no-download", "--run-dir", runDir, "--epochs", String(epochs), "--hidden", "32",
     "--latent-dim", "4", "--batch-size", "100", "--threads", "1", "--iwae-k", "0", "--seed", String(seed), "--prior", "normal"]
}

/// A trainer in the background, stopped (with everything it started) by `stop()` in a `defer`.
private final class BackgroundTrainer {
    let trainer: ChildProcess

    init(_ arguments: [String], executable: String? = nil, workingDirectory: String? = nil) throws {
        trainer = try ChildProcess(try executable ?? toolPath("vae-train"), arguments, workingDirectory: workingDirectory)
    }

    /// Waits until `condition` holds (at most 60 s, and only while the trainer runs).
    func wait(until condition: () -> Bool, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let clock = ContinuousClock(), deadline = clock.now + .seconds(60)
        while !condition() && clock.now < deadline && trainer.isRunning { usleep(10_000) }
        if !condition() {
            Issue.record("\(trainer.command): \(what) did not happen within 60 s", sourceLocation: sourceLocation)
        }
    }

    /// Ctrl-C (or `signal`), then the exit status and what it said; a trainer still running 60 s
    /// later is stopped and the test fails.
    func interrupt(with signal: Int32 = SIGINT) throws -> ProcessOutput {
        trainer.send(signal)
        return try trainer.finish(within: .seconds(60), failure: "did not stop after signal \(signal)")
    }

    func stop() { trainer.stop() }
}

/// SIGTERM (docker stop, a scheduler's time limit) stops a trainer like Ctrl-C, between batches,
/// with the shell's code for it, 143, and the same advice; what it wrote is intact.
@Test func sigtermStopsBetweenBatchesWithItsOwnCode() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let trainer = try BackgroundTrainer(trainArguments(runDir: folder, seed: 0, epochs: 100_000))
    defer { trainer.stop() }
    trainer.wait(until: { RunDirectory(folder).checkpointEpochs().count >= 1 }, "a checkpoint")
    let stopped = try trainer.interrupt(with: SIGTERM)
    #expect(stopped.status == 143, "\(stopped.stderr)")
    let last = RunDirectory(folder).checkpointEpochs().last ?? 0
    #expect(stopped.stderr.hasPrefix("vae-train: interrupted during epoch \(last + 1) (SIGTERM); checkpoints up to epoch \(last) "
                                     + "are complete. Continue with: vae-train --resume \(folder)\n"), "\(stopped.stderr)")
    #expect(try readTrainingState(RunDirectory(folder).statePath).epoch == last)
}

/// Ctrl-\ (SIGQUIT) ends a trainer at once by that signal, as it ends any Unix program: Swift's
/// runtime took it for a crash, printed some fifty lines of backtrace and let training go on to
/// exit 0. The trainer is started with SIGQUIT blocked, as a parent's worker thread may start it,
/// which left Ctrl-\ doing nothing. (No core file: the shell sets the limit to 0 first.) The
/// signal's action is made the default first: a suite started in the background of a
/// non-interactive shell has SIGQUIT ignored, which a trainer keeps, as Unix programs do.
@Test func sigquitEndsATrainerByThatSignalWithoutABacktrace() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let blocking = "import os, signal, sys; signal.signal(signal.SIGQUIT, signal.SIG_DFL); "
        + "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGQUIT}); os.execv(sys.argv[1], sys.argv[1:])"
    let command = ([testPython, "-c", blocking, try toolPath("vae-train")] + trainArguments(runDir: folder, seed: 0, epochs: 100_000))
        .map { "'\($0)'" }
    let trainer = try BackgroundTrainer(["-c", "ulimit -c 0; exec " + command.joined(separator: " ")], executable: "/bin/bash",
                                        workingDirectory: scratch)
    defer { trainer.stop() }
    trainer.wait(until: { RunDirectory(folder).checkpointEpochs().count >= 1 }, "a checkpoint")
    let stopped = try trainer.interrupt(with: SIGQUIT)
    #expect(stopped.status == SIGQUIT && stopped.stderr.isEmpty, "\(stopped.status) \(stopped.stderr)")
}

/// A pipe whose reader has left (`vae-train ... | head -1`) ends a trainer by SIGPIPE, as it ends
/// any Unix filter (the shell's 141), at its first line after that (an epoch's, written once the
/// epoch's checkpoint and state are). The run resumes like one stopped by Ctrl-C.
@Test func aClosedPipeEndsATrainerWhoseRunResumes() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let command = ([try toolPath("vae-train")] + trainArguments(runDir: folder, seed: 0, epochs: 100_000)).map { "'\($0)'" }
    let shell = try ChildProcess("/bin/bash", ["-c", command.joined(separator: " ") + " | head -1 >/dev/null; echo ${PIPESTATUS[0]}"])
    defer { shell.stop() }
    let piped = try shell.finish(within: .seconds(60), failure: "did not end when its reader left")
    #expect(piped.stdout == "141\n", "\(piped.stdout) \(piped.stderr)")
    let done = RunDirectory(folder).checkpointEpochs()
    let last = try #require(done.last, "no checkpoint before the pipe closed")
    let stateEpoch = try readTrainingState(RunDirectory(folder).statePath).epoch
    #expect(done == Array(1...last) && stateEpoch == last, "checkpoints \(done), state at epoch \(stateEpoch)")
    let resumed = try runTool("vae-train", ["--resume", folder, "--epochs", String(last + 1), "--iwae-k", "0"],
                              environment: ["KMNIST_DIR": ""])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(RunDirectory(folder).checkpointEpochs() == Array(1...last + 1))
}

/// A second trainer on a folder that one is writing is refused at once with exit 75, naming the
/// folder and the holder's pid, and touches nothing: every checkpoint is the first trainer's. Its
/// refused lock closes its descriptor once (close-checker ends a process that closes one twice).
@Test(arguments: [[], ["--overwrite"], ["--resume"]])
func aSecondTrainerOnTheSameFolderIsRefused(extra: [String]) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let first = try BackgroundTrainer(trainArguments(runDir: folder, seed: 0, epochs: 100_000))
    defer { first.stop() }
    first.wait(until: { RunDirectory(folder).checkpointEpochs().count >= 2 }, "two checkpoints")
    let arguments = extra == ["--resume"]
        ? ["--resume", folder, "--data", syntheticData, "--no-download", "--epochs", "100000", "--threads", "1"]
        : trainArguments(runDir: folder, seed: 7, epochs: 3) + extra
    let second = try runTool("vae-train", arguments, environment: ["LD_PRELOAD": try preloadLibrary("close-checker")])
    let stopped = try first.interrupt()

    #expect(second.status == 75, "\(second.stderr)")
    #expect(second.stderr == "vae-train: \(folder) is being written by process \(first.trainer.processIdentifier) "
            + "(it holds \(folder)/.lock); wait for it to finish or stop it, or use another run folder\n")
    #expect(stopped.status == 130, "\(stopped.stderr)")
    let directory = RunDirectory(folder)
    let epochs = directory.checkpointEpochs()
    #expect(epochs.count >= 2 && epochs == Array(1...epochs.count))
    for epoch in epochs {
        let checkpoint = try readCheckpoint(directory.checkpoint(epoch: epoch))
        #expect(checkpoint.run.seed == 0 && checkpoint.run.epochs == 100_000, "epoch \(epoch) is not the first trainer's")
    }
    #expect(try readTrainingState(directory.statePath).run.seed == 0)
}

/// The kernel drops the lock of a trainer killed with SIGKILL: its pid stays in the lock file,
/// and a resume takes the lock and finishes.
@Test func aKilledTrainersLockDoesNotBlockAResume() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run"
    let killed = try runTool("vae-train", trainArguments(runDir: folder, seed: 0, epochs: 3), environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"),
        // Inside epoch 2: after the 6 steps and the evaluation of epoch 1, and 2 steps more.
        "VAE_CRASH_AT_SGEMM": String(8 * sgemmCalls(smallModel, rows: 100, backward: true) + sgemmCalls(smallModel, rows: 100, backward: false)),
    ])
    #expect(killed.status == SIGKILL, "\(killed.stderr)")
    let directory = RunDirectory(folder)
    #expect(directory.checkpointEpochs() == [1])
    let holder = String(decoding: try readFile(directory.lockPath), as: UTF8.self)
    #expect(Int32(holder.trimmingCharacters(in: .newlines)) != nil, "the dead trainer's pid: \(holder)")

    let resumed = try runTool("vae-train", ["--resume", folder, "--data", syntheticData, "--no-download", "--epochs", "3",
                                            "--threads", "1"])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(directory.checkpointEpochs() == [1, 2, 3])
}

/// vae-render needs no lock: during training it renders the epochs complete when it starts
/// and says how many it found.
@Test func renderingDuringTrainingRendersTheCompleteEpochs() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/run", output = scratch + "/output"
    let trainer = try BackgroundTrainer(trainArguments(runDir: folder, seed: 0, epochs: 100_000))
    defer { trainer.stop() }
    trainer.wait(until: { RunDirectory(folder).checkpointEpochs().count >= 3 }, "three checkpoints")
    let rendered = try runTool("vae-render", ["--sampling", "--reconstruction", "--run-dir", folder, "--out", output],
                               environment: ["KMNIST_DIR": ""])
    let stopped = try trainer.interrupt()
    #expect(stopped.status == 130, "\(stopped.stderr)")

    #expect(rendered.status == 0, "\(rendered.stderr)")
    let match = try #require(rendered.stdout.firstMatch(of: /sampling.gif: (\d+) frames \(epochs 1-(\d+) of 100000 planned\)/),
                             "\(rendered.stdout)")
    let epochs = try #require(Int(match.1))
    #expect(String(match.2) == String(match.1))
    #expect(epochs >= 3 && epochs <= RunDirectory(folder).checkpointEpochs().count)
    #expect(rendered.stdout.contains("\(output)/reconstruction.gif: \(epochs) frames (epochs 1-\(epochs) of 100000 planned)"),
            "\(rendered.stdout)")
}

/// The record of a run's data folder is one absolute path: a relative one would be read from
/// wherever a tool runs, so it is damage, as two lines or bytes that are not UTF-8 are.
@Test func aDamagedDataFolderRecordIsRefused() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let run = RunDirectory(scratch)
    #expect(try run.recordedDataFolder() == nil)
    write(Array("/data/kmnist\n".utf8), to: run.dataFolderRecordPath)
    #expect(try run.recordedDataFolder() == "/data/kmnist")
    for (bytes, problem) in [(Array("data/kmnist\n".utf8), "not an absolute folder path"),
                             (Array("/data/kmnist\n/other\n".utf8), "not an absolute folder path"),
                             ([0x2F, 0xFF, 0xFE], "not UTF-8 text")] {
        write(bytes, to: run.dataFolderRecordPath)
        #expect(throws: VAEError(.badData, "\(run.dataFolderRecordPath): \(problem)")) { try run.recordedDataFolder() }
    }
}

/// `vae-train --data X` then `vae-render --all` and `vae-train --resume` with neither --data nor
/// KMNIST_DIR: they read the folder the run recorded, from any working directory, even when it
/// was given as a relative path; once that folder is gone, the error names it (the loss curve,
/// which reads no data, still renders).
@Test func theRendererFindsTheRunsData() throws {
    let workplace = temporaryFolder()
    defer { removeTemporaryFolder(workplace) }
    let data = workplace + "/kmnist"
    try FileManager.default.copyItem(atPath: syntheticData, toPath: data)
    let noDataVariable = ["KMNIST_DIR": ""]
    let trained = try runTool("vae-train", ["--data", "kmnist", "--no-download", "--run-dir", "runs/r", "--epochs", "2",
                                            "--hidden", "16", "--latent-dim", "3", "--threads", "1", "--iwae-k", "0"],
                              environment: noDataVariable, workingDirectory: workplace)
    #expect(trained.status == 0, "\(trained.stderr)")
    let run = RunDirectory(workplace + "/runs/r")
    #expect(try run.recordedDataFolder() == URL(fileURLWithPath: data).standardizedFileURL.path)

    let elsewhere = temporaryFolder("elsewhere")
    defer { removeTemporaryFolder(elsewhere) }
    let rendered = try runTool("vae-render", ["--all", "--run-dir", run.path, "--out", "gifs"],
                               environment: noDataVariable, workingDirectory: elsewhere)
    #expect(rendered.status == 0, "\(rendered.stderr)")
    for name in ["interpolation", "sampling", "reconstruction"] {
        #expect(FileManager.default.fileExists(atPath: elsewhere + "/gifs/\(name).gif"), "\(name).gif")
    }
    let evaluated = try runTool("vae-eval", [run.checkpoint(epoch: 2), "--k", "2"], environment: noDataVariable,
                                workingDirectory: elsewhere)
    #expect(evaluated.status == 0, "\(evaluated.stderr)")
    let resumed = try runTool("vae-train", ["--resume", run.path, "--no-download", "--epochs", "3", "--threads", "1", "--iwae-k", "0"],
                              environment: noDataVariable, workingDirectory: elsewhere)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(run.checkpointEpochs() == [1, 2, 3])

    try FileManager.default.moveItem(atPath: data, toPath: workplace + "/moved")
    let gone = try runTool("vae-render", ["--all", "--run-dir", run.path, "--out", "gifs2"],
                           environment: noDataVariable, workingDirectory: elsewhere)
    #expect(gone.status == 66)
    #expect(gone.stderr == "vae-render: \(try #require(try run.recordedDataFolder())), the data folder \(run.path) was trained "
            + "on (recorded in \(run.dataFolderRecordPath)), does not exist; pass --data or set KMNIST_DIR\n")
    #expect(!FileManager.default.fileExists(atPath: elsewhere + "/gifs2"))
    // KMNIST_DIR comes before the recorded folder: it tells where the data went.
    let pointed = try runTool("vae-render", ["--reconstruction", "--run-dir", run.path, "--out", "moved-gifs"],
                              environment: ["KMNIST_DIR": workplace + "/moved"], workingDirectory: elsewhere)
    #expect(pointed.status == 0, "\(pointed.stderr)")
    // The loss curve reads the metrics alone: no data needed.
    let curve = try runTool("vae-render", ["--loss-curve", "--run-dir", run.path, "--out", "gifs2"],
                            environment: noDataVariable, workingDirectory: elsewhere)
    #expect(curve.status == 0, "\(curve.stderr)")
    #expect(FileManager.default.fileExists(atPath: elsewhere + "/gifs2/loss.svg"))
    let resumedWithoutData = try runTool("vae-train", ["--resume", run.path, "--no-download", "--epochs", "4"],
                                         environment: noDataVariable, workingDirectory: elsewhere)
    #expect(resumedWithoutData.status == 66)
    #expect(resumedWithoutData.stderr.hasPrefix("vae-train: \(try #require(try run.recordedDataFolder())), the data folder "))
    #expect(run.checkpointEpochs() == [1, 2, 3])

    // A folder of the same counts with other images (inverted) or other labels (the first two
    // swapped) is not the run's data either.
    let original = try KMNIST.load(from: syntheticData)
    for (split, name, labelsOnly) in [(KMNIST.Split.test, "t10k", false), (.test, "t10k", true), (.training, "train", false)] {
        let other = workplace + "/other-\(name)-\(labelsOnly)"
        try FileManager.default.copyItem(atPath: workplace + "/moved", toPath: other)
        let set = split == .test ? original.test : original.train
        let file = labelsOnly ? "labels-idx1-ubyte.gz" : "images-idx3-ubyte.gz"
        try FileManager.default.removeItem(atPath: other + "/\(name)-\(file)")
        let labels = [set.labels[1], set.labels[0]] + set.labels.dropFirst(2)
        #expect(labels != set.labels)
        write(gzipCompress(labelsOnly ? encodeIDX(magic: idxLabelsMagic, dimensions: [set.count], payload: labels)
                           : encodeIDX(magic: idxImagesMagic, dimensions: [set.count, 28, 28], payload: set.pixels.map { 255 - $0 })),
              to: other + "/\(name)-\(file)")
        // The gmm sampler is fitted to the training images.
        let refused = try runTool("vae-render", (split == .test ? ["--all"] : ["--sampling", "--sampler", "gmm"])
                                                + ["--run-dir", run.path, "--data", other, "--out", "gifs3"], workingDirectory: elsewhere)
        #expect(refused.status == 64)
        #expect(refused.stderr.hasPrefix("vae-render: the \(split.rawValue) images and labels in \(other) are not the ones the run "
                                         + "was trained on (md5 "), "\(refused.stderr)")
        #expect(refused.stderr.hasSuffix(", recorded \(set.md5)); pass the --data folder the run was trained on\n"))
        if split == .training {
            // vae-sample fits the gmm sampler to the training images just the same.
            let sampled = try runTool("vae-sample", ["--run-dir", run.path, "--data", other, "--count", "2", "--sampler", "gmm",
                                                     "--out", "samples.idx"], workingDirectory: elsewhere)
            #expect(sampled.status == 64 && !FileManager.default.fileExists(atPath: elsewhere + "/samples.idx"))
            #expect(sampled.stderr == refused.stderr.replacingOccurrences(of: "vae-render:", with: "vae-sample:"), "\(sampled.stderr)")
        }
        guard split == .test else { continue }
        let evaluated = try runTool("vae-eval", [run.checkpoint(epoch: 3), "--data", other, "--k", "2"], workingDirectory: elsewhere)
        #expect(evaluated.status == 64 && evaluated.stdout.isEmpty, "\(evaluated.stdout)")
        #expect(evaluated.stderr == refused.stderr.replacingOccurrences(of: "vae-render:", with: "vae-eval:"), "\(evaluated.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: elsewhere + "/gifs3"))
}

/// A lock given up is free at once, even while another program still shares its descriptor. A
/// program that another test starts shares every descriptor between its fork and its exec, and
/// with a plain close(2) the lock stayed held until then: existingCheckpointsAreNeverOverwrittenSilently
/// failed once that way, refused by a lock that named the test process itself as the holder.
@Test func aReleasedLockIsFreeWhileAChildStillSharesItsDescriptor() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    var lock: RunLock? = try RunLock(directory)
    let lockFile = URL(fileURLWithPath: directory.lockPath).resolvingSymlinksInPath().path
    let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { Int32($0) }
    let shared = try #require(descriptors.first {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == lockFile
    })
    // A child that keeps the descriptor across its exec, as one between fork and exec holds it.
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, shared, shared)
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("60"), nil]
    defer { argv.forEach { free($0) } }
    var child = pid_t()
    try #require(posix_spawn(&child, "/bin/sleep", &actions, nil, argv, environ) == 0)
    defer { kill(child, SIGKILL); waitpid(child, nil, 0) }
    expectVAEError(.busy, containing: ["\(folder) is being written by process \(getpid())"]) { _ = try RunLock(directory) }
    withExtendedLifetime(lock) {}  // held up to here, then released while the child still shares its descriptor
    lock = nil
    #expect(throws: Never.self) { _ = try RunLock(directory) }
}

/// A longer pid left by an earlier holder is cut off: the file holds the holder's pid alone, which
/// a refused writer names (with the old pid's tail after it, it named "another process").
@Test func theLockFileHoldsTheHoldersPidAlone() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    write(Array("99999999999999\n".utf8), to: directory.lockPath)
    let lock = try RunLock(directory)
    #expect(String(decoding: try readFile(directory.lockPath), as: UTF8.self) == "\(getpid())\n")
    expectVAEError(.busy, containing: ["\(folder) is being written by process \(getpid())"]) { _ = try RunLock(directory) }
    withExtendedLifetime(lock) {}
}

/// The lock file is never opened through a link (its pid would overwrite the link's target) nor
/// taken when it is not a regular file (a FIFO there must not hang the open). One that is there
/// but cannot be opened (a folder here; another user's file) is not said to be created.
@Test func aLockFileThatIsALinkOrAFIFOIsRefusedTouchingNothing() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    let notes = folder + "/notes.txt"
    try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: notes))
    try FileManager.default.createSymbolicLink(atPath: directory.lockPath, withDestinationPath: notes)
    expectVAEError(.cannotWrite, containing: ["cannot lock \(directory.lockPath): it is a symbolic link"]) { _ = try RunLock(directory) }
    #expect(try String(contentsOfFile: notes, encoding: .utf8) == "keep me\n")

    unlink(directory.lockPath)
    try #require(mkdir(directory.lockPath, 0o755) == 0)
    expectVAEError(.cannotWrite, containing: ["cannot open \(directory.lockPath): Is a directory"]) { _ = try RunLock(directory) }
    rmdir(directory.lockPath)

    unlink(directory.lockPath)
    try #require(mkfifo(directory.lockPath, 0o644) == 0)
    expectVAEError(.cannotWrite, containing: ["cannot lock \(directory.lockPath): it is not a regular file"]) { _ = try RunLock(directory) }
}

/// A refused writer names the holder by the pid in the lock file only while that process lives:
/// a program that takes the lock without writing its pid leaves an earlier holder's there.
@Test(arguments: [true, false])
func aRefusedLockNamesOnlyALiveHolder(holderAlive: Bool) throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    // Above the kernel's largest pid (2^22), so no process has it.
    let pid = holderAlive ? getpid() : 5_000_000
    try Data("\(pid)\n".utf8).write(to: URL(fileURLWithPath: directory.lockPath))
    let holder = open(directory.lockPath, O_RDWR | O_CLOEXEC)
    try #require(holder >= 0 && flock(holder, LOCK_EX | LOCK_NB) == 0)
    defer { close(holder) }
    expectVAEError(.busy, containing: ["\(folder) is being written by \(holderAlive ? "process \(pid)" : "another process") (it holds"]) {
        _ = try RunLock(directory)
    }
}

/// A holder that lives but belongs to another user (whom only root may signal: kill(pid, 0) fails
/// with EPERM, as the fault-injection library makes it here) is named all the same.
@Test func aRefusedLockNamesAnotherUsersLiveHolder() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let directory = RunDirectory(folder)
    try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: directory.lockPath))
    let holder = open(directory.lockPath, O_RDWR | O_CLOEXEC)
    try #require(holder >= 0 && flock(holder, LOCK_EX | LOCK_NB) == 0)
    defer { close(holder) }
    let refused = try runTool("vae-train", ["--run-dir", folder, "--data", syntheticData, "--no-download", "--epochs", "1"],
                              environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_DENY_SIGNAL": "1"])
    #expect(refused.status == 75 && refused.stderr.hasPrefix("vae-train: \(folder) is being written by process \(getpid()) (it holds"),
            "\(refused.stderr)")
}

@Test func shellWordsQuoteOnlyWhatAShellWouldRead() {
    #expect(shellWord("runs/default-2.5_x,y:z=1@host%") == "runs/default-2.5_x,y:z=1@host%")
    #expect(shellWord("my run") == "'my run'")
    #expect(shellWord("it's") == "'it'\\''s'")
    #expect(shellWord("$HOME") == "'$HOME'")
    #expect(shellWord("~/runs") == "'~/runs'")
    #expect(shellWord("=runs") == "'=runs'")
    #expect(shellWord("") == "''")
    #expect(shellWord("runs/ä") == "'runs/ä'")
    #expect(shellWord("--help") == "--help")
    #expect(shellPath("-run") == "./-run")
    #expect(shellPath("-my run") == "'./-my run'")
    #expect(shellPath("runs/-x") == "runs/-x" && shellPath("/tmp/my run") == "'/tmp/my run'")
}
