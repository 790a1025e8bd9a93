import Foundation

/// xoshiro256** seeded through splitmix64: fast, statistically solid, and its whole state is
/// four integers, which `state.safetensors` stores so that a resumed run draws the same numbers.
/// A `RandomNumberGenerator`, so that Swift's own `random(in:using:)` can draw from it too.
public struct Random: Sendable, RandomNumberGenerator {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var mixer = seed
        func splitmix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        self.state = state
    }

    /// An independent stream for a purpose (such as evaluating epoch 7), derived from the seed,
    /// so that evaluation never shifts the training stream.
    public init(seed: UInt64, stream: UInt64) {
        self.init(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03) ^ 0x5851_F42D_4C95_7F2D)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits, every value exactly representable as a Float.
    @inline(__always)
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform integer in 0..<bound without modulo bias (Lemire's method).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0)
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// Fills `buffer` with N(0, 1) draws by the Box-Muller transform, two per pair of uniforms.
    /// An odd count discards the last partner so the state stays four integers.
    public mutating func fillNormal(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count {
            // 1 - u lies in (0, 1], so the logarithm is finite.
            let u1 = 1 - nextUniform()
            let u2 = nextUniform()
            let radius = (-2 * logf(u1)).squareRoot()
            let angle = 2 * Float.pi * u2
            buffer[i] = radius * cosf(angle)
            if i + 1 < count { buffer[i + 1] = radius * sinf(angle) }
            i += 2
        }
    }

    public mutating func fillUniform(_ buffer: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
        for i in 0..<count {
            buffer[i] = low + (high - low) * nextUniform()
        }
    }

    /// Fisher-Yates shuffle of `0..<count` into `order`.
    public mutating func shuffle(_ order: UnsafeMutablePointer<Int32>, count: Int) {
        for i in 0..<count { order[i] = Int32(i) }
        var i = count - 1
        while i > 0 {
            let j = nextInt(below: i + 1)
            order.swapAt(i, j)
            i -= 1
        }
    }
}

@inline(__always)
private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
    (x << k) | (x >> (64 - k))
}

private extension UnsafeMutablePointer {
    @inline(__always)
    func swapAt(_ i: Int, _ j: Int) {
        let t = self[i]
        self[i] = self[j]
        self[j] = t
    }
}
