import Foundation
import Synchronization
import VAECore
import VAETesting

// Helpers shared by both test targets.

extension KMNIST {
    /// The test split of `folder`, as the tools load it for a run.
    public static func loadTestImages(from folder: String) throws -> (images: ImageSet, path: String) {
        try loadSplit(.test, from: folder, advice: runDataAdvice)
    }
}

/// The package root, found from this file's location.
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The folder that holds every temporary folder of this test process, removed when the process
/// exits; the folders shared by many tests (`syntheticData`, the preload libraries, fixtures made
/// once per process) stay there until then. Made on first use, when it also removes the roots of
/// test processes that no longer run (a suite stopped by a time limit runs no exit handler).
public let temporaryRoot: String = {
    let parent = NSTemporaryDirectory()
    // The prefix first: a regular expression on each of the 27,000 entries that SwiftPM had left
    // in one machine's /tmp took a second, and twelve with the processors busy.
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix("vae-tests-") {
        if let owner = entry.wholeMatch(of: /vae-tests-(\d+)-[0-9A-F]{8}/).flatMap({ pid_t($0.1) }),
           kill(owner, 0) != 0 && errno == ESRCH {
            try? FileManager.default.removeItem(atPath: parent + entry)
        }
    }
    let root = parent + "vae-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: temporaryRoot) }
    return root
}()

/// A fresh empty folder under `temporaryRoot`, named after the test. A test removes it when it
/// ends, whether it passes or not: `defer { removeTemporaryFolder(folder) }` right after.
public func temporaryFolder(_ name: String = #function) -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = temporaryRoot + "/\(safe)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Removes the folder made by `temporaryFolder()` that is or holds `path`.
public func removeTemporaryFolder(_ path: String) {
    precondition(path.hasPrefix(temporaryRoot + "/"), "\(path) is not in \(temporaryRoot)")
    let folder = path.dropFirst(temporaryRoot.count + 1).prefix { $0 != "/" }
    precondition(!folder.isEmpty, "\(path) is not in a folder of \(temporaryRoot)")
    try? FileManager.default.removeItem(atPath: temporaryRoot + "/" + folder)
}

public func write(_ bytes: [UInt8], to path: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// `bytes`, a safetensors file the tools wrote whose data a test then altered, with the checksum
/// its header records made to match the data again: for tests of the checks behind that one.
public func resealed(_ bytes: [UInt8]) -> [UInt8] {
    let headerLength = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    let header = String(decoding: bytes[8..<8 + headerLength], as: UTF8.self), key = "\"\(dataChecksumKey)\":\""
    guard let recorded = header.range(of: key) else { preconditionFailure("no \(dataChecksumKey) in \(header)") }
    let checksum = bytes.withUnsafeBytes { crc32(of: [UnsafeRawBufferPointer(rebasing: $0[(8 + headerLength)...])]) }
    let value = recorded.upperBound..<header.index(recorded.upperBound, offsetBy: 8)
    return Array(bytes[..<8]) + Array(header.replacingCharacters(in: value, with: checksum).utf8) + bytes[(8 + headerLength)...]
}

/// A safetensors file's JSON header and the data bytes after it.
public func headerAndData(_ path: String) throws -> (header: String, data: [UInt8]) {
    let bytes = try readFile(path)
    let headerLength = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    return (String(decoding: bytes[8..<8 + headerLength], as: UTF8.self), Array(bytes[(8 + headerLength)...]))
}

/// Rebuilds a safetensors file from a header string and data bytes.
public func safetensors(header: String, data: [UInt8]) -> [UInt8] {
    let json = Array(header.utf8)
    var length = UInt64(json.count).littleEndian
    return withUnsafeBytes(of: &length) { Array($0) } + json + data
}

/// Writes `set`'s images and labels as IDX files (gzipped unless `raw`) into `folder` under the
/// KMNIST names of `split` ("train" or "t10k"), and returns the two paths.
@discardableResult
public func writeSplit(_ set: ImageSet, split: String, in folder: String, raw: Bool = false) -> (images: String, labels: String) {
    let images = folder + "/\(split)-images-idx3-ubyte" + (raw ? "" : ".gz")
    let labels = folder + "/\(split)-labels-idx1-ubyte" + (raw ? "" : ".gz")
    let imageBytes = encodeIDX(magic: idxImagesMagic, dimensions: [set.count, 28, 28], payload: set.pixels)
    let labelBytes = encodeIDX(magic: idxLabelsMagic, dimensions: [set.count], payload: set.labels)
    write(raw ? imageBytes : gzipCompress(imageBytes), to: images)
    write(raw ? labelBytes : gzipCompress(labelBytes), to: labels)
    return (images, labels)
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

/// Runs an executable of this package and returns its exit status and output. A run that takes
/// longer than `timeLimit` is stopped, and the error thrown names the tool, its arguments and the limit.
public func runTool(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                    workingDirectory: String? = nil, timeLimit: Duration = processTimeLimit) throws -> ProcessOutput {
    let tool = try ChildProcess(try toolPath(name), arguments, environment: environment, workingDirectory: workingDirectory,
                                timeLimit: timeLimit)
    defer { tool.stop() }
    return try tool.finish()
}

/// `runTool` under `ulimit -f blocks` (1024-byte blocks), as on a nearly full disk, with standard
/// output sent to the file `standardOutput` if one is given.
public func runToolWithFileSizeLimit(_ name: String, _ arguments: [String], blocks: Int,
                                     standardOutput: String? = nil) throws -> ProcessOutput {
    try runToolUnderLimit(name, arguments, ulimit: "-f \(blocks)", standardOutput: standardOutput)
}

/// `runTool` under `ulimit LIMIT` ("-f 1000", "-v 3000000"), with standard output sent to the
/// file `standardOutput` if one is given.
public func runToolUnderLimit(_ name: String, _ arguments: [String], ulimit limit: String,
                              standardOutput: String? = nil) throws -> ProcessOutput {
    let command = "ulimit \(limit); exec " + ([try toolPath(name)] + arguments).map(shellWord).joined(separator: " ")
        + (standardOutput.map { " > " + shellWord($0) } ?? "")
    let shell = try ChildProcess("/bin/bash", ["-c", command])
    defer { shell.stop() }
    return try shell.finish()
}

/// fixtures/synthetic as `KMNIST.load` and `--data` read it: a temporary folder of links under
/// the official file names, made once per process.
public let syntheticData = try! linkUnderKMNISTNames(packageRoot + "/fixtures/synthetic", into: temporaryFolder("synthetic"))

public struct PreloadBuildFailed: Error, CustomStringConvertible {
    public let description: String
}

/// Tests/Preload/<name>.c built as a shared library for LD_PRELOAD (once per process), so that
/// what it stands in for stays out of the tools themselves. With the Swift toolchain's clang, which
/// SwiftPM compiles the C targets with: a system without gcc has no `cc`.
public func preloadLibrary(_ name: String) throws -> String {
    try preloadLibraries.withLock { built in
        if let path = built[name] { return path }
        // The dynamic loader maps no library from a file system mounted noexec (a hardened /tmp);
        // 8 is ST_NOEXEC, which Swift does not import.
        var info = statvfs()
        if statvfs(temporaryRoot, &info) == 0 && info.f_flag & 8 != 0 {
            throw PreloadBuildFailed(description: "\(temporaryRoot) is on a file system mounted noexec, from which no library can be "
                                     + "preloaded; run the tests with TMPDIR set to a folder that allows executables")
        }
        let output = temporaryFolder("preload") + "/lib\(name).so"
        let compile = try ChildProcess("/usr/bin/env", ["clang", "-shared", "-fPIC", "-O2", "-o", output,
                                                        packageRoot + "/Tests/Preload/\(name).c", "-ldl"])
        defer { compile.stop() }
        let result = try compile.finish()
        guard result.status == 0 else {
            throw PreloadBuildFailed(description: "clang could not build Tests/Preload/\(name).c: \(result.stderr)")
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

extension VAEModel {
    /// The named view of the flat parameter buffer, as the checkpoint names it.
    public func tensor(named name: String) -> ParameterTensor? {
        layout.tensors.first { $0.name == name }
    }
}

/// A whole file that a test or a tool wrote, of any size.
public func readFile(_ path: String) throws -> [UInt8] { try readFile(path, atMost: .max) }
