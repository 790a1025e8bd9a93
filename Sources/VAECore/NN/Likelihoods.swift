import Foundation

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
    // whole groups of 64, so that which terms take the scalar path (and so every gradient and the
    // reference values) does not depend on the length of the Float blocks.
    while i + 64 <= end {
        for j in stride(from: i, to: i + 64, by: 16) {
            total += Double(bernoulliTerms16(logits + j, targets + j, dlogits.map { $0 + j }).sum())
        }
        i += 64
    }
    streamingStoresDone()
    while i < end {
        let a = logits[i], x = targets[i]
        let e = exp(-abs(a))
        total += Double((a > 0 ? a : 0) - a * x + log1p(e))
        if let dlogits { dlogits[i] = sigmoid(a, expMinusAbs: e) - x }
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
        // Every compute thread reads all of the gradient in the decoder's weight-gradient product.
        storeStreaming8(sigmoid - x, dlogits)
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
        out[i] = sigmoid(logits[i], expMinusAbs: expf(-abs(logits[i])))
    }
}

/// σ(a) from e = e^{-|a|}, which never overflows (the loss shares e with its softplus).
@inline(__always)
private func sigmoid(_ a: Float, expMinusAbs e: Float) -> Float {
    a >= 0 ? 1 / (1 + e) : e / (1 + e)
}
