import Foundation
import Testing
import TestSupport
@testable import VAECore

// The VampPrior's sampler and the two-stage sampler on cases whose statistics are known.

/// Mean and per-dimension variance of row-major `[n, latent]` points, in Double.
private func moments(_ z: [Float], latent: Int) -> (mean: [Double], variance: [Double]) {
    let n = Double(z.count / latent)
    var mean = [Double](repeating: 0, count: latent), squares = mean
    for (i, value) in z.enumerated() {
        mean[i % latent] += Double(value) / n
        squares[i % latent] += Double(value) * Double(value) / n
    }
    return (mean, zip(squares, mean).map { $0 - $1 * $1 })
}

/// An equally weighted mixture of diagonal Gaussians, drawn at temperatures 1 and 1.5: the
/// samples' mean is the components' mean and each variance E[T²σ² + μ²] - E[μ]², and a third of
/// the draws fall near each of the three far-apart components, with its variances times T².
@Test func vampPriorSamplesHaveTheMixturesMoments() {
    let latent = 2
    // μ, then log σ², per component.
    let components: [Float] = [-20, 0, log(0.25), log(1), 0, 8, log(1), log(0.09), 8, -4, log(4), log(0.5)]
    let mixture = VampPriorSampler(latent: latent, diagonalComponents: components)
    #expect(mixture.components == 3 && mixture.summary == "3 components")
    for temperature in [1.0, 1.5] {
        var random = Random(seed: 31)
        let z = mixture.tempered(temperature).sample(count: 60_000, random: &random).z
        let (mean, variance) = moments(z, latent: latent)
        for j in 0..<latent {
            let mus = (0..<3).map { Double(components[$0 * 4 + j]) }
            let variances = (0..<3).map { exp(Double(components[$0 * 4 + 2 + j])) * temperature * temperature }
            let expectedMean = mus.reduce(0, +) / 3
            let expectedVariance = zip(mus, variances).reduce(0) { $0 + ($1.0 * $1.0 + $1.1) / 3 } - expectedMean * expectedMean
            #expect(abs(mean[j] - expectedMean) < 0.15, "T \(temperature), dimension \(j): mean \(mean[j]) against \(expectedMean)")
            #expect(abs(variance[j] / expectedVariance - 1) < 0.02,
                    "T \(temperature), dimension \(j): variance \(variance[j]) against \(expectedVariance)")
        }
        // The draws near the first component (μ = (-20, 0), σ² = (0.25, 1)): a third of them, with its variances times T².
        let nearFirst = stride(from: 0, to: z.count, by: latent).filter { z[$0] < -10 }.flatMap { z[$0..<$0 + latent] }
        let share = Double(nearFirst.count / latent) / 60_000
        #expect(abs(share - 1.0 / 3) < 0.01)
        let first = moments(nearFirst, latent: latent)
        for (j, variance) in [0.25, 1].enumerated() {
            #expect(abs(first.variance[j] / (variance * temperature * temperature) - 1) < 0.04,
                    "T \(temperature): the first component's variance \(first.variance[j]) in dimension \(j)")
        }
    }
}

/// The VampPrior's sampler draws the very points a `GaussianMixture` of the same components, with
/// their deviations on the diagonal of full factors, draws from the same random stream.
@Test func vampPriorSamplerDrawsAsTheFullMixtureWould() {
    let latent = 3, k = 4
    var random = Random(seed: 33)
    let components = (0..<k * 2 * latent).map { _ in 2 * random.nextUniform() - 1 }
    var means: [Double] = [], factors = [Double](repeating: 0, count: k * latent * latent)
    for c in 0..<k {
        means += (0..<latent).map { Double(components[c * 2 * latent + $0]) }
        for j in 0..<latent { factors[(c * latent + j) * latent + j] = exp(0.5 * Double(components[c * 2 * latent + latent + j])) }
    }
    let full = GaussianMixture(latent: latent, weights: [Double](repeating: 1 / Double(k), count: k), means: means, factors: factors)
    let diagonal = VampPriorSampler(latent: latent, diagonalComponents: components)
    for temperature in [1.0, 1.15] {
        var a = Random(seed: 34), b = Random(seed: 34)
        let expected = full.tempered(temperature).sample(count: 500, random: &a)
        let drawn = diagonal.tempered(temperature).sample(count: 500, random: &b)
        expectIdentical(drawn.z, expected.z, "T \(temperature)")
        #expect(drawn.latent == expected.latent && drawn.labels == nil && expected.labels == nil)
        #expect(a.nextUniform() == b.nextUniform(), "both leave the stream at the same place")
    }
}

/// A VampPrior model's components are its encoder's posteriors at the pseudo-inputs: encoded
/// like any image, whatever else is in the workspace.
@Test func vampPriorComponentsAreTheEncodedPseudoInputs() {
    let config = VAEConfig(hidden: [8], latentDim: 3, prior: .vamp, pseudoInputs: 4)
    let model = VAEModel(config: config)
    var random = Random(seed: 32)
    model.initialize(random: &random)
    let pseudoInputs = syntheticImageSet(count: 4, seed: 6)
    initializePseudoInputs(model, from: pseudoInputs, random: &random)
    let components = model.priorComponents()
    let ws = Workspace(layout: model.layout, capacity: 4)
    for i in 0..<4 * VAEConfig.inputSize { ws.input[i] = model.parameters[model.layout.pseudoInputsOffset + i] }
    model.encode(ws, rows: 4)
    expectIdentical(components, Array(UnsafeBufferPointer(start: ws.head, count: 4 * 6)), "components")
    // The pseudo-inputs are the four images in some order, scaled to [0, 1] as inputs are.
    let start = model.layout.pseudoInputsOffset
    let rows = (0..<4).map { r in (0..<VAEConfig.inputSize).map { model.parameters[start + r * 784 + $0] } }
    let images = (0..<4).map { r in (0..<VAEConfig.inputSize).map { intensity(pseudoInputs.pixels[r * 784 + $0]) } }
    let matches = rows.map { row in images.firstIndex(of: row) ?? -1 }
    #expect(matches.sorted() == [0, 1, 2, 3], "the image each pseudo-input starts as: \(matches)")
}

/// A VampPrior's pseudo-input starts as a training image drawn uniformly: over 60 seeds, the one
/// pseudo-input of a model trained on three images starts as each of them, the last included.
@Test func aPseudoInputCanStartAsAnyTrainingImage() {
    let model = VAEModel(config: VAEConfig(hidden: [4], latentDim: 2, prior: .vamp, pseudoInputs: 1))
    let train = syntheticImageSet(count: 3, seed: 9)
    let images = (0..<3).map { r in (0..<VAEConfig.inputSize).map { intensity(train.pixels[r * VAEConfig.inputSize + $0]) } }
    #expect(Set(images).count == 3, "three distinct images")
    var chosen = Set<Int>()
    for seed: UInt64 in 0..<60 {
        var random = Random(seed: seed)
        initializePseudoInputs(model, from: train, random: &random)
        let start = model.layout.pseudoInputsOffset
        let row = (0..<VAEConfig.inputSize).map { model.parameters[start + $0] }
        chosen.insert(images.firstIndex(of: row) ?? -1)
    }
    #expect(chosen == [0, 1, 2], "images a pseudo-input started as: \(chosen.sorted())")
}

/// makeSampler builds the kind asked at the temperature asked: a VampPrior's components with
/// their deviations times the temperature; gmm-diagonal's components with diagonal covariances,
/// gmm's with full ones, their factors times the temperature.
@Test func makeSamplerBuildsTheKindAskedAtItsTemperature() throws {
    let vampModel = VAEModel(config: VAEConfig(hidden: [8], latentDim: 3, prior: .vamp, pseudoInputs: 4))
    var random = Random(seed: 34)
    vampModel.initialize(random: &random)
    initializePseudoInputs(vampModel, from: syntheticImageSet(count: 4, seed: 7), random: &random)
    let vampCodec = LatentCodec(config: vampModel.config)
    let plain = try #require(try makeSampler(.vamp, model: vampModel, codec: vampCodec, training: nil, seed: 0) as? VampPriorSampler)
    let warm = try #require(try makeSampler(.vamp, model: vampModel, codec: vampCodec, training: nil, seed: 0, temperature: 1.5)
        as? VampPriorSampler)
    #expect(warm.means == plain.means && warm.deviations == plain.deviations.map { $0 * 1.5 })

    let model = VAEModel(config: VAEConfig(hidden: [8], latentDim: 3))
    model.initialize(random: &random)
    let codec = LatentCodec(config: model.config), training = syntheticImageSet(count: 200, seed: 8)
    for kind in [SamplerKind.gmm, .gmmDiagonal] {
        let fitted = try #require(try makeSampler(kind, model: model, codec: codec, training: training, seed: 2) as? GaussianMixture)
        let offDiagonal = (0..<fitted.components).flatMap { c in [3, 6, 7].map { fitted.factors[9 * c + $0] } }
        #expect(offDiagonal.contains { $0 != 0 } == (kind == .gmm), "\(kind): \(offDiagonal)")
        let warmFit = try #require(try makeSampler(kind, model: model, codec: codec, training: training, seed: 2, temperature: 1.5)
            as? GaussianMixture)
        #expect(warmFit.means == fitted.means && warmFit.factors == fitted.factors.map { $0 * 1.5 }, "\(kind)")
    }
}

/// Points from a known correlated Gaussian in four dimensions, one of them unused (as an
/// inactive latent unit is): the second stage's samples have the points' mean and covariance.
@Test func twoStageSamplesHaveTheFittedPointsMoments() throws {
    let latent = 4, n = 3000
    var random = Random(seed: 33)
    var points = [Float](repeating: 0, count: n * latent)
    for r in 0..<n {
        var e = [Float](repeating: 0, count: 3)
        e.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: 3) }
        points[r * latent + 0] = 1 + 2 * e[0]
        points[r * latent + 1] = -0.5 + 1.2 * e[0] + 0.6 * e[1]
        points[r * latent + 2] = 0.3 * e[2]
        points[r * latent + 3] = 0.02
    }
    let sampler = try TwoStageSampler.fit(points, latent: latent, seed: 4, hidden: 32, epochs: 60)
    var drawRandom = Random(seed: 34)
    let z = sampler.sample(count: 20_000, random: &drawRandom).z
    let target = FeatureStatistics(features: points, dimension: latent)
    let drawn = FeatureStatistics(features: z, dimension: latent)
    for j in 0..<latent {
        let scale = target.covariance[j * latent + j].squareRoot()
        #expect(abs(drawn.mean[j] - target.mean[j]) < 0.1 * max(scale, 0.1), "mean \(j): \(drawn.mean[j]) against \(target.mean[j])")
        for i in 0...j {
            let want = target.covariance[i * latent + j], got = drawn.covariance[i * latent + j]
            let scales = target.covariance[i * latent + i] * target.covariance[j * latent + j]
            let tolerance = 0.15 * scales.squareRoot() + 0.01
            #expect(abs(got - want) < tolerance, "covariance (\(i), \(j)): \(got) against \(want)")
        }
    }
    // A temperature spreads the draws of u, and with them z.
    var wideRandom = Random(seed: 34)
    let wide = FeatureStatistics(features: sampler.tempered(1.5).sample(count: 20_000, random: &wideRandom).z, dimension: latent)
    #expect(wide.covariance[0] > 1.3 * drawn.covariance[0])
}

/// docs/quality.md gives the second stage's shape and schedule: they are the fit's defaults.
@Test func theQualityPageStatesTheTwoStageFit() throws {
    let page = try String(contentsOfFile: packageRoot + "/docs/quality.md", encoding: .utf8).replacing(/\s+/, with: " ")
    let hidden = "two hidden layers of \(TwoStageSampler.hidden) ReLU units each way"
    let schedule = "\(TwoStageSampler.epochs) epochs, batch \(TwoStageSampler.batchSize), Adam at 1e-3"
    #expect(TwoStageSampler.learningRate == 1e-3)
    #expect(page.contains(hidden) && page.contains(schedule), "docs/quality.md should say \(hidden) and \(schedule)")
}

/// The second stage sees the points standardised by their mean and their standard deviation over
/// the n points (not n - 1); a constant dimension gets 0, its samples that constant.
@Test func twoStageStandardisesByThePointsMeanAndDeviation() throws {
    let points: [Float] = [1, 5, 2, 5, 3, 5, 4, 5]  // [4, 2]: 1 to 4, then the constant 5
    let sampler = try TwoStageSampler.fit(points, latent: 2, seed: 5, hidden: 4, epochs: 1)
    #expect(sampler.center == [2.5, 5])
    #expect(abs(Double(sampler.scale[0]) - 1.25.squareRoot()) < 1e-6 && sampler.scale[1] == 0, "\(sampler.scale)")
}

/// A draw at temperature T is u ~ N(0, T²I) through the second decoder, plus noise of T·√γ around
/// its mean, scaled back to the points' units: for every row, past the first batch of
/// `evaluationBatchSize` too. Built here from the same draws in one pass of the decoder.
@Test func twoStageDrawIsTheDecodedMeanWithTemperedNoise() throws {
    let latent = 2, count = evaluationBatchSize + 40, temperature = 1.7
    var random = Random(seed: 36)
    let points = randomFloats(200 * latent, random: &random, scale: 3)
    let sampler = try TwoStageSampler.fit(points, latent: latent, seed: 5, hidden: 8, epochs: 2)
    var drawRandom = Random(seed: 37), expectedRandom = drawRandom
    let z = sampler.tempered(temperature).sample(count: count, random: &drawRandom).z
    let u = randomFloats(count * latent, random: &expectedRandom), noise = randomFloats(count * latent, random: &expectedRandom)
    let ws = TwoStageWorkspace(sampler.network, capacity: count)
    for i in u.indices { ws.z[i] = Float(temperature) * u[i] }
    sampler.network.decode(ws, rows: count, parameters: FloatBuffer(sampler.parameters).pointer)
    // The second decoder's variance is γ (its loss has log γ and squares / γ): its σ is √γ.
    let gamma = exp(Double(sampler.parameters[sampler.network.logGammaOffset]))
    #expect(abs(sampler.decoderSigma * sampler.decoderSigma - gamma) <= 1e-12 * gamma, "σ² \(sampler.decoderSigma) against γ \(gamma)")
    let sigma = Float(temperature * gamma.squareRoot())
    let expected = u.indices.map { i in sampler.center[i % latent] + sampler.scale[i % latent] * (ws.mean[i] + sigma * noise[i]) }
    expectClose(z, expected, relative: 1e-5, absolute: 1e-5, "the tempered draws")
}

/// A fit whose gradients stop being finite (after a first step far too large) is an error, not a
/// sampler that draws NaNs.
@Test func aDivergingTwoStageFitIsAnError() {
    let points = (0..<80).map { Float($0 % 7) }
    #expect(throws: VAEError(.failed, "the two-stage sampler's fit diverged in epoch 2 of 2: a gradient is not finite")) {
        try TwoStageSampler.fit(points, latent: 2, seed: 4, hidden: 8, epochs: 2, learningRate: 1e30)
    }
}

/// The second stage's gradient, log γ and every layer of both networks, against central
/// differences of its negative ELBO with the same noise.
@Test func twoStageGradientMatchesFiniteDifferences() {
    let network = TwoStageNetwork(dimension: 3, hidden: 5)
    let rows = 4
    var random = Random(seed: 35)
    let parameters = FloatBuffer(count: network.count), gradients = FloatBuffer(count: network.count)
    for layer in network.layers { layer.initialize(parameters.pointer, random: &random) }
    parameters.pointer[network.logGammaOffset] = -0.7
    let ws = TwoStageWorkspace(network, capacity: rows)
    random.fillNormal(ws.input, count: rows * 3)
    random.fillNormal(ws.eps, count: rows * 3)
    _ = network.lossAndGradients(ws, rows: rows, parameters: parameters, gradients: gradients)
    let analytic = gradients.array
    #expect(analytic[network.logGammaOffset] != 0)
    let scratch = FloatBuffer(count: network.count)
    expectGradient("two-stage", values: parameters.array, analytic: analytic, h: 1e-3) { values in
        let trial = FloatBuffer(values)
        return network.lossAndGradients(ws, rows: rows, parameters: trial, gradients: scratch)
    }
}
