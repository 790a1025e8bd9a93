import Foundation

/// How much of each latent dimension the encoder uses over an image set.
///
/// A dimension is active when its average KL(q(z_j|x) ‖ N(0, 1)) exceeds `threshold` nats: a
/// dimension whose posterior is the prior for every image carries nothing about the image, and
/// the decoder learns to ignore it. Burda et al. (2016) count instead the dimensions whose
/// encoder mean varies across the images, Var_x E[z_j|x] > 0.01 (`activeByMeanVariance`); the
/// two usually agree, and vae-eval prints both.
public struct LatentActivity: Sendable, Equatable {
    /// The average KL from N(0, 1) per image of each latent dimension, in nats; they sum to the
    /// KL term of the negative ELBO of a model with the N(0, I) prior (a VampPrior model's KL
    /// term is to its mixture instead).
    public let klPerDimension: [Double]
    /// The variance over the images of each dimension's encoder mean.
    public let meanVariance: [Double]
    /// Each dimension's posterior variance σ²(x), averaged over the images.
    public let posteriorVariance: [Double]

    /// Nats of average KL above which a dimension counts as active, and the variance above which
    /// Burda et al.'s criterion counts it.
    public static let threshold = 0.01

    public init(klPerDimension: [Double], meanVariance: [Double], posteriorVariance: [Double]) {
        precondition(klPerDimension.count == meanVariance.count && meanVariance.count == posteriorVariance.count)
        self.klPerDimension = klPerDimension
        self.meanVariance = meanVariance
        self.posteriorVariance = posteriorVariance
    }

    /// The standard deviation of `dimension` under the aggregate posterior, the mixture of every
    /// image's q(z|x): where the encoder puts the images along it, √(Var E[z|x] + E σ²(x)). Near 1
    /// with the N(0, I) prior, which the aggregate posterior approaches; a VampPrior lets it grow.
    public func aggregateSpread(of dimension: Int) -> Double {
        (meanVariance[dimension] + posteriorVariance[dimension]).squareRoot()
    }

    /// The active dimensions (average KL above `threshold`), highest KL first; equal KLs keep
    /// their dimension order.
    public var activeDimensions: [Int] {
        klPerDimension.indices.filter { klPerDimension[$0] > LatentActivity.threshold }
            .sorted { klPerDimension[$0] > klPerDimension[$1] || (klPerDimension[$0] == klPerDimension[$1] && $0 < $1) }
    }

    /// The number of dimensions active by Burda et al.'s criterion.
    public var activeByMeanVariance: Int {
        meanVariance.filter { $0 > LatentActivity.threshold }.count
    }
}

/// The encoder's use of each latent dimension over `set` (each image given its label for a
/// conditional model), from one pass of the encoder in batches (its products split among the
/// compute threads); sums are taken in image order, so the result does not depend on the
/// thread count.
public func latentActivity(_ model: VAEModel, _ set: ImageSet) -> LatentActivity {
    let latent = model.config.latentDim
    let workspace = Workspace(layout: model.layout, capacity: evaluationBatchSize)
    var kl = [Double](repeating: 0, count: latent), meanSum = kl, meanSquares = kl, posteriorVarianceSum = kl
    workspace.forEachBatch(of: set) { _, rows in
        model.encode(workspace, rows: rows)
        for r in 0..<rows {
            let mu = workspace.head + r * 2 * latent, logvar = mu + latent
            for j in 0..<latent {
                let m = Double(mu[j]), v = Double(logvar[j]), variance = exp(v)
                kl[j] -= 0.5 * (1 + v - m * m - variance)
                meanSum[j] += m
                meanSquares[j] += m * m
                posteriorVarianceSum[j] += variance
            }
        }
    }
    let n = Double(max(set.count, 1))
    return LatentActivity(klPerDimension: kl.map { $0 / n },
                          meanVariance: (0..<latent).map { max(meanSquares[$0] / n - (meanSum[$0] / n) * (meanSum[$0] / n), 0) },
                          posteriorVariance: posteriorVarianceSum.map { $0 / n })
}
