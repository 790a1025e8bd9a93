import Foundation
import Testing
import TestSupport
import VAECore

/// The KMNIST copy the tests read: $KMNIST_DIR, else ../shared/kmnist beside the project.
let kmnistFolder: String = {
    if let env = ProcessInfo.processInfo.environment["KMNIST_DIR"], !env.isEmpty { return env }
    return packageRoot + "/../shared/kmnist"
}()

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
