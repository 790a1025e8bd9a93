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
    adam.update(parameters: parameters, gradients: gradients)
    // Step 1: m̂ = g and v̂ = g², so each parameter moves by lr · sign(g).
    #expect(abs(parameters[0] - 0.9) < 1e-6)
    #expect(abs(parameters[1] - -1.9) < 1e-6)
    #expect(abs(adam.m[0] - 0.05) < 1e-7 && abs(adam.v[0] - 0.00025) < 1e-9)

    gradients[0] = 0.5
    gradients[1] = 0.3
    adam.update(parameters: parameters, gradients: gradients)
    // Parameter 0: m = 0.095, v = 0.00049975, m̂ = 0.095/0.19 = 0.5, v̂ = 0.00049975/0.001999 = 0.25 → -0.1.
    // Parameter 1: m = 0.021, v = 0.00009999, m̂ = 0.110526, v̂ = 0.050020 → -0.1·0.110526/0.223652.
    #expect(abs(parameters[0] - 0.8) < 1e-5)
    #expect(abs(parameters[1] - -1.949418) < 1e-5)
    #expect(adam.step == 2)
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
