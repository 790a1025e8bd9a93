import Foundation

/// Images per forward pass when a whole set is evaluated or decoded: large enough that sgemm
/// runs near its best, small enough that the activations stay a few megabytes.
public let evaluationBatchSize = 500

/// Negative ELBO per image of a whole image set, in batches through `workspace` (given each
/// image's label for a conditional model).
public func evaluateNegativeELBO(model: VAEModel, workspace: Workspace, set: ImageSet, random: Random) -> LossTerms {
    var random = random
    var total = LossTerms()
    let latent = model.config.latentDim
    workspace.forEachBatch(of: set) { _, rows in
        random.fillNormal(workspace.eps, count: rows * latent)
        total += model.forward(workspace, rows: rows, computeGradients: false)
    }
    let n = Double(max(set.count, 1))
    return LossTerms(reconstruction: total.reconstruction / n, kl: total.kl / n)
}

/// Negative ELBO per image of `set`, averaged over `samples` independent z draws per image.
public func negativeELBO(_ model: VAEModel, _ set: ImageSet, samples: Int, seed: UInt64) -> LossTerms {
    precondition(samples >= 1)
    let workspace = Workspace(layout: model.layout, capacity: evaluationBatchSize)
    var total = LossTerms()
    for s in 0..<samples {
        total += evaluateNegativeELBO(model: model, workspace: workspace, set: set,
                                      random: Random(seed: seed, stream: 0xE1B0 + UInt64(s)))
    }
    return LossTerms(reconstruction: total.reconstruction / Double(samples), kl: total.kl / Double(samples))
}

/// The k the tools take for the importance-weighted estimate (vae-train --iwae-k, vae-eval --k),
/// up to the 5,000 of Burda et al.'s evaluations.
public let importanceSampleRange = 0...5000

/// The importance-weighted bound -log (1/k Σ p(x, z_i) / q(z_i|x)), z_i ~ q(z|x), per image of
/// `set`, averaged (for a conditional model -log p(x|y), every term given the image's label).
/// The k weights of an image are combined with a running log-sum-exp, so no weight is ever
/// exponentiated on its own. `progress` receives the number of images done, and
/// may throw to stop (Ctrl-C during the minutes a large k takes).
public func importanceWeightedNLL(_ model: VAEModel, _ set: ImageSet, k: Int, seed: UInt64,
                                  progress: (Int) throws -> Void = { _ in }) rethrows -> Double {
    try importanceWeightedNLL(model, set, k: k, random: Random(seed: seed, stream: 0x1A_E5), progress: progress)
}

/// `importanceWeightedNLL` with the noise drawn from `random`: image after image, its k·latent
/// N(0, 1) values (z_i = mu + eps_i σ), by `fillNormal` calls of at most `evaluationBatchSize`
/// samples each. Given the same `random`, a caller can redraw every z the estimate used.
public func importanceWeightedNLL(_ model: VAEModel, _ set: ImageSet, k: Int, random: Random,
                                  progress: (Int) throws -> Void = { _ in }) rethrows -> Double {
    precondition(k >= 1)
    let latent = model.config.latentDim
    let workspace = Workspace(layout: model.layout, capacity: min(k, evaluationBatchSize))
    // The VampPrior's components depend on the parameters alone: encoded once.
    let components = model.config.prior == .vamp ? model.priorComponents() : []
    var random = random
    var total = 0.0
    try set.pixels.withUnsafeBufferPointer { pixels in
        for image in 0..<set.count {
            workspace.loadImages(pixels.baseAddress!, first: image, rows: 1)
            // Every sample of the image is decoded with its label.
            workspace.labels.update(repeating: set.labels[image], count: workspace.capacity)
            model.encode(workspace, rows: 1)
            var logSum = LogSumExp()
            for (_, rows) in Batches(count: k, size: workspace.capacity) {
                random.fillNormal(workspace.eps, count: rows * latent)
                reparameterizeForward(z: workspace.z, head: workspace.head, eps: workspace.eps, rows: rows, latent: latent,
                                      samples: rows)
                model.decode(workspace, rows: rows)
                model.sampleLogLikelihoods(workspace, samples: rows, perImage: rows, gradient: false)
                // log p(z) and log q(z|x) as the importance-weighted objective takes them in training.
                components.withUnsafeBufferPointer { model.priorLogDensity(workspace, samples: rows, components: $0.baseAddress) }
                posteriorLogDensity(workspace.logPosteriors, head: workspace.head, eps: workspace.eps, rows: rows, latent: latent,
                                    samples: rows)
                for r in 0..<rows {
                    logSum.add(workspace.logLikelihoods[r] + workspace.logPriors[r] - workspace.logPosteriors[r])
                }
            }
            total -= logSum.value - log(Double(k))
            try progress(image + 1)
        }
    }
    return total / Double(max(set.count, 1))
}
