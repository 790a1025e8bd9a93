import CVectorMath

// Vectorised exp and log1p for the loss, where libm's scalar expf and log1pf were the largest
// cost outside sgemm, eight lanes at a time: exp is Cephes' expf (range reduction plus a minimax
// polynomial, within 2 ulp), log1p a short atanh series over the one range the loss needs. Also
// the eight-lane loads and stores (ordinary and non-temporal) that the loss, Adam and the
// convolutions' copies share.

public typealias Float8 = SIMD8<Float>

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
}

@inline(__always)
func store8(_ value: Float8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: Float8.self)
}

/// Stores eight floats that another compute thread may have read since they were last
/// written: non-temporally (`vector_store_nontemporal8`, which says why) where `p` is 32-byte
/// aligned, as such a store needs, else as `store8` does. A part of a job that stores this way
/// ends with `streamingStoresDone()`.
@inline(__always)
func storeStreaming8(_ value: Float8, _ p: UnsafeMutablePointer<Float>) {
    if Int(bitPattern: p) & 31 == 0 {
        vector_store_nontemporal8(p, value)
    } else {
        store8(value, p)
    }
}

/// Makes this thread's `storeStreaming8` stores visible before its later stores, among them the
/// one that tells the caller a part of a job is done.
@inline(__always)
func streamingStoresDone() {
    vector_store_fence()
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

/// log(1 + y) for y in [0, 1] as 2·atanh(s), s = y / (2 + y) in [0, 1/3]: the series in s²
/// to s¹³ is within 1.5e-8 relative (at y = 1, in exact arithmetic), needs no branch, and stays
/// exact for tiny y.
@inline(__always)
func log1p8(_ y: Float8) -> Float8 {
    let s = y / (2 + y)
    let z = s * s
    var p = Float8(repeating: 1 / 13)
    p = p * z + 1 / 11
    p = p * z + 1 / 9
    p = p * z + 1 / 7
    p = p * z + 1 / 5
    p = p * z + 1 / 3
    p = p * z + 1
    return 2 * s * p
}

@inline(__always)
func abs8(_ x: Float8) -> Float8 {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: Float8.self)
}
