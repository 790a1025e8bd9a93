import Foundation
import Testing
import VAECore

/// The package root, found from this file's location.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The KMNIST copy the tests read: $KMNIST_DIR, else ../shared/kmnist beside the project.
let kmnistFolder: String = {
    if let env = ProcessInfo.processInfo.environment["KMNIST_DIR"], !env.isEmpty { return env }
    return packageRoot + "/../shared/kmnist"
}()

/// A fresh empty folder under the system temporary directory.
func temporaryFolder(_ name: String = #function) -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "vae-tests-\(safe)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func write(_ bytes: [UInt8], to path: String) {
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// Fills `count` floats with N(0, scale²) values from `random`.
func randomFloats(_ count: Int, random: inout Random, scale: Float = 1) -> [Float] {
    var values = [Float](repeating: 0, count: count)
    values.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: count) }
    return values.map { $0 * scale }
}

/// A small dataset of random blobs, for tests that train without KMNIST.
func syntheticImageSet(count: Int, seed: UInt64) -> ImageSet {
    var random = Random(seed: seed)
    var pixels = [UInt8](repeating: 0, count: count * VAEConfig.inputSize)
    var labels = [UInt8](repeating: 0, count: count)
    for n in 0..<count {
        let label = random.nextInt(below: 10)
        labels[n] = UInt8(label)
        let cx = 8 + Float(label % 5) * 3 + random.nextUniform() * 2, cy = 8 + Float(label / 5) * 10 + random.nextUniform() * 2
        for y in 0..<28 {
            for x in 0..<28 {
                let d = ((Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy)).squareRoot()
                pixels[n * 784 + y * 28 + x] = UInt8(max(0, min(255, 255 * (1 - (d - 4) / 2))))
            }
        }
    }
    return ImageSet(pixels: pixels, labels: labels)
}

/// Runs a built executable of this package and captures its exit code and output.
func runTool(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        Issue.record("\(binary.path) is not built; run `swift build` before `swift test`")
        return (-1, "", "")
    }
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
