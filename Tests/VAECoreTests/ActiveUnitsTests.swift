import Foundation
import Testing
import TestSupport
import VAECore

/// A 784-8-4 model whose head ignores the image: every image gets mu = `means` and
/// log σ² = `logVariances`, so each dimension's KL is known in closed form.
private func constantHeadModel(means: [Float], logVariances: [Float]) -> VAEModel {
    let model = VAEModel(config: VAEConfig(hidden: [8], latentDim: means.count))
    var random = Random(seed: 31)
    model.initialize(random: &random)
    let head = model.layout.head, p = model.parameters.pointer
    for i in 0..<head.weightCount { p[head.weightOffset + i] = 0 }
    for (j, (mean, logVariance)) in zip(means, logVariances).enumerated() {
        p[head.biasOffset + j] = mean
        p[head.biasOffset + means.count + j] = logVariance
    }
    return model
}

@Test func perDimensionKLIsTheClosedFormAndActiveMeansAboveOneHundredthOfANat() {
    // KL(N(m, e^v) ‖ N(0, 1)) = ½ (m² + e^v - 1 - v): 0.02, 0.005, ½ (e^-1 + 1 - 1) = 0.1839, 0,
    // and 0.0101 just above the threshold.
    let means: [Float] = [0.2, 0.1, 0, 0, 0.1421]
    let logVariances: [Float] = [0, 0, -1, 0, 0]
    let activity = latentActivity(constantHeadModel(means: means, logVariances: logVariances), syntheticImageSet(count: 30, seed: 5))
    let expected = zip(means, logVariances).map { m, v in 0.5 * (Double(m * m) + exp(Double(v)) - 1 - Double(v)) }
    for j in expected.indices {
        #expect(abs(activity.klPerDimension[j] - expected[j]) < 1e-7, "dimension \(j): \(activity.klPerDimension[j]) vs \(expected[j])")
    }
    #expect(activity.activeDimensions == [2, 0, 4], "highest KL first, only those above 0.01 nats")
    // The same mean for every image: no dimension varies, so Burda et al.'s criterion finds none.
    #expect(activity.meanVariance.allSatisfy { $0 < 1e-12 }, "\(activity.meanVariance)")
    #expect(activity.activeByMeanVariance == 0)
    // Burda et al.'s count: a mean variance above 0.01, not at it.
    let variances = [0.02, 0.005, 0.0101, 0.01, 1, 0]
    let burda = LatentActivity(klPerDimension: variances.map { _ in 0 }, meanVariance: variances, posteriorVariance: variances)
    #expect(burda.activeByMeanVariance == 3)
}

/// A conditional model's encoder sees each image's label, in both.
@Test(arguments: [false, true])
func perDimensionKLSumsToTheELBOsKLTerm(conditional: Bool) {
    let model = VAEModel(config: VAEConfig(hidden: [16], latentDim: 6, conditional: conditional))
    var random = Random(seed: 32)
    model.initialize(random: &random)
    let images = syntheticImageSet(count: 700, seed: 6)
    let activity = latentActivity(model, images)
    // The analytic KL term does not depend on the z draws.
    let kl = negativeELBO(model, images, samples: 1, seed: 0).kl
    #expect(abs(activity.klPerDimension.reduce(0, +) - kl) < 1e-5 * kl, "\(activity.klPerDimension) vs \(kl)")
}

/// Also the average posterior variance, and the aggregate posterior's spread from the two.
@Test func meanVarianceIsTheVarianceOfTheEncoderMeansOverTheImages() {
    let model = VAEModel(config: VAEConfig(hidden: [16], latentDim: 3))
    var random = Random(seed: 33)
    model.initialize(random: &random)
    let images = syntheticImageSet(count: 40, seed: 7)
    // The means one image at a time, and their variance by the two-pass formula.
    let workspace = Workspace(layout: model.layout, capacity: 1)
    var means: [[Double]] = [], variances: [[Double]] = []
    images.pixels.withUnsafeBufferPointer { pixels in
        for n in 0..<images.count {
            workspace.loadImages(pixels.baseAddress!, first: n, rows: 1)
            model.encode(workspace, rows: 1)
            means.append((0..<3).map { Double(workspace.head[$0]) })
            variances.append((3..<6).map { exp(Double(workspace.head[$0])) })
        }
    }
    let activity = latentActivity(model, images)
    for j in 0..<3 {
        let average = means.reduce(0) { $0 + $1[j] } / Double(means.count)
        let variance = means.reduce(0) { $0 + ($1[j] - average) * ($1[j] - average) } / Double(means.count)
        #expect(abs(activity.meanVariance[j] - variance) < 1e-6 * max(variance, 1e-3), "dimension \(j)")
        let posterior = variances.reduce(0) { $0 + $1[j] } / Double(variances.count)
        #expect(abs(activity.posteriorVariance[j] - posterior) < 1e-6 * posterior, "dimension \(j)")
        #expect(abs(activity.aggregateSpread(of: j) - (variance + posterior).squareRoot()) < 1e-6, "dimension \(j)")
    }
    // Scaling one dimension's mean weights by 10 multiplies its variance by 100.
    let head = model.layout.head, p = model.parameters.pointer
    for i in 0..<head.inputs { p[head.weightOffset + i] *= 10 }
    p[head.biasOffset] *= 10
    let scaled = latentActivity(model, images)
    #expect(abs(scaled.meanVariance[0] / activity.meanVariance[0] - 100) < 1e-3)
    #expect(scaled.meanVariance[1] == activity.meanVariance[1])
}
