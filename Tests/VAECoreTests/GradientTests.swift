import Foundation
import Testing
import TestSupport
@testable import VAECore

// Every backward function is compared with central finite differences of its forward function.
// The per-layer checks use small shapes, where Float rounding stays far below the tolerance.

@Test(arguments: [Activation.none, .relu])
func linearLayerGradients(activation: Activation) {
    let rows = 3, inputs = 5, outputs = 4
    // The first seed whose pre-activations all keep 0.05 from the ReLU's kink, so that no
    // finite difference straddles it.
    var seed: UInt64 = 11
    var x: [Float] = [], w: [Float] = [], b: [Float] = [], target: [Float] = []
    while true {
        var random = Random(seed: seed)
        x = randomFloats(rows * inputs, random: &random)
        w = randomFloats(outputs * inputs, random: &random, scale: 0.5)
        b = randomFloats(outputs, random: &random, scale: 0.5)
        target = randomFloats(rows * outputs, random: &random)
        var pre = [Float](repeating: 0, count: rows * outputs)
        linearForward(&pre, x, weight: w, bias: b, rows: rows, inputs: inputs, outputs: outputs, activation: .none)
        if pre.allSatisfy({ abs($0) > 0.05 }) { break }
        seed += 1
    }

    func forward(_ x: [Float], _ w: [Float], _ b: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: rows * outputs)
        linearForward(&out, x, weight: w, bias: b, rows: rows, inputs: inputs, outputs: outputs, activation: activation)
        return out
    }
    // L = Σ out ⊙ target, so ∂L/∂out = target.
    func loss(_ out: [Float]) -> Double { zip(out, target).reduce(0) { $0 + Double($1.0 * $1.1) } }

    let out = forward(x, w, b)
    if activation == .relu {
        #expect(out.contains(0) && out.contains { $0 > 0 }, "the check must cover both sides of the ReLU")
    }
    var dout = target
    if activation == .relu { reluBackward(&dout, out: out, count: dout.count) }
    var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
    var db = [Float](repeating: 7, count: b.count)  // garbage: backward must overwrite it
    linearBackward(dinp: &dx, dweight: &dw, dbias: &db, dout: dout, inp: x, weight: w,
                   rows: rows, inputs: inputs, outputs: outputs)

    expectGradient("input", values: x, analytic: dx) { loss(forward($0, w, b)) }
    expectGradient("weight", values: w, analytic: dw) { loss(forward(x, $0, b)) }
    expectGradient("bias", values: b, analytic: db) { loss(forward(x, w, $0)) }
}

/// A layer of 64 outputs or fewer has its weight gradient cut into blocks of columns, after which
/// the bias gradient runs over every output on its own (`SgemmCall.run(alongside:)`): the
/// encoder head of `pytorch-example` (400 inputs, 40 outputs, batch 128) is such a layer, a shape
/// the small finite-difference checks above never cut. Compared with the sums in Double.
@Test(arguments: [false, true])
func linearBackwardOfAWeightGradientCutIntoColumns(throughReLU: Bool) {
    let rows = 128, inputs = 400, outputs = 40
    #expect(!SgemmCall.blocks(m: outputs, n: inputs, k: rows).byRows, "the weight gradient must be cut by columns")
    var random = Random(seed: 5)
    let x = randomFloats(rows * inputs, random: &random), w = randomFloats(outputs * inputs, random: &random, scale: 0.1)
    let dout = randomFloats(rows * outputs, random: &random)
    let reluOutput = throughReLU ? randomFloats(rows * inputs, random: &random).map { max($0, 0) } : nil
    var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
    var db = [Float](repeating: 7, count: outputs)  // garbage: backward must overwrite it
    linearBackward(dinp: &dx, dweight: &dw, dbias: &db, dout: dout, inp: x, weight: w,
                   rows: rows, inputs: inputs, outputs: outputs, dinpReLUOutput: reluOutput)
    func expectClose(_ name: String, _ actual: [Float], _ expected: (Int) -> Double) {
        let worst = actual.indices.map { abs(Double(actual[$0]) - expected($0)) / max(1, abs(expected($0))) }.max() ?? 0
        #expect(worst < 1e-5, "\(name): relative error \(worst)")
    }
    expectClose("bias", db) { o in (0..<rows).reduce(0) { $0 + Double(dout[$1 * outputs + o]) } }
    expectClose("weight", dw) { j in (0..<rows).reduce(0) { $0 + Double(dout[$1 * outputs + j / inputs]) * Double(x[$1 * inputs + j % inputs]) } }
    expectClose("input", dx) { j in
        let (r, i) = (j / inputs, j % inputs)
        if let reluOutput, reluOutput[j] <= 0 { return 0 }
        return (0..<outputs).reduce(0) { $0 + Double(dout[r * outputs + $1]) * Double(w[$1 * inputs + i]) }
    }
}

@Test func reparameterisationAndKLGradients() {
    let rows = 3, latent = 4
    var random = Random(seed: 12)
    let head = randomFloats(rows * 2 * latent, random: &random, scale: 0.7)
    let eps = randomFloats(rows * latent, random: &random)
    let target = randomFloats(rows * latent, random: &random)
    let klWeight: Float = 0.7

    // L = Σ z ⊙ target + w·KL, with z = mu + eps·σ.
    func loss(_ head: [Float]) -> Double {
        var z = [Float](repeating: 0, count: rows * latent)
        reparameterizeForward(z: &z, head: head, eps: eps, rows: rows, latent: latent)
        return zip(z, target).reduce(0) { $0 + Double($1.0 * $1.1) }
            + Double(klWeight) * klDivergence(head: head, rows: rows, latent: latent)
    }
    var dhead = [Float](repeating: 0, count: head.count)
    reparameterizeKLBackward(dhead: &dhead, dz: target, head: head, eps: eps, rows: rows, latent: latent, klWeight: klWeight)
    expectGradient("head", values: head, analytic: dhead, loss)
}

@Test func bernoulliLikelihoodGradient() {
    let rows = 2, columns = 6
    var random = Random(seed: 13)
    let logits = randomFloats(rows * columns, random: &random, scale: 3)
    let targets = (0..<rows * columns).map { _ in random.nextUniform() }
    var dlogits = [Float](repeating: 0, count: logits.count)
    let value = bernoulliNLL(logits: logits, targets: targets, dlogits: &dlogits, rows: rows, columns: columns)
    let forwardOnly = bernoulliNLL(logits: logits, targets: targets, dlogits: nil, rows: rows, columns: columns)
    #expect(value == forwardOnly)
    expectGradient("logits", values: logits, analytic: dlogits) {
        bernoulliNLL(logits: $0, targets: targets, dlogits: nil, rows: rows, columns: columns)
    }
}

/// A loss of more chunk sums than one job takes (1,100 x 784 terms: 211 chunks of 4,096, two
/// jobs of at most 128) sums every term once and writes every gradient.
@Test func bernoulliLikelihoodOverManyChunksSumsEveryTermOnce() {
    let rows = 1100, columns = 784
    var random = Random(seed: 29)
    let logits = randomFloats(rows * columns, random: &random, scale: 3)
    let targets = (0..<rows * columns).map { _ in random.nextUniform() }
    var dlogits = [Float](repeating: .nan, count: logits.count)
    let ours = bernoulliNLL(logits: logits, targets: targets, dlogits: &dlogits, rows: rows, columns: columns)
    let reference = zip(logits, targets).reduce(0.0) { sum, pair in
        let (a, x) = (Double(pair.0), Double(pair.1))
        return sum + max(a, 0) - a * x + log1p(exp(-abs(a)))
    }
    #expect(abs(ours - reference) < 1e-6 * reference, "\(ours) against \(reference)")
    var worst = 0.0
    for i in logits.indices {
        let sigmoid = 1 / (1 + exp(-Double(logits[i])))
        let error = abs(Double(dlogits[i]) - (sigmoid - Double(targets[i])))
        worst = error.isNaN || worst.isNaN ? .nan : max(worst, error)
    }
    #expect(worst < 1e-6, "gradient error \(worst)")
}

@Test func bernoulliLikelihoodMatchesTheTextbookFormulaAndStaysFiniteAtExtremes() {
    let logits: [Float] = [-3, -0.5, 0, 0.5, 3]
    let targets: [Float] = [0.2, 1, 0.5, 0, 0.9]
    let textbook = zip(logits, targets).reduce(0.0) { sum, pair in
        let p = 1 / (1 + exp(-Double(pair.0)))
        return sum - Double(pair.1) * log(p) - (1 - Double(pair.1)) * log(1 - p)
    }
    let ours = bernoulliNLL(logits: logits, targets: targets, dlogits: nil, rows: 1, columns: 5)
    #expect(abs(ours - textbook) < 1e-5)

    // A naive log(sigmoid) gives -inf here; the stable form gives the exact |a|·(mismatch).
    var d = [Float](repeating: 0, count: 2)
    let extreme = bernoulliNLL(logits: [200, -200], targets: [0, 1], dlogits: &d, rows: 1, columns: 2)
    #expect(abs(extreme - 400) < 1e-3)
    #expect(d == [1, -1])
}

/// The loss stores its gradient non-temporally where the pointer is 32-byte aligned, as that
/// instruction needs, and with ordinary stores elsewhere: every offset into an aligned buffer
/// gets the same values (and a non-temporal store at a misaligned one would crash).
@Test func theLossGradientIsTheSameAtEveryAlignment() {
    let count = 3 * 64 + 5
    var random = Random(seed: 21)
    let logits = randomFloats(count, random: &random, scale: 3)
    let targets = (0..<count).map { _ in random.nextUniform() }
    let buffer = FloatBuffer(count: count + 8)
    var first: (value: Double, gradient: [Float])?
    for offset in 0...8 {
        buffer.pointer.update(repeating: .nan, count: buffer.count)
        let value = bernoulliNLL(logits: logits, targets: targets, dlogits: buffer.pointer + offset, rows: 1, columns: count)
        let gradient = Array(UnsafeBufferPointer(start: buffer.pointer + offset, count: count))
        #expect(gradient.allSatisfy { $0.isFinite }, "offset \(offset)")
        if let first {
            #expect(value == first.value && gradient == first.gradient, "offset \(offset)")
        } else {
            first = (value, gradient)
        }
    }
}

/// The vectorised path (blocks of 64 terms, exp and log1p by polynomials) against Double
/// arithmetic, term by term: each block repeats one logit, so its sum is 64 times that term.
/// Logits of ±20 and beyond leave log(1 + e^-|a|) near 1e-9 and below, where a log1p that
/// loses its relative accuracy shows at once.
@Test func vectorisedBernoulliTermsMatchDoublePrecision() {
    let logits: [Float] = [-100, -40, -20, -9.5, -3, -1, -0.3, -1e-3, 0, 1e-3, 0.3, 0.7, 1, 2.5, 6, 15, 20, 40, 100]
    for a in logits {
        for x: Float in [0, 0.25, 1] {
            var d = [Float](repeating: 0, count: 64)
            let sum = bernoulliNLL(logits: [Float](repeating: a, count: 64), targets: [Float](repeating: x, count: 64),
                                   dlogits: &d, rows: 1, columns: 64) / 64
            let e = exp(-abs(Double(a)))
            let expected = max(Double(a), 0) - Double(a) * Double(x) + log1p(e)
            let sigmoid = Double(a) >= 0 ? 1 / (1 + e) : e / (1 + e)
            // Float rounding of a·x and max(a, 0) dominates where they are large.
            let scale = max(abs(Double(a)), 1)
            #expect(abs(sum - expected) <= 2e-7 * scale + 1e-6 * abs(expected), "logit \(a), target \(x): \(sum) against \(expected)")
            if x == 0 && a < -15 && a > -87 {  // exp8 stops at e^-87 rather than return denormals
                #expect(abs(sum - expected) <= 1e-5 * expected, "log1p of a tiny e^-|a| at logit \(a): \(sum) against \(expected)")
            }
            // Relative to the larger of σ and x, so that with x = 0 a σ of 1e-18 must come out
            // right to 1e-6 of itself; the floor, 1e-37, covers e^-87 (1.6e-38), where exp8 stops.
            let gradientTolerance = 1e-6 * max(sigmoid, Double(x)) + 1e-37
            #expect(abs(Double(d[0]) - (sigmoid - Double(x))) <= gradientTolerance, "gradient at logit \(a): \(d[0]) against \(sigmoid - Double(x))")
        }
    }
}

/// The whole negative ELBO of a small model, every parameter tensor (see `expectWholeLossGradient`).
@Test(arguments: [(Likelihood.bernoulli, Float(1)), (.gaussian, 1), (.gaussianFixed, 0.4)])
func wholeLossGradient(likelihood: Likelihood, klWeight: Float) {
    expectWholeLossGradient(VAEConfig(hidden: [6, 5], latentDim: 3, likelihood: likelihood, sigma: 0.5), klWeight: klWeight)
}

@Test func gaussianLikelihoodGradient() {
    let rows = 2, columns = 5
    var random = Random(seed: 15)
    let means = randomFloats(rows * columns, random: &random, scale: 0.5)
    // Raw log-variances inside the clamp range, and two outside it, where the gradient is zero.
    var logvars = randomFloats(rows * columns, random: &random, scale: 1.5)
    logvars[3] = -9
    logvars[7] = 2.5
    var outputs: [Float] = []
    for r in 0..<rows {
        let row = r * columns..<(r + 1) * columns
        outputs += Array(means[row])
        outputs += Array(logvars[row])
    }
    let targets = (0..<rows * columns).map { _ in random.nextUniform() }
    var doutputs = [Float](repeating: 0, count: outputs.count)
    _ = gaussianNLL(outputs, targets: targets, doutputs: &doutputs, rows: rows, columns: columns)
    #expect(doutputs[columns + 3] == 0 && doutputs[2 * columns + columns + 2] == 0, "clamped log-variances get no gradient")
    expectGradient("outputs", values: outputs, analytic: doutputs) {
        gaussianNLL($0, targets: targets, doutputs: nil, rows: rows, columns: columns)
    }
}

@Test func gaussianLikelihoodsMatchTheDensityFormula() {
    // One pixel: x = 0.3, mean 0.5, log σ² = -1 → ½(log 2π - 1 + 0.04·e).
    let learned = gaussianNLL([0.5, -1], targets: [0.3], doutputs: nil, rows: 1, columns: 1)
    let logTwoPi: Double = log(2 * Double.pi)
    let expected: Double = 0.5 * (logTwoPi - 1 + 0.04 * exp(1.0))
    #expect(abs(learned - expected) < 1e-6)
    // The clamp: log σ² = -20 scores as -7.
    let clamped = gaussianNLL([0.5, -20], targets: [0.3], doutputs: nil, rows: 1, columns: 1)
    let expectedClamped: Double = 0.5 * (logTwoPi - 7 + 0.04 * exp(7.0))
    #expect(abs(clamped - expectedClamped) < 1e-4)
    // And log σ² = 2.5 as 2, with no gradient to it.
    var dceiling: [Float] = [0, 0]
    let ceiling = gaussianNLL([0.5, 2.5], targets: [0.3], doutputs: &dceiling, rows: 1, columns: 1)
    let expectedCeiling: Double = 0.5 * (logTwoPi + 2 + 0.04 * exp(-2.0))
    #expect(abs(ceiling - expectedCeiling) < 1e-6 && dceiling[1] == 0, "\(ceiling) against \(expectedCeiling), gradient \(dceiling[1])")
    var dmean: [Float] = [0, 0]
    let fixed = fixedGaussianNLL(mean: [0.5, 0.1], targets: [0.3, 0.1], dmean: &dmean, rows: 1, columns: 2, sigma: 0.2)
    // Two pixels: 2·½ log(2π·0.04) + ½·0.04/0.04.
    let expectedFixed: Double = log(2 * Double.pi * 0.04) + 0.5
    #expect(abs(fixed - expectedFixed) < 1e-5)
    #expect(abs(dmean[0] - 5) < 1e-5 && dmean[1] == 0)
    expectGradient("fixed mean", values: [0.5, 0.1, -0.2], analytic: {
        var d = [Float](repeating: 0, count: 3)
        _ = fixedGaussianNLL(mean: [0.5, 0.1, -0.2], targets: [0.3, 0.1, 0.9], dmean: &d, rows: 1, columns: 3, sigma: 0.2)
        return d
    }()) { fixedGaussianNLL(mean: $0, targets: [0.3, 0.1, 0.9], dmean: nil, rows: 1, columns: 3, sigma: 0.2) }
}
