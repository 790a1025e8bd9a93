import Foundation
import Testing
import TestSupport
import VAECore

private func smallModel(latent: Int, seed: UInt64) -> VAEModel {
    let model = VAEModel(config: VAEConfig(hidden: [16], latentDim: latent))
    var random = Random(seed: seed)
    model.initialize(random: &random)
    return model
}

/// With a one-dimensional latent, -log p(x) = -log ∫ p(x|z) p(z) dz can be computed by
/// quadrature; the importance-weighted estimate with k = 5000 must land within 0.05 nats of it
/// (it bounds -log p(x) from above in expectation only, so a draw may land a little below).
@Test func importanceWeightedEstimateConvergesToTheQuadratureLikelihood() throws {
    // Trained a little, so that the posterior is narrower than the prior and the bound has a gap.
    let data = KMNIST(train: syntheticImageSet(count: 300, seed: 40), test: syntheticImageSet(count: 3, seed: 42))
    let trainer = Trainer(run: RunConfig(model: VAEConfig(hidden: [16], latentDim: 1), epochs: 5, batchSize: 20,
                                         learningRate: 3e-3, seed: 41, preset: "test", trainImages: 300, testImages: 3), data: data)
    for _ in 0..<5 { _ = try trainer.trainEpoch() }
    let model = trainer.model
    let images = data.test
    let workspace = Workspace(layout: model.layout, capacity: 4001)
    var exact = 0.0
    for image in 0..<images.count {
        // z on [-8, 8] in steps of 0.004: the prior's mass outside is below 1e-15.
        let step = 0.004
        for i in 0..<4001 { workspace.z[i] = Float(-8 + Double(i) * step) }
        model.decode(workspace, rows: 4001)
        let x = images.intensities(at: [image])
        var logTerms: [Double] = []
        x.withUnsafeBufferPointer { x in
            for i in 0..<4001 {
                let z = -8 + Double(i) * step
                let logLikelihood = -bernoulliNLL(logits: workspace.decoderOutput + i * 784, targets: x.baseAddress!,
                                                  dlogits: nil, rows: 1, columns: 784)
                logTerms.append(logLikelihood - 0.5 * z * z - 0.5 * log(2 * Double.pi) + log(step))
            }
        }
        let top = logTerms.max()!
        exact -= top + log(logTerms.reduce(0) { $0 + exp($1 - top) })
    }
    exact /= Double(images.count)

    let k1 = try importanceWeightedNLL(model, images, k: 1, seed: 1)
    let k5000 = try importanceWeightedNLL(model, images, k: 5000, seed: 1)
    // Measured: exact 225.375, k=5000 225.356, k=1 225.613 nats. IWAE bounds -log p(x) from
    // above only in expectation; 0.05 nats allows for the Monte-Carlo and Float error.
    #expect(abs(k5000 - exact) < 0.05, "IWAE k=5000 \(k5000) vs exact \(exact)")
    #expect(k1 - k5000 > 0.1, "more samples must tighten the bound: k=1 \(k1), k=5000 \(k5000)")
}

/// The one-sample negative ELBO of image `image` for each N(0, 1) draw in `noise` (latent values
/// per draw): its reconstruction term from `VAEModel.forward`, the training loss, and its KL term
/// estimated at the same z, log q(z|x) - log p(z), rather than in closed form. Each is -log w of
/// that z, w = p(x, z) / q(z|x), the weight the importance-weighted estimate averages.
private func oneSampleNegativeELBOs(_ model: VAEModel, _ set: ImageSet, image: Int, noise: [Float]) -> [Double] {
    let latent = model.config.latentDim
    let workspace = Workspace(layout: model.layout, capacity: 1)
    set.pixels.withUnsafeBufferPointer { workspace.loadImages($0.baseAddress!, first: image, rows: 1) }
    return stride(from: 0, to: noise.count, by: latent).map { start in
        for j in 0..<latent { workspace.eps[j] = noise[start + j] }
        let reconstruction = model.forward(workspace, rows: 1, computeGradients: false).reconstruction
        var logPosteriorOverPrior = 0.0  // the ½ log 2π terms cancel
        for j in 0..<latent {
            let e = Double(workspace.eps[j]), z = Double(workspace.z[j]), logvar = Double(workspace.head[latent + j])
            logPosteriorOverPrior += -0.5 * (e * e + logvar) + 0.5 * z * z
        }
        return reconstruction + logPosteriorOverPrior
    }
}

/// The draws `importanceWeightedNLL(k:random:)` makes from `random`: k · latent per image.
private func noisePerImage(_ random: Random, images: Int, k: Int, latent: Int) -> [[Float]] {
    var random = random
    return (0..<images).map { _ in randomFloats(k * latent, random: &random) }
}

/// With k = 1 the estimate is the one-sample negative ELBO of the same z, exactly: no log-mean-exp
/// is left to do. Dividing by k + 1 instead of k would add log 2 to it.
@Test func oneSampleEstimateIsTheNegativeELBOOfTheSameDraw() throws {
    let model = smallModel(latent: 4, seed: 43)
    let images = syntheticImageSet(count: 6, seed: 44)
    let random = Random(seed: 3, stream: 7)
    let noise = noisePerImage(random, images: images.count, k: 1, latent: 4)
    let elbo = (0..<images.count).reduce(0.0) { $0 + oneSampleNegativeELBOs(model, images, image: $1, noise: noise[$1])[0] }
        / Double(images.count)
    let k1 = try importanceWeightedNLL(model, images, k: 1, random: random)
    #expect(abs(k1 - elbo) < 1e-9 * elbo, "k=1 \(k1) vs the one-sample negative ELBO \(elbo)")
}

/// A VampPrior model's KL term is already estimated at the drawn z, log q(z|x) - log p(z), so its
/// one-sample negative ELBO is -log w of that z, and with k = 1 the estimate is their mean.
@Test func oneSampleEstimateOfAVampPriorModelIsItsNegativeELBOOfTheSameDraw() throws {
    let model = VAEModel(config: VAEConfig(hidden: [16], latentDim: 4, prior: .vamp, pseudoInputs: 3))
    var initialisation = Random(seed: 51)
    model.initialize(random: &initialisation)
    for (i, pixel) in syntheticImageSet(count: 3, seed: 53).pixels.enumerated() {
        model.parameters[model.layout.pseudoInputsOffset + i] = intensity(pixel)
    }
    let images = syntheticImageSet(count: 6, seed: 52)
    let random = Random(seed: 5, stream: 9)
    let noise = noisePerImage(random, images: images.count, k: 1, latent: 4)
    let workspace = Workspace(layout: model.layout, capacity: 1)
    var elbo = 0.0
    for image in 0..<images.count {
        images.pixels.withUnsafeBufferPointer { workspace.loadImages($0.baseAddress!, first: image, rows: 1) }
        for j in 0..<4 { workspace.eps[j] = noise[image][j] }
        elbo += model.forward(workspace, rows: 1, computeGradients: false).total / Double(images.count)
    }
    let k1 = try importanceWeightedNLL(model, images, k: 1, random: random)
    #expect(abs(k1 - elbo) < 1e-6 * elbo, "k=1 \(k1) vs the one-sample negative ELBO \(elbo)")
}

/// log Σ e^term one term at a time, in any order; a zero weight (a term of -∞), first or not,
/// adds nothing.
@Test func logSumExpOfTermsInAnyOrder() {
    func logSumExp(_ terms: [Double]) -> Double {
        var sum = LogSumExp()
        for term in terms { sum.add(term) }
        return sum.value
    }
    let exact = log(exp(1.0) + exp(2.0) + exp(-3.0))
    for terms in [[1, 2, -3], [-3, 2, 1], [2, -.infinity, 1, -3], [-.infinity, 1, -3, 2]] as [[Double]] {
        #expect(abs(logSumExp(terms) - exact) < 1e-15, "\(terms)")
    }
    #expect(logSumExp([-.infinity, 0]) == 0 && logSumExp([1000, 1000]) == 1000 + log(2.0))
    #expect(logSumExp([]) == -.infinity && logSumExp([-.infinity]) == -.infinity)
    // A NaN weight (a draw whose decoder overflowed) is not dropped from the estimate, first or later.
    for terms in [[.nan, 1], [1, .nan], [-.infinity, .nan], [.nan]] as [[Double]] {
        #expect(logSumExp(terms).isNaN, "\(terms)")
    }
}

/// With k = 2 the estimate is -log((w₁ + w₂) / 2) of the two draws, computed here from their
/// one-sample negative ELBOs a and b as min(a, b) - log(1 + e^-|a-b|) + log 2.
@Test func twoSampleEstimateIsTheLogMeanOfBothWeights() throws {
    let model = smallModel(latent: 4, seed: 45)
    let images = syntheticImageSet(count: 6, seed: 46)
    let random = Random(seed: 4, stream: 8)
    let noise = noisePerImage(random, images: images.count, k: 2, latent: 4)
    var exact = 0.0
    for image in 0..<images.count {
        let ab = oneSampleNegativeELBOs(model, images, image: image, noise: noise[image])
        exact += ab.min()! - log1p(exp(-abs(ab[0] - ab[1]))) + log(2)
    }
    exact /= Double(images.count)
    let k2 = try importanceWeightedNLL(model, images, k: 2, random: random)
    #expect(abs(k2 - exact) < 1e-9 * exact, "k=2 \(k2) vs exact \(exact)")
}

/// The closed-form KL term of a set's negative ELBO, which no draw changes, is the mean of each
/// image's KL.
@Test func setKLIsTheMeanOfTheImagesKL() {
    let model = smallModel(latent: 4, seed: 47)
    let images = syntheticImageSet(count: 7, seed: 48)
    let workspace = Workspace(layout: model.layout, capacity: 1)
    var kl = 0.0
    for image in 0..<images.count {
        images.pixels.withUnsafeBufferPointer { workspace.loadImages($0.baseAddress!, first: image, rows: 1) }
        model.encode(workspace, rows: 1)
        kl += klDivergence(head: workspace.head, rows: 1, latent: 4)
    }
    let set = negativeELBO(model, images, samples: 2, seed: 5)
    #expect(abs(set.kl - kl / Double(images.count)) < 1e-6 * kl, "set \(set.kl) vs mean \(kl / Double(images.count))")
}

/// The draws `negativeELBO` averages are independent: two are not one counted twice, so their
/// reconstruction term is not one draw's, though within its noise; the KL term takes no draw.
@Test func negativeELBOAveragesIndependentDraws() {
    let model = smallModel(latent: 4, seed: 49)
    let images = syntheticImageSet(count: 50, seed: 50)
    let one = negativeELBO(model, images, samples: 1, seed: 6), two = negativeELBO(model, images, samples: 2, seed: 6)
    #expect(two.reconstruction != one.reconstruction)
    #expect(abs(two.reconstruction - one.reconstruction) < 0.01 * one.reconstruction, "\(one) vs \(two)")
    #expect(abs(two.kl - one.kl) < 1e-12 * one.kl)
}

/// With one sample the importance-weighted estimate is a one-sample negative ELBO, so over many
/// images the two agree up to sampling noise; with more samples it is smaller. Over 4,000 images
/// the two differ by 0.1 nats (the standard deviation over 20 seeds of the estimate, of 555
/// nats), so 0.4 tells an estimate off by log 2 from noise.
@Test func oneSampleEstimateIsTheNegativeELBO() throws {
    let model = smallModel(latent: 4, seed: 43)
    let images = syntheticImageSet(count: 4000, seed: 44)
    let elbo = negativeELBO(model, images, samples: 16, seed: 2).total
    let k1 = try importanceWeightedNLL(model, images, k: 1, seed: 3)
    let k20 = try importanceWeightedNLL(model, images, k: 20, seed: 3)
    #expect(abs(k1 - elbo) < 0.4, "k=1 \(k1) vs negative ELBO \(elbo)")
    #expect(k20 < k1)
    #expect(try importanceWeightedNLL(model, images, k: 20, seed: 3) == k20, "same seed, same estimate")
}

/// A whole set is evaluated batch after batch, each holding its own images and labels: a
/// conditional model scores image 500 of the test set with label 500, not label 0.
@Test func everyBatchOfASetHoldsItsOwnImagesAndLabels() {
    let images = syntheticImageSet(count: 11, seed: 52)
    let workspace = Workspace(layout: ParameterLayout(VAEConfig(hidden: [16], latentDim: 4, conditional: true)), capacity: 4)
    var batches: [[Int]] = []
    workspace.forEachBatch(of: images) { first, rows in
        batches.append([first, rows])
        let size = VAEConfig.inputSize
        #expect((0..<rows).map { workspace.labels[$0] } == Array(images.labels[first..<first + rows]), "batch at \(first)")
        #expect((0..<rows * size).allSatisfy { workspace.input[$0] == intensity(images.pixels[first * size + $0]) }, "batch at \(first)")
    }
    #expect(batches == [[0, 4], [4, 4], [8, 3]])
    #expect(Set(images.labels).count > 3, "labels that tell the batches apart")
}
