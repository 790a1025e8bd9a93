import Foundation
import Testing
import VAECore
import VAERender

// Test targets cannot share code without a support target, so the few helpers that
// Tests/VAECoreTests/TestSupport.swift also has (package root, temporary folder, runTool) are
// repeated here in the form these tests need.

/// The package root, found from this file's location.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// fixtures/ of the repository: the synthetic dataset, the tiny runs and the golden GIFs.
let fixturesFolder = packageRoot + "/fixtures"
let syntheticData = fixturesFolder + "/synthetic"

func fixtureRun(_ name: String) -> String { fixturesFolder + "/runs/" + name }

/// A fresh empty folder under the system temporary directory.
func temporaryFolder(_ name: String = #function) -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "vae-render-tests-\(safe)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A copy of fixture run `name` in a temporary folder, with only the checkpoints of `epochs`
/// (all of them when nil), for tests that damage or rearrange a run.
func copyOfFixtureRun(_ name: String, epochs: [Int]? = nil, function: String = #function) throws -> RunDirectory {
    let source = RunDirectory(fixtureRun(name))
    let copy = RunDirectory(temporaryFolder(function) + "/" + name)
    try FileManager.default.createDirectory(atPath: copy.checkpointsFolder, withIntermediateDirectories: true)
    for epoch in epochs ?? source.checkpointEpochs() {
        try FileManager.default.copyItem(atPath: source.checkpoint(epoch: epoch), toPath: copy.checkpoint(epoch: epoch))
    }
    return copy
}

/// A fixture run read back, with the synthetic test set and a codec for its configuration.
struct LoadedFixture {
    let replay: RunReplay
    let test: ImageSet
    let codec: LatentCodec

    init(_ name: String) throws {
        replay = try RunReplay(runDirectory: fixtureRun(name))
        test = try loadTestImages(from: syntheticData).images
        codec = LatentCodec(config: replay.run.model)
    }

    var checkpoints: [Checkpoint] {
        var all: [Checkpoint] = []
        try! replay.forEachCheckpoint { checkpoint, _ in all.append(checkpoint) }
        return all
    }
}

func fileNames(in folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}

/// Runs a built executable of this package and captures its exit code and output.
func runTool(_ name: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        Issue.record("\(binary.path) is not built; run `swift build` before `swift test`")
        return (-1, "", "")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}
