// Vectorised exp and log1p for the loss, where libm's scalar expf and log1pf were the largest
// cost outside sgemm. Eight lanes at a time; the algorithms are Cephes' expf and logf
// (range reduction plus a minimax polynomial, within 2 ulp over the ranges used here).

public typealias Float8 = SIMD8<Float>

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
}

@inline(__always)
func store8(_ value: Float8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: Float8.self)
}

/// e^x for x ≤ 88; inputs below -87 give e^-87 rather than a denormal.
@inline(__always)
func exp8(_ x: Float8) -> Float8 {
    // Clamp with selects: the generic pointwiseMin/Max are not inlined.
    var x = x.replacing(with: -87, where: x .< -87)
    x = x.replacing(with: 88, where: x .> 88)
    // n = round(x / ln 2) by the 1.5·2²³ trick, which also leaves n in the low mantissa bits.
    let shifted = x * 1.442_695_04 + 12_582_912
    let n = shifted - 12_582_912
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = Float8(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let expR = p * r * r + r + 1
    let bits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127
    return expR * unsafeBitCast(bits &<< 23, to: Float8.self)
}

/// log(1 + y) for y in [0, 1], accurate for tiny y as well (Goldberg's correction of 1 + y).
@inline(__always)
func log1p8(_ y: Float8) -> Float8 {
    let u = 1 + y
    // u = 2^k · m with m in [√½, √2): here u is in [1, 2], so k is 0 or 1.
    let large = u .> 1.414_213_56
    let m = u.replacing(with: u * 0.5, where: large)
    let k = Float8.zero.replacing(with: 1, where: large)
    let f = m - 1
    let z = f * f
    var p = Float8(repeating: 7.037_683_629_2e-2)
    p = p * f - 1.151_461_031_0e-1
    p = p * f + 1.167_699_874_0e-1
    p = p * f - 1.242_014_084_6e-1
    p = p * f + 1.424_932_278_7e-1
    p = p * f - 1.666_805_766_5e-1
    p = p * f + 2.000_071_476_5e-1
    p = p * f - 2.499_999_399_3e-1
    p = p * f + 3.333_333_117_4e-1
    var logU = p * f * z
    logU += k * -2.121_944_4e-4
    logU -= 0.5 * z
    logU += f + k * 0.693_359_375
    // 1 + y rounds; log(u)·y/(u - 1) undoes that rounding, and u == 1 means log1p(y) = y.
    let d = u - 1
    let corrected = logU * y / d.replacing(with: 1, where: d .== 0)
    return corrected.replacing(with: y, where: d .== 0)
}

@inline(__always)
func abs8(_ x: Float8) -> Float8 {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: Float8.self)
}

/// √x for x ≥ 0. SIMD8's own squareRoot() becomes eight scalar libm calls on Linux, which made
/// Adam the slowest loop outside sgemm; this is the classic reciprocal-square-root seed refined by
/// three Newton steps (relative error below 1e-7), times x.
@inline(__always)
func sqrt8(_ x: Float8) -> Float8 {
    let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
    var y = unsafeBitCast(0x5F37_5A86 &- (bits &>> 1), to: Float8.self)
    let half = 0.5 * x
    y = y * (1.5 - half * y * y)
    y = y * (1.5 - half * y * y)
    y = y * (1.5 - half * y * y)
    return (x * y).replacing(with: 0, where: x .== 0)
}
