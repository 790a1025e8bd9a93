import Foundation
import VAECore

// Helpers shared by both test targets.

/// The package root, found from this file's location.
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A fresh empty folder under the system temporary directory, named after the test.
public func temporaryFolder(_ name: String = #function) -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "vae-tests-\(safe)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

public func write(_ bytes: [UInt8], to path: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

public struct ToolNotBuilt: Error, CustomStringConvertible {
    public let path: String
    public var description: String { "\(path) is not built; run `swift build` before `swift test`" }
}

/// The path of an executable of this package, built beside the test binary.
public func toolPath(_ name: String) throws -> String {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw ToolNotBuilt(path: binary.path) }
    return binary.path
}

/// Runs an executable of this package and captures its exit code and output.
public func runTool(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws
    -> (status: Int32, stdout: String, stderr: String) {
    let binary = URL(fileURLWithPath: try toolPath(name))
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// fixtures/synthetic holds the stand-in dataset under names of its own, in `KMNIST.files`
/// order, so that nothing in the repository passes for a KMNIST file.
public let syntheticFileNames = ["train-images.gz", "train-labels.gz", "test-images.gz", "test-labels.gz"]

/// fixtures/synthetic as `KMNIST.load` and `--data` read it: a temporary folder of links under
/// the official file names, made once per process.
public let syntheticData = linkUnderKMNISTNames(packageRoot + "/fixtures/synthetic")

/// A new temporary folder in which the `syntheticFileNames` of `folder` appear under the official names.
public func linkUnderKMNISTNames(_ folder: String) -> String {
    let linked = temporaryFolder("syntheticData")
    let folder = URL(fileURLWithPath: folder).path  // links need an absolute target
    for (stored, official) in zip(syntheticFileNames, KMNIST.files) {
        try! FileManager.default.createSymbolicLink(atPath: linked + "/" + official.name + ".gz",
                                                    withDestinationPath: folder + "/" + stored)
    }
    return linked
}
