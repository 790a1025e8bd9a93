import Foundation
import Synchronization
import VAECore
import VAETesting

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
public func runTool(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                    workingDirectory: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = URL(fileURLWithPath: try toolPath(name))
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
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

/// fixtures/synthetic as `KMNIST.load` and `--data` read it: a temporary folder of links under
/// the official file names, made once per process.
public let syntheticData = linkUnderKMNISTNames(packageRoot + "/fixtures/synthetic")

public struct PreloadBuildFailed: Error, CustomStringConvertible {
    public let description: String
}

/// Tests/Preload/<name>.c built as a shared library for LD_PRELOAD (with the system's C compiler,
/// once per process), so that what it stands in for stays out of the tools themselves.
public func preloadLibrary(_ name: String) throws -> String {
    try preloadLibraries.withLock { built in
        if let path = built[name] { return path }
        let output = temporaryFolder("preload") + "/lib\(name).so"
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compile.arguments = ["cc", "-shared", "-fPIC", "-O2", "-o", output, packageRoot + "/Tests/Preload/\(name).c", "-ldl"]
        let errors = Pipe()
        compile.standardError = errors
        try compile.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        compile.waitUntilExit()
        guard compile.terminationStatus == 0 else {
            throw PreloadBuildFailed(description: "cc could not build Tests/Preload/\(name).c: \(message)")
        }
        built[name] = output
        return output
    }
}

private let preloadLibraries = Mutex<[String: String]>([:])

/// The Python the tests run reference readers with: the project's own virtual environment,
/// which `scripts/install-dependencies --tests` makes, else the first python3 on the PATH.
public let testPython: String = {
    let venv = packageRoot + "/.build/python-tests/bin/python"
    if FileManager.default.isExecutableFile(atPath: venv) { return venv }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { $0 + "/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        ?? "/usr/bin/python3"
}()
