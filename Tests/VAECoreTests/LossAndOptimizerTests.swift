import Foundation
import Testing
import TestSupport
import VAECore

/// The analytic KL(N(mu, σ²) ‖ N(0, 1)) against a Monte-Carlo estimate E_q[log q(z) - log p(z)].
@Test func analyticKLMatchesMonteCarlo() {
    let mu: [Float] = [0.8, -1.5, 0.0]
    let logvar: [Float] = [-1.0, 0.5, 1.2]
    let head = mu + logvar
    let analytic = klDivergence(head: head, rows: 1, latent: 3)

    var random = Random(seed: 21)
    let samples = 400_000
    var noise = [Float](repeating: 0, count: samples)
    var estimate = 0.0
    for j in 0..<3 {
        noise.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: samples) }
        let sigma = exp(0.5 * Double(logvar[j]))
        var sum = 0.0
        for e in noise {
            let z = Double(mu[j]) + sigma * Double(e)
            let logQ = -0.5 * Double(e * e) - log(sigma)  // the shared -½log 2π cancels
            let logP = -0.5 * z * z
            sum += logQ - logP
        }
        estimate += sum / Double(samples)
    }
    // The estimator's standard error here is below 0.005.
    #expect(abs(analytic - estimate) < 0.02, "analytic \(analytic), Monte Carlo \(estimate)")
    #expect(abs(analytic - 2.263358) < 1e-4)  // by hand: ½Σ(σ² + mu² - 1 - log σ²)
}

@Test func normalDrawsHaveUnitMoments() {
    var random = Random(seed: 22)
    var values = [Float](repeating: 0, count: 100_001)
    values.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
    let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
    let variance = values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(values.count) - mean * mean
    #expect(abs(mean) < 0.01)
    #expect(abs(variance - 1) < 0.02)
}

/// Two Adam steps on two parameters, against values worked out by hand with PyTorch's formula.
@Test func adamStepsMatchHandComputedValues() {
    let adam = Adam(.init(learningRate: 0.1), count: 2)
    let parameters = FloatBuffer([1.0, -2.0])
    let gradients = FloatBuffer([0.5, -0.1])
    #expect(adam.update(parameters: parameters, gradients: gradients))
    // Step 1: m̂ = g and v̂ = g², so each parameter moves by lr · sign(g).
    #expect(abs(parameters[0] - 0.9) < 1e-6)
    #expect(abs(parameters[1] - -1.9) < 1e-6)
    #expect(abs(adam.m[0] - 0.05) < 1e-7 && abs(adam.v[0] - 0.00025) < 1e-9)

    gradients[0] = 0.5
    gradients[1] = 0.3
    #expect(adam.update(parameters: parameters, gradients: gradients))
    // Parameter 0: m = 0.095, v = 0.00049975, m̂ = 0.095/0.19 = 0.5, v̂ = 0.00049975/0.001999 = 0.25 → -0.1.
    // Parameter 1: m = 0.021, v = 0.00009999, m̂ = 0.110526, v̂ = 0.050020 → -0.1·0.110526/0.223652.
    #expect(abs(parameters[0] - 0.8) < 1e-5)
    #expect(abs(parameters[1] - -1.949418) < 1e-5)
    #expect(adam.step == 2)
}

/// Thirty Adam steps on 19 parameters (two vectorised groups of 8 and a scalar tail of 3) against
/// torch.optim.Adam(lr=0.01) in float32. The gradients are mostly 1e-9 to 1e-6, where ε = 1e-8 is
/// much of the denominator √v̂ + ε, and after thirty steps 1 - β₂ᵗ is still 0.03, so the bias
/// corrections change every update. Expected values printed by this script (torch 2.15, in
/// ~/anchors-venv):
///
///     import torch
///     scales = [2.0**e for e in (-30, -28, -27, -26, -25, -24, -22, -20, -30, -27, -26, -24, -20, -14, -7, -1, -29, -26, -2)]
///     pattern = [1.0, -0.5, 2.0, 0.25, -1.5, 0.75, 1.25]
///     p = torch.zeros(19, dtype=torch.float32, requires_grad=True)
///     adam = torch.optim.Adam([p], lr=0.01)
///     for t in range(1, 31):
///         p.grad = torch.tensor([s * pattern[(t + i) % 7] for i, s in enumerate(scales)], dtype=torch.float32)
///         adam.step()
///     state = adam.state[p]
///     for name, values in (("parameters", p.detach()), ("m", state["exp_avg"]), ("v", state["exp_avg_sq"])):
///         print(name, ", ".join(f"{x:.9g}" for x in values.tolist()))
@Test func adamMatchesPyTorchWhereEpsilonAndTheBiasCorrectionsMatter() {
    let exponents = [-30, -28, -27, -26, -25, -24, -22, -20, -30, -27, -26, -24, -20, -14, -7, -1, -29, -26, -2]
    let scales = exponents.map { Float(sign: .plus, exponent: $0, significand: 1) }
    let pattern: [Float] = [1.0, -0.5, 2.0, 0.25, -1.5, 0.75, 1.25]
    let adam = Adam(.init(learningRate: 0.01), count: 19)
    let parameters = FloatBuffer(count: 19)
    for t in 1...30 {
        let gradients = FloatBuffer(scales.indices.map { scales[$0] * pattern[(t + $0) % 7] })
        #expect(adam.update(parameters: parameters, gradients: gradients))
    }
    let torchParameters: [Float] = [
        -0.01042723, -0.0406768136, -0.0445925407, -0.0564963445, -0.115132488, -0.122636832, -0.119950324,
        -0.0974772722, -0.0134965815, -0.0445925407, -0.0564963445, -0.1304259, -0.138884306, -0.124302723,
        -0.098211728, -0.125476912, -0.0168693475, -0.0564963445, -0.150482833,
    ]
    let torchM: [Float] = [
        5.16842402e-10, 1.96166106e-09, 2.35023445e-09, 5.33221778e-09, 1.35127847e-08, 3.00939753e-08, 9.51540287e-08,
        5.2924662e-07, 4.90415264e-10, 2.35023445e-09, 5.33221778e-09, 2.70255693e-08, 4.81503605e-07, 2.43594313e-05,
        0.00433558831, 0.26328969, 5.87558613e-10, 5.33221778e-09, 0.113353454,
    ]
    let torchV: [Float] = [
        3.67729636e-20, 5.85279397e-19, 2.2481977e-18, 9.09523217e-18, 3.57930117e-17, 1.44642271e-16, 2.23998138e-15,
        3.85592471e-14, 3.65799623e-20, 2.2481977e-18, 9.09523217e-18, 1.43172047e-16, 3.70284214e-14, 1.4679942e-10,
        2.58766727e-06, 0.0105434563, 1.40512356e-19, 9.09523217e-18, 0.00251870928,
    ]
    for i in 0..<19 {
        // Float rounding alone (PyTorch divides by √(1-β₂ᵗ) where we multiply by its inverse)
        // leaves the values within a few units in the last place.
        #expect(abs(parameters[i] - torchParameters[i]) <= 1e-6 * abs(torchParameters[i]), "parameter \(i): \(parameters[i]) vs \(torchParameters[i])")
        #expect(abs(adam.m[i] - torchM[i]) <= 1e-6 * torchM[i], "m[\(i)]: \(adam.m[i]) vs \(torchM[i])")
        #expect(abs(adam.v[i] - torchV[i]) <= 1e-6 * torchV[i], "v[\(i)]: \(adam.v[i]) vs \(torchV[i])")
    }
    #expect(adam.step == 30)
}

/// A non-finite gradient anywhere in the buffer, in the vectorised body or the tail, is reported.
@Test(arguments: [Float.nan, .infinity, -.infinity, 1e30])
func adamReportsNonFiniteGradients(bad: Float) {
    for position in [0, 7, 12, 18] {
        let adam = Adam(.init(learningRate: 1e-3), count: 19)
        let parameters = FloatBuffer([Float](repeating: 1, count: 19))
        var values = [Float](repeating: 0.5, count: 19)
        #expect(adam.update(parameters: parameters, gradients: FloatBuffer(values)))
        values[position] = bad
        #expect(!adam.update(parameters: parameters, gradients: FloatBuffer(values)), "gradient \(bad) at \(position)")
    }
    // Parameters enough for every part of the job (19 make one), on a team of its own (the shared
    // one, busy with another test, runs a job whole as one part): the verdict is every part's.
    let count = 65536, team = ComputeThreads(count: 2)
    for position in [0, count / 2, count - 1] {
        let adam = Adam(.init(learningRate: 1e-3), count: count)
        var values = [Float](repeating: 0.5, count: count)
        values[position] = bad
        #expect(!adam.update(parameters: FloatBuffer([Float](repeating: 1, count: count)), gradients: FloatBuffer(values), on: team),
                "gradient \(bad) at \(position) of \(count)")
    }
}

/// Gradients large but finite in every square (1.5e19 each) are no divergence, though their
/// second moments, 2.25e35 each, sum past Float's largest value over any thread's part of 65,536
/// parameters: the verdict must not depend on how long a part is, so on the thread count.
@Test func adamAcceptsLargeFiniteGradients() {
    let count = 65536
    let adam = Adam(.init(learningRate: 1e-3), count: count)
    let parameters = FloatBuffer([Float](repeating: 1, count: count))
    #expect(adam.update(parameters: parameters, gradients: FloatBuffer([Float](repeating: 1.5e19, count: count))))
    #expect(adam.v[0] > 2e35 && (0..<count).allSatisfy { adam.v[$0].isFinite })
}

/// The trainer's check of the parameters after a step sees a non-finite value anywhere, at
/// either end too.
@Test(arguments: [Float.nan, .infinity, -.infinity])
func allFiniteSeesEveryValue(bad: Float) {
    for position in [0, 7, 18] {
        var values = [Float](repeating: 0.5, count: 19)
        #expect(FloatBuffer(values).allFinite)
        values[position] = bad
        #expect(!FloatBuffer(values).allFinite, "\(bad) at \(position)")
    }
}

@Test func initialisationFollowsPyTorchBounds() {
    let model = VAEModel(config: VAEConfig(hidden: [400], latentDim: 20))
    var random = Random(seed: 0)
    model.initialize(random: &random)
    for layer in model.layout.layers {
        let bound = 1 / Float(layer.inputs).squareRoot()
        let weights = UnsafeBufferPointer(start: model.parameters.pointer + layer.weightOffset, count: layer.inputs * layer.outputs)
        #expect(weights.allSatisfy { abs($0) <= bound })
        #expect(weights.max()! > 0.95 * bound && weights.min()! < -0.95 * bound)
    }
    #expect(model.layout.count == 784 * 400 + 400 + 2 * (400 * 20 + 20) + 20 * 400 + 400 + 400 * 784 + 784)
}

/// Every permutation of three comes out of the shuffle, about equally often (each 1,000 times
/// in expectation, with a standard deviation of 29).
@Test func shuffleDrawsEveryPermutationAlike() {
    var random = Random(seed: 23)
    var counts: [[Int32]: Int] = [:]
    var order = [Int32](repeating: 0, count: 3)
    for _ in 0..<6_000 {
        order.withUnsafeMutableBufferPointer { random.shuffle($0.baseAddress!, count: 3) }
        counts[order, default: 0] += 1
    }
    #expect(counts.count == 6 && counts.values.allSatisfy { abs($0 - 1_000) < 150 }, "\(counts)")
}
