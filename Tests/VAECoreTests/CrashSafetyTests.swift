import Foundation
import Testing
import TestSupport
import VAECore

// The trainer as a process that dies: SIGKILL at chosen points (through the VAE_CRASH_* fault
// injection), Ctrl-C, and a file-size limit standing in for a full disk.

/// A folder with a small synthetic dataset under the KMNIST file names.
private func syntheticDataFolder() -> String {
    let folder = temporaryFolder()
    for (split, set) in [("train", syntheticImageSet(count: 240, seed: 31)), ("t10k", syntheticImageSet(count: 60, seed: 32))] {
        write(gzipCompress(encodeIDX(magic: idxImagesMagic, dimensions: [set.count, 28, 28], payload: set.pixels)),
              to: folder + "/\(split)-images-idx3-ubyte.gz")
        write(gzipCompress(encodeIDX(magic: idxLabelsMagic, dimensions: [set.count], payload: set.labels)),
              to: folder + "/\(split)-labels-idx1-ubyte.gz")
    }
    return folder
}

/// 3 epochs of 6 batches of a small model.
private func trainArguments(data: String, runDir: String, epochs: Int = 3) -> [String] {
    ["--data", data, "--no-download", "--run-dir", runDir, "--epochs", String(epochs), "--hidden", "32",
     "--latent-dim", "4", "--batch-size", "40", "--threads", "1", "--seed", "5"]
}

/// The files that must come out identical: checkpoints and the resume state (metrics.jsonl
/// holds timings).
private func runFiles(_ folder: String) throws -> [String: [UInt8]] {
    let directory = RunDirectory(folder)
    var files: [String: [UInt8]] = ["state": try readFile(directory.statePath)]
    for epoch in directory.checkpointEpochs() { files["epoch \(epoch)"] = try readFile(directory.checkpoint(epoch: epoch)) }
    return files
}

private func leftoverTemporaryFiles(_ folder: String) -> [String] {
    [folder, folder + "/checkpoints"].flatMap { dir in
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(temporaryFileSuffix) }
    }
}

private let data = syntheticDataFolder()

private let reference: [String: [UInt8]] = {
    let folder = temporaryFolder("reference") + "/run"
    let result = try! runTool("vae-train", trainArguments(data: data, runDir: folder))
    precondition(result.status == 0, result.stderr)
    return try! runFiles(folder)
}()

enum CrashPoint: CustomStringConvertible, Sendable {
    case afterBatches(Int)
    /// A fraction into the n-th file write of the run (0: the epoch-0 state, then per epoch:
    /// checkpoint, metrics, state).
    case insideWrite(Int, Double)

    var description: String {
        switch self {
        case .afterBatches(let n): return "after batch \(n)"
        case .insideWrite(let n, let f): return "\(Int(f * 100))% into write \(n)"
        }
    }
}

/// Killing the trainer at any of these points and resuming (as often as needed) ends with
/// checkpoints and state byte-identical to an uninterrupted run, and no temporary file left.
@Test(arguments: [
    CrashPoint.afterBatches(3), .afterBatches(6), .afterBatches(11),
    .insideWrite(0, 0.5), .insideWrite(1, 0.01), .insideWrite(1, 0.5), .insideWrite(1, 0.999),
    .insideWrite(3, 0.5), .insideWrite(4, 0.5), .insideWrite(6, 0.9),
])
func killedRunsResumeToIdenticalCheckpoints(at point: CrashPoint) throws {
    let checkpointSize = reference["epoch 1"]!.count, stateSize = reference["state"]!.count
    let metricsSize = 200  // about one metrics line; the exact size does not matter for the points used
    let writes = [stateSize, checkpointSize, metricsSize, stateSize, checkpointSize, metricsSize * 2, stateSize]
    let environment: [String: String]
    switch point {
    case .afterBatches(let n):
        environment = ["VAE_CRASH_AFTER_BATCHES": String(n)]
    case .insideWrite(let n, let fraction):
        let before = writes[..<n].reduce(0, +)
        environment = ["VAE_CRASH_AFTER_BYTES": String(before + Int(Double(writes[n]) * fraction))]
    }
    let folder = temporaryFolder() + "/run"
    let killed = try runTool("vae-train", trainArguments(data: data, runDir: folder), environment: environment)
    #expect(killed.status == SIGKILL, "the fault injection should have killed the run: \(killed.stderr)")

    var attempts = 0
    var resumed = (status: Int32(-1), stdout: "", stderr: "")
    while resumed.status != 0 && attempts < 3 {
        // Killed before the first state was complete, a run can only start again; the trainer says so.
        let started = FileManager.default.fileExists(atPath: RunDirectory(folder).statePath)
        resumed = try runTool("vae-train", started
            ? ["--resume", folder, "--data", data, "--no-download", "--epochs", "3", "--threads", "1"]
            : trainArguments(data: data, runDir: folder))
        attempts += 1
    }
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(try runFiles(folder) == reference, "resumed after a crash \(point)")
    #expect(leftoverTemporaryFiles(folder).isEmpty)
}

/// Ctrl-C stops between batches with exit 130, says how to resume, keeps the finished
/// checkpoints valid, and the resumed run matches an uninterrupted one.
@Test func ctrlCStopsCleanlyAndResumes() throws {
    let folder = temporaryFolder() + "/run"
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vae-train")
    let process = Process()
    process.executableURL = binary
    process.arguments = trainArguments(data: data, runDir: folder, epochs: 200)
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    while RunDirectory(folder).checkpointEpochs().isEmpty && Date() < deadline { usleep(20_000) }
    kill(process.processIdentifier, SIGINT)
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 130)
    #expect(message.contains("interrupted during epoch"), "\(message)")
    #expect(message.contains("Continue with: vae-train --resume \(folder)"), "\(message)")
    let epochs = RunDirectory(folder).checkpointEpochs()
    #expect(!epochs.isEmpty && epochs.count < 200)
    for epoch in epochs { _ = try readCheckpoint(RunDirectory(folder).checkpoint(epoch: epoch)) }

    if epochs.last! <= 3 {
        let resumed = try runTool("vae-train", ["--resume", folder, "--data", data, "--no-download", "--epochs", "3", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        var files = try runFiles(folder)
        var expected = reference
        // The interrupted run planned 200 epochs, which its first checkpoints record.
        for epoch in 1...epochs.last! { #expect(files.removeValue(forKey: "epoch \(epoch)") != nil); expected.removeValue(forKey: "epoch \(epoch)") }
        #expect(files == expected)
    }
}

/// A temporary file left by a crash is removed when the run starts again.
@Test func leftoverTemporaryFilesAreCleanedUp() throws {
    let folder = temporaryFolder() + "/run"
    try FileManager.default.createDirectory(atPath: folder + "/checkpoints", withIntermediateDirectories: true)
    write([1, 2, 3], to: folder + "/checkpoints/.epoch-0001.safetensors" + temporaryFileSuffix)
    write([1, 2, 3], to: folder + "/.state.safetensors" + temporaryFileSuffix)
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 1))
    #expect(result.status == 0, "\(result.stderr)")
    #expect(leftoverTemporaryFiles(folder).isEmpty)
}

/// A write that fails (here: past a file-size limit, as on a full disk) is one clear error;
/// the earlier checkpoints stay intact and no temporary file is left.
@Test func aFailedWriteKeepsEveryEarlierCheckpoint() throws {
    let folder = temporaryFolder() + "/run"
    #expect(try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 2)).status == 0)
    let before = try runFiles(folder)
    // ulimit -f counts 1024-byte blocks; leave room for small files but not for a checkpoint.
    let blocks = before["epoch 1"]!.count / 1024 / 2
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vae-train").path
    let command = "ulimit -f \(blocks); exec '\(binary)' --resume '\(folder)' --data '\(data)' --no-download --epochs 3 --threads 1"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", command]
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 73, "\(message)")
    #expect(message.hasPrefix("vae-train: cannot write \(folder)/checkpoints/.epoch-0003.safetensors\(temporaryFileSuffix)"), "\(message)")
    #expect(message.filter { $0 == "\n" }.count == 1)
    #expect(try runFiles(folder) == before)
    #expect(leftoverTemporaryFiles(folder).isEmpty)
}

@Test func anUnwritableRunFolderIsRefused() throws {
    let parent = temporaryFolder()
    write([0], to: parent + "/file")
    let result = try runTool("vae-train", trainArguments(data: data, runDir: parent + "/file/run", epochs: 1))
    #expect(result.status == 73)
    #expect(result.stderr.contains("cannot create the run folder \(parent)/file/run"), "\(result.stderr)")
}

/// A learning rate that makes training blow up stops it with the epoch and batch named, and
/// no checkpoint is written from the diverged state.
@Test func divergenceStopsWithoutACheckpoint() throws {
    let folder = temporaryFolder() + "/run"
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder) + ["--lr", "1e6"])
    #expect(result.status == 70, "\(result.stderr)")
    #expect(result.stderr.contains("training diverged in epoch 1"), "\(result.stderr)")
    #expect(RunDirectory(folder).checkpointEpochs().isEmpty)
}

/// After the last epoch the trainer estimates -log p(x) by importance sampling and records it in
/// the last metrics line and the last checkpoint, and only there.
@Test func theLastEpochRecordsTheImportanceWeightedEstimate() throws {
    let folder = temporaryFolder() + "/run"
    let result = try runTool("vae-train", trainArguments(data: data, runDir: folder, epochs: 2) + ["--iwae-k", "50"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("(IWAE, k=50)"), "\(result.stdout)")
    let lines = try String(contentsOfFile: RunDirectory(folder).metricsPath, encoding: .utf8).split(separator: "\n")
    let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    #expect(objects[0]["test_iwae"] == nil)
    let iwae = try #require((objects[1]["test_iwae"] as? NSNumber)?.doubleValue)
    let elbo = try #require((objects[1]["test_loss"] as? NSNumber)?.doubleValue)
    #expect(iwae < elbo && iwae > elbo - 20, "IWAE \(iwae) against the negative ELBO \(elbo)")
    #expect((objects[1]["iwae_k"] as? NSNumber)?.intValue == 50)
    let last = try readSafetensors(RunDirectory(folder).checkpoint(epoch: 2))
    // Compared as numbers: JSONSerialization may round the last digit of what it parses.
    let recorded = try #require(last.metadata["test_iwae"].flatMap(Double.init))
    #expect(abs(recorded - iwae) <= 1e-12 * abs(iwae) && last.metadata["iwae_k"] == "50", "\(recorded) against \(iwae)")
    #expect(try readSafetensors(RunDirectory(folder).checkpoint(epoch: 1)).metadata["test_iwae"] == nil)
}
