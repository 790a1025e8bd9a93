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
/// quadrature; the importance-weighted estimate with k = 5000 must land on it from above.
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
        let x = images.image(image)
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

    let k1 = importanceWeightedNLL(model, images, k: 1, seed: 1)
    let k5000 = importanceWeightedNLL(model, images, k: 5000, seed: 1)
    // Measured: exact 225.375, k=5000 225.356, k=1 225.613 nats. IWAE bounds -log p(x) from
    // above only in expectation; 0.05 nats allows for the Monte-Carlo and Float error.
    #expect(abs(k5000 - exact) < 0.05, "IWAE k=5000 \(k5000) vs exact \(exact)")
    #expect(k1 - k5000 > 0.1, "more samples must tighten the bound: k=1 \(k1), k=5000 \(k5000)")
}

/// With one sample the importance-weighted estimate is a one-sample negative ELBO, so over many
/// images the two agree up to sampling noise; with more samples it is smaller.
@Test func oneSampleEstimateIsTheNegativeELBO() {
    let model = smallModel(latent: 4, seed: 43)
    let images = syntheticImageSet(count: 400, seed: 44)
    let elbo = negativeELBO(model, images, samples: 4, seed: 2).total
    let k1 = importanceWeightedNLL(model, images, k: 1, seed: 3)
    let k20 = importanceWeightedNLL(model, images, k: 20, seed: 3)
    #expect(abs(k1 - elbo) < 0.01 * elbo, "k=1 \(k1) vs negative ELBO \(elbo)")
    #expect(k20 < k1)
    #expect(importanceWeightedNLL(model, images, k: 20, seed: 3) == k20, "same seed, same estimate")
}
