import COpenBLAS
import Foundation

// Every layer is a forward function and a backward function over plain row-major buffers
// with explicit shapes, in the manner of llm.c. Weights use PyTorch's [outputs, inputs] layout,
// so checkpoints line up with `nn.Linear` state dicts. Backward functions overwrite their
// gradient outputs (beta = 0): every parameter is used once per step, so nothing needs zeroing.

public typealias Floats = UnsafeMutablePointer<Float>
public typealias ConstFloats = UnsafePointer<Float>

/// Wall time spent inside cblas_sgemm, measured around every call when `enabled`, so that
/// the benchmark can report the sgemm share of an epoch instead of estimating it.
public final class SgemmClock: @unchecked Sendable {
    public static let shared = SgemmClock()
    public var enabled = false
    public private(set) var nanoseconds: UInt64 = 0
    public private(set) var calls = 0
    /// While not nil, every call is also appended here, so that the benchmark can replay exactly
    /// the products of a training step without anything else (`benchmarkTraining`).
    var recording: [SgemmCall]?

    public func reset() {
        nanoseconds = 0
        calls = 0
    }

    fileprivate func record(since start: UInt64) {
        nanoseconds += DispatchTime.now().uptimeNanoseconds - start
        calls += 1
    }
}

/// The arguments of one sgemm call: C = op(A)·op(B) + beta·C, row-major.
struct SgemmCall: SplitJob {
    let transA: Bool, transB: Bool
    let m: Int, n: Int, k: Int
    let a: ConstFloats, lda: Int
    let b: ConstFloats, ldb: Int
    let c: Floats, ldc: Int
    let beta: Float

    /// Splits C into bands of rows, one per compute thread. The bands start on multiples of 12
    /// rows, the tile height of OpenBLAS's Haswell and Zen sgemm kernels: every element of C is
    /// then computed by the same kernel code, summing its k products in the same order, as in the
    /// unsplit call, so the result is bit-identical for every thread count. (Bands of 16 rows, or
    /// of columns, change the last bits of some elements.)
    func run() {
        guard m * n * k >= 32_768 else { return runOnThisThread() }
        ComputeThreads.shared.forEachPart(of: m, alignment: 12, self)
    }

    /// Rows `range` of C, on this thread.
    func run(part: Int, range: Range<Int>) {
        rows(range).runOnThisThread()
    }

    @inline(__always)
    func runOnThisThread() {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The product for rows `range` of C: the same rows of op(A).
    func rows(_ range: Range<Int>) -> SgemmCall {
        SgemmCall(transA: transA, transB: transB, m: range.count, n: n, k: k,
                  a: transA ? a + range.lowerBound : a + range.lowerBound * lda, lda: lda, b: b, ldb: ldb,
                  c: c + range.lowerBound * ldc, ldc: ldc, beta: beta)
    }
}

/// C = op(A)·op(B) + beta·C in row-major order, split among the compute threads; every matrix
/// product of the model goes through here.
@inline(__always)
func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
           _ a: ConstFloats, _ lda: Int, _ b: ConstFloats, _ ldb: Int, _ c: Floats, _ ldc: Int, beta: Float = 0) {
    let call = SgemmCall(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                         c: c, ldc: ldc, beta: beta)
    let clock = SgemmClock.shared
    clock.recording?.append(call)
    let start = clock.enabled ? DispatchTime.now().uptimeNanoseconds : 0
    call.run()
    if clock.enabled { clock.record(since: start) }
}

public enum Activation: String, Sendable, CaseIterable {
    case none
    case relu
}

/// out[rows, outputs] = activation(inp[rows, inputs] · weight[outputs, inputs]ᵀ + bias).
/// The bias and the activation are applied in one pass after the sgemm.
public func linearForward(_ out: Floats, _ inp: ConstFloats, weight: ConstFloats, bias: ConstFloats,
                          rows: Int, inputs: Int, outputs: Int, activation: Activation) {
    sgemm(false, true, rows, outputs, inputs, inp, inputs, weight, inputs, out, outputs)
    addBias(out, bias, rows: rows, outputs: outputs, activation: activation)
}

/// In place: out[r, o] ← activation(out[r, o] + bias[o]), the pass after a layer's sgemm.
func addBias(_ out: Floats, _ bias: ConstFloats, rows: Int, outputs: Int, activation: Activation) {
    struct Job: SplitJob {
        let out: Floats, bias: ConstFloats, outputs: Int, activation: Activation
        func run(part: Int, range rows: Range<Int>) {
            for r in rows {
                let row = out + r * outputs
                switch activation {
                case .none:
                    for o in 0..<outputs { row[o] += bias[o] }
                case .relu:
                    for o in 0..<outputs { row[o] = max(row[o] + bias[o], 0) }
                }
            }
        }
    }
    ComputeThreads.shared.forEachPart(of: rows, alignment: 16,
                                      Job(out: out, bias: bias, outputs: outputs, activation: activation))
}

/// Given dout = ∂L/∂out, writes ∂L/∂weight, ∂L/∂bias and (unless `dinp` is nil, as for the
/// first layer) ∂L/∂inp. `dout` must already include the activation's derivative.
public func linearBackward(dinp: Floats?, dweight: Floats, dbias: Floats, dout: ConstFloats,
                           inp: ConstFloats, weight: ConstFloats,
                           rows: Int, inputs: Int, outputs: Int) {
    sgemm(true, false, outputs, inputs, rows, dout, outputs, inp, inputs, dweight, inputs)
    biasGradient(dbias, dout: dout, rows: rows, outputs: outputs)
    if let dinp {
        sgemm(false, false, rows, inputs, outputs, dout, outputs, weight, inputs, dinp, inputs)
    }
}

/// dbias[o] = Σ_r dout[r, o]: a bias is added to every row, so its gradient sums them.
func biasGradient(_ dbias: Floats, dout: ConstFloats, rows: Int, outputs: Int) {
    // Split by outputs, so that every sum still runs over the rows in order.
    struct Job: SplitJob {
        let dbias: Floats, dout: ConstFloats, rows: Int, outputs: Int
        func run(part: Int, range: Range<Int>) {
            let dbiasPart = dbias + range.lowerBound, width = range.count
            dbiasPart.update(repeating: 0, count: width)
            for r in 0..<rows {
                let row = dout + r * outputs + range.lowerBound
                for o in 0..<width { dbiasPart[o] += row[o] }
            }
        }
    }
    ComputeThreads.shared.forEachPart(of: outputs, alignment: 16, Job(dbias: dbias, dout: dout, rows: rows, outputs: outputs))
}

/// In place: dout ← dout · 1[out > 0], where `out` is the ReLU's output.
public func reluBackward(_ dout: Floats, out: ConstFloats, count: Int) {
    struct Job: SplitJob {
        let dout: Floats, out: ConstFloats
        func run(part: Int, range: Range<Int>) {
            for i in range where out[i] <= 0 { dout[i] = 0 }
        }
    }
    ComputeThreads.shared.forEachPart(of: count, alignment: 64, Job(dout: dout, out: out))
}

// The encoder's head writes one [rows, 2·latent] buffer: mu in the first `latent` columns and
// log σ² in the rest, so one sgemm computes both.

/// z = mu + eps · exp(logvar / 2), the reparameterisation that lets gradients reach the encoder.
public func reparameterizeForward(z: Floats, head: ConstFloats, eps: ConstFloats, rows: Int, latent: Int) {
    for r in 0..<rows {
        let mu = head + r * 2 * latent, logvar = mu + latent
        let e = eps + r * latent, zr = z + r * latent
        for j in 0..<latent { zr[j] = mu[j] + e[j] * expf(0.5 * logvar[j]) }
    }
}

/// KL(N(mu, σ²) ‖ N(0, I)) = -½ Σ (1 + log σ² - mu² - σ²), summed over rows and latent dimensions.
public func klDivergence(head: ConstFloats, rows: Int, latent: Int) -> Double {
    var total = 0.0
    for r in 0..<rows {
        let mu = head + r * 2 * latent, logvar = mu + latent
        for j in 0..<latent { total -= 0.5 * Double(1 + logvar[j] - mu[j] * mu[j] - expf(logvar[j])) }
    }
    return total
}

/// Backward of the reparameterisation and of `klWeight` · KL together, into the head gradient:
/// ∂/∂mu = dz + w·mu, ∂/∂logvar = ½·dz·eps·σ + ½·w·(σ² - 1).
public func reparameterizeKLBackward(dhead: Floats, dz: ConstFloats, head: ConstFloats, eps: ConstFloats,
                                     rows: Int, latent: Int, klWeight: Float) {
    for r in 0..<rows {
        let mu = head + r * 2 * latent, logvar = mu + latent
        let dmu = dhead + r * 2 * latent, dlogvar = dmu + latent
        let dzr = dz + r * latent, e = eps + r * latent
        for j in 0..<latent {
            let sigma = expf(0.5 * logvar[j])
            dmu[j] = dzr[j] + klWeight * mu[j]
            dlogvar[j] = 0.5 * (dzr[j] * e[j] * sigma + klWeight * (sigma * sigma - 1))
        }
    }
}

/// A sum whose terms the compute threads share out in chunks of a fixed size. Each chunk's sum
/// is kept apart and the sums are added in chunk order afterwards, so the total is the same bit
/// for bit on any number of threads.
protocol ChunkedSum {
    /// Terms per chunk: fixed, so that no chunk boundary depends on the thread count.
    static var chunk: Int { get }
    /// The sum of the terms in `range`, which lies within one chunk.
    func sum(_ range: Range<Int>) -> Double
}

private struct ChunkedSumJob<Terms: ChunkedSum>: SplitJob {
    let terms: Terms, count: Int
    let sums: UnsafeMutableBufferPointer<Double>
    func run(part: Int, range chunks: Range<Int>) {
        for c in chunks {
            sums[c] = terms.sum(c * Terms.chunk..<min((c + 1) * Terms.chunk, count))
        }
    }
}

/// The sum of `terms` over `0..<count`, split among the compute threads by chunks.
func orderedSum<Terms: ChunkedSum>(count: Int, _ terms: Terms) -> Double {
    let chunks = (count + Terms.chunk - 1) / Terms.chunk
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { sums in
        ComputeThreads.shared.forEachPart(of: chunks, ChunkedSumJob(terms: terms, count: count, sums: sums))
        return sums.reduce(0, +)
    }
}

/// Bernoulli negative log-likelihood of `targets` in [0, 1] under logits `a`, summed:
/// softplus(a) - a·x = max(a, 0) - a·x + log(1 + e^{-|a|}), which never overflows. When
/// `dlogits` is given it receives σ(a) - x in the same pass, σ built from the same e^{-|a|}.
public func bernoulliNLL(logits: ConstFloats, targets: ConstFloats, dlogits: Floats?,
                         rows: Int, columns: Int) -> Double {
    struct Terms: ChunkedSum {
        static var chunk: Int { 4096 }
        let logits: ConstFloats, targets: ConstFloats, dlogits: Floats?
        func sum(_ range: Range<Int>) -> Double {
            bernoulliNLL(logits: logits, targets: targets, dlogits: dlogits, from: range.lowerBound, to: range.upperBound)
        }
    }
    return orderedSum(count: rows * columns, Terms(logits: logits, targets: targets, dlogits: dlogits))
}

/// The terms `start..<end` of `bernoulliNLL`, `start` a multiple of 64.
@inline(__always)
private func bernoulliNLL(logits: ConstFloats, targets: ConstFloats, dlogits: Floats?, from start: Int, to end: Int) -> Double {
    var total = 0.0
    var i = start
    // Eight lanes sum 16 terms in Float, and each such block is added in Double, so the total
    // stays exact enough for finite-difference checks of the whole loss (blocks of 64 let Float
    // rounding move a single-coordinate difference quotient by about 0.01). The vector path takes
    // whole groups of 64 so that which terms take the scalar path, and so every gradient, stays
    // as it was when the blocks were 64 long.
    while i + 64 <= end {
        for j in stride(from: i, to: i + 64, by: 16) {
            total += Double(bernoulliTerms16(logits + j, targets + j, dlogits.map { $0 + j }).sum())
        }
        i += 64
    }
    while i < end {
        let a = logits[i], x = targets[i]
        let e = exp(-abs(a))
        total += Double((a > 0 ? a : 0) - a * x + log1p(e))
        if let dlogits { dlogits[i] = (a >= 0 ? 1 / (1 + e) : e / (1 + e)) - x }
        i += 1
    }
    return total
}

// Out of line on purpose: inlined into the loss loop, the two halves compiled to split 128-bit
// code and the loss took 1.6x as long.
@inline(never)
private func bernoulliTerms16(_ logits: ConstFloats, _ targets: ConstFloats, _ dlogits: Floats?) -> Float8 {
    bernoulliTerms8(logits, targets, dlogits) + bernoulliTerms8(logits + 8, targets + 8, dlogits.map { $0 + 8 })
}

@inline(__always)
private func bernoulliTerms8(_ logits: ConstFloats, _ targets: ConstFloats, _ dlogits: Floats?) -> Float8 {
    let a = load8(logits), x = load8(targets)
    let e = exp8(-abs8(a))
    if let dlogits {
        let s = 1 / (1 + e)
        let sigmoid = (e * s).replacing(with: s, where: a .>= 0)
        store8(sigmoid - x, dlogits)
    }
    return a.replacing(with: 0, where: a .< 0) - a * x + log1p8(e)
}

/// Negative log-density of `targets` under N(mean, exp(logvar)) per pixel, summed:
/// ½(log 2π + l + (x - μ)² e^{-l}). Each row of `outputs` holds `columns` means, then `columns`
/// raw log-variances, which are clamped to `gaussianLogVarianceRange`. `doutputs` (same layout)
/// receives (μ - x) e^{-l} and ½(1 - (x - μ)² e^{-l}), the latter zero where l was clamped.
public func gaussianNLL(_ outputs: ConstFloats, targets: ConstFloats, doutputs: Floats?,
                        rows: Int, columns: Int) -> Double {
    // The terms of the sum are rows, 8 to a chunk.
    struct Rows: ChunkedSum {
        static var chunk: Int { 8 }
        let outputs: ConstFloats, targets: ConstFloats, doutputs: Floats?, columns: Int
        func sum(_ rows: Range<Int>) -> Double {
            let halfLog2Pi: Float = 0.918_938_5
            let low = gaussianLogVarianceRange.lowerBound, high = gaussianLogVarianceRange.upperBound
            var total = 0.0
            for r in rows {
                let mean = outputs + r * 2 * columns, rawLogvar = mean + columns, x = targets + r * columns
                for i in 0..<columns {
                    let l = min(max(rawLogvar[i], low), high)
                    let precision = expf(-l)
                    let d = x[i] - mean[i]
                    // Summed in Double: with σ near its floor the terms reach thousands of nats.
                    total += Double(halfLog2Pi + 0.5 * (l + d * d * precision))
                    if let doutputs {
                        doutputs[r * 2 * columns + i] = -d * precision
                        let inside = rawLogvar[i] >= low && rawLogvar[i] <= high
                        doutputs[r * 2 * columns + columns + i] = inside ? 0.5 * (1 - d * d * precision) : 0
                    }
                }
            }
            return total
        }
    }
    return orderedSum(count: rows, Rows(outputs: outputs, targets: targets, doutputs: doutputs, columns: columns))
}

/// Negative log-density of `targets` under N(mean, σ²) with one fixed σ, summed:
/// ½(log 2πσ² + (x - μ)²/σ²); `dmean` receives (μ - x)/σ².
public func fixedGaussianNLL(mean: ConstFloats, targets: ConstFloats, dmean: Floats?,
                             rows: Int, columns: Int, sigma: Float) -> Double {
    let count = rows * columns
    let precision = 1 / (sigma * sigma)
    struct Squares: ChunkedSum {
        static var chunk: Int { 4096 }
        let mean: ConstFloats, targets: ConstFloats, dmean: Floats?, precision: Float
        func sum(_ range: Range<Int>) -> Double {
            var squares = 0.0
            for i in range {
                let d = targets[i] - mean[i]
                squares += Double(d * d)
                if let dmean { dmean[i] = -d * precision }
            }
            return squares
        }
    }
    let squares = orderedSum(count: count, Squares(mean: mean, targets: targets, dmean: dmean, precision: precision))
    return 0.5 * Double(count) * log(2 * Double.pi * Double(sigma) * Double(sigma)) + 0.5 * Double(precision) * squares
}

/// σ(a), elementwise, for showing the Bernoulli decoder's mean.
public func sigmoid(_ out: Floats, _ logits: ConstFloats, count: Int) {
    for i in 0..<count {
        let e = expf(-abs(logits[i]))
        out[i] = logits[i] >= 0 ? 1 / (1 + e) : e / (1 + e)
    }
}
