import COpenBLAS
import Foundation

/// Whether a mixture's components have full covariance matrices or only their diagonals.
public enum CovarianceKind: String, Sendable, CaseIterable {
    case full, diagonal
}

/// A mixture of Gaussians in the latent space, fitted by expectation-maximisation (Dempster,
/// Laird and Rubin 1977) to the encoder's means of the training images: an estimate of the
/// aggregate posterior that the decoder was trained on, which N(0, I) only approximates.
public struct GaussianMixture: LatentSampler {
    public let latent: Int
    public let weights: [Double]
    /// `[components, latent]`
    public let means: [Double]
    /// The lower Cholesky factor L of each covariance LLᵀ, `[components, latent, latent]` row-major.
    public let factors: [Double]

    public var components: Int { weights.count }

    /// Added to every covariance's diagonal: keeps a component that collapses onto a few points,
    /// or a latent unit the encoder never uses, from becoming singular.
    static let covarianceFloor = 1e-4

    /// Component counts tried by `fit(_:latent:covariance:seed:)`.
    public static let componentCandidates = [1, 2, 4, 8, 16, 32, 64]

    /// The mixture of `componentCandidates` whose fit to nine tenths of `points` (row-major
    /// `[n, latent]`) gives the remaining tenth (every tenth point) the highest mean
    /// log-likelihood, with each count's held-out score. Deterministic for a seed.
    public static func fit(_ points: [Float], latent: Int, covariance: CovarianceKind, seed: UInt64)
        -> (mixture: GaussianMixture, heldOutScores: [(components: Int, logLikelihood: Double)]) {
        let n = points.count / latent
        var fitted: [Double] = [], heldOut: [Double] = []
        for r in 0..<n {
            let row = points[r * latent..<(r + 1) * latent].map(Double.init)
            if r % 10 == 9 { heldOut += row } else { fitted += row }
        }
        precondition(heldOut.count >= latent, "need at least ten points to choose a component count")
        let candidates = componentCandidates.filter { $0 == 1 || $0 * 10 <= fitted.count / latent }
        var best: GaussianMixture?, bestScore = -Double.infinity
        var scores: [(components: Int, logLikelihood: Double)] = []
        for components in candidates {
            var random = Random(seed: seed, stream: UInt64(components))
            let mixture = fit(fitted, latent: latent, components: components, covariance: covariance, random: &random)
            let score = mixture.meanLogLikelihood(heldOut)
            scores.append((components, score))
            if score > bestScore { (best, bestScore) = (mixture, score) }
        }
        return (best!, scores)
    }

    /// EM from a k-means++ start (Arthur and Vassilvitskii 2007) with `components` components on
    /// `points` (row-major `[n, latent]`, n >= components), until the mean log-likelihood gains
    /// less than 1e-6 nats per point in an iteration, or for at most `maxIterations`.
    public static func fit(_ points: [Double], latent: Int, components: Int, covariance: CovarianceKind,
                           random: inout Random, maxIterations: Int = 200) -> GaussianMixture {
        let n = points.count / latent
        precondition(n >= components && components >= 1)
        // k-means++: each next centre is a point drawn with probability ∝ its squared distance to
        // the nearest centre so far; each point then starts wholly in its nearest centre's component.
        var centres = [random.nextInt(below: n)]
        var nearest = [Double](repeating: .infinity, count: n), owner = [Int](repeating: 0, count: n)
        while true {
            let c = centres.count - 1
            for r in 0..<n {
                var d = 0.0
                for j in 0..<latent {
                    let e = points[r * latent + j] - points[centres[c] * latent + j]
                    d += e * e
                }
                if d < nearest[r] { (nearest[r], owner[r]) = (d, c) }
            }
            guard centres.count < components else { break }
            let total = nearest.reduce(0, +)
            var target = Double(random.nextUniform()) * total, next = n - 1
            for r in 0..<n {
                target -= nearest[r]
                if target < 0 { next = r; break }
            }
            centres.append(total > 0 ? next : random.nextInt(below: n))
        }
        var responsibilities = [Double](repeating: 0, count: n * components)
        for r in 0..<n { responsibilities[r * components + owner[r]] = 1 }
        var mixture = maximisation(points, latent: latent, responsibilities: responsibilities, components: components,
                                   covariance: covariance)
        var previous = -Double.infinity
        for _ in 0..<maxIterations {
            let logLikelihood = mixture.expectation(points, responsibilities: &responsibilities)
            if logLikelihood - previous < 1e-6 { break }
            previous = logLikelihood
            mixture = maximisation(points, latent: latent, responsibilities: responsibilities, components: components,
                                   covariance: covariance)
        }
        return mixture
    }

    public init(latent: Int, weights: [Double], means: [Double], factors: [Double]) {
        precondition(means.count == weights.count * latent && factors.count == weights.count * latent * latent)
        self.latent = latent
        self.weights = weights
        self.means = means
        self.factors = factors
    }

    /// The same mixture with every covariance scaled by temperature²: wider components for a
    /// temperature above 1, narrower below.
    public func tempered(_ temperature: Double) -> any LatentSampler {
        GaussianMixture(latent: latent, weights: weights, means: means, factors: factors.map { $0 * temperature })
    }

    public var summary: String { components == 1 ? "1 component" : "\(components) components" }

    /// The mean of log p(x) over `points`, row-major `[n, latent]`.
    public func meanLogLikelihood(_ points: [Double]) -> Double {
        var responsibilities = [Double](repeating: 0, count: points.count / latent * components)
        return expectation(points, responsibilities: &responsibilities)
    }

    /// Writes each point's posterior over the components into `responsibilities` (`[n,
    /// components]`) and returns the mean log-likelihood of the points.
    func expectation(_ points: [Double], responsibilities: inout [Double]) -> Double {
        let n = points.count / latent, k = components
        responsibilities.withUnsafeMutableBufferPointer { logDensities in
            points.withUnsafeBufferPointer { points in
                ComputeThreads.shared.forEachPart(of: k, ComponentLogDensities(
                    mixture: self, points: points.baseAddress!, count: n, logDensities: logDensities.baseAddress!))
            }
        }
        var total = 0.0
        for r in 0..<n {
            let row = r * k
            var largest = -Double.infinity
            for c in 0..<k { largest = max(largest, responsibilities[row + c]) }
            var sum = 0.0
            for c in 0..<k { sum += exp(responsibilities[row + c] - largest) }
            let logSum = largest + log(sum)
            for c in 0..<k { responsibilities[row + c] = exp(responsibilities[row + c] - logSum) }
            total += logSum
        }
        return total / Double(n)
    }

    /// The weights, means and covariances that maximise the expected log-likelihood under
    /// `responsibilities`.
    static func maximisation(_ points: [Double], latent: Int, responsibilities: [Double], components: Int,
                             covariance: CovarianceKind) -> GaussianMixture {
        let n = points.count / latent
        var weights = [Double](repeating: 0, count: components)
        var means = [Double](repeating: 0, count: components * latent)
        var factors = [Double](repeating: 0, count: components * latent * latent)
        means.withUnsafeMutableBufferPointer { means in
            factors.withUnsafeMutableBufferPointer { factors in
                weights.withUnsafeMutableBufferPointer { weights in
                    points.withUnsafeBufferPointer { points in
                        responsibilities.withUnsafeBufferPointer { responsibilities in
                            ComputeThreads.shared.forEachPart(of: components, ComponentMaximisation(
                                points: points.baseAddress!, responsibilities: responsibilities.baseAddress!, count: n,
                                latent: latent, components: components, covariance: covariance, weights: weights.baseAddress!,
                                means: means.baseAddress!, factors: factors.baseAddress!))
                        }
                    }
                }
            }
        }
        return GaussianMixture(latent: latent, weights: weights, means: means, factors: factors)
    }

    /// A component drawn by weight, then its mean plus its Cholesky factor times N(0, I) noise.
    public func sample(count: Int, random: inout Random) -> LatentSamples {
        var chosen = [Int](repeating: components - 1, count: count)
        for i in 0..<count {
            var u = Double(random.nextUniform())
            for c in 0..<components {
                u -= weights[c]
                if u < 0 { chosen[i] = c; break }
            }
        }
        var noise = [Float](repeating: 0, count: count * latent)
        noise.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
        var z = [Float](repeating: 0, count: count * latent)
        for i in 0..<count {
            let c = chosen[i], factor = c * latent * latent
            for row in 0..<latent {
                var value = means[c * latent + row]
                for column in 0...row { value += factors[factor + row * latent + column] * Double(noise[i * latent + column]) }
                z[i * latent + row] = Float(value)
            }
        }
        return LatentSamples(latent: latent, z: z)
    }
}

/// log wₖ + log N(x | μₖ, LₖLₖᵀ) of every point for the components of a part, into
/// `logDensities` `[n, components]`: the Mahalanobis terms by one triangular solve per component.
private struct ComponentLogDensities: SplitJob {
    let mixture: GaussianMixture, points: UnsafePointer<Double>, count: Int
    let logDensities: UnsafeMutablePointer<Double>

    func run(part: Int, range: Range<Int>) {
        let d = mixture.latent, k = mixture.components
        var differences = [Double](repeating: 0, count: count * d)
        for c in range {
            let mean = c * d, factor = c * d * d
            for r in 0..<count {
                for j in 0..<d { differences[r * d + j] = points[r * d + j] - mixture.means[mean + j] }
            }
            // Y Lᵀ = X - μ, so each row of Y is L⁻¹(x - μ).
            mixture.factors.withUnsafeBufferPointer { factors in
                cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(count), Int32(d), 1,
                            factors.baseAddress! + factor, Int32(d), &differences, Int32(d))
            }
            var logDeterminant = 0.0
            for j in 0..<d { logDeterminant += 2 * log(mixture.factors[factor + j * d + j]) }
            let constant = log(mixture.weights[c]) - 0.5 * (Double(d) * log(2 * Double.pi) + logDeterminant)
            for r in 0..<count {
                var squares = 0.0
                for j in 0..<d { squares += differences[r * d + j] * differences[r * d + j] }
                logDensities[r * k + c] = constant - 0.5 * squares
            }
        }
    }
}

/// The M step for the components of a part: weight, responsibility-weighted mean, and the
/// weighted covariance (plus the floor) as its Cholesky factor.
private struct ComponentMaximisation: SplitJob {
    let points: UnsafePointer<Double>, responsibilities: UnsafePointer<Double>, count: Int
    let latent: Int, components: Int, covariance: CovarianceKind
    let weights: UnsafeMutablePointer<Double>, means: UnsafeMutablePointer<Double>, factors: UnsafeMutablePointer<Double>

    func run(part: Int, range: Range<Int>) {
        let d = latent
        var weighted = [Double](repeating: 0, count: count * d), matrix = [Double](repeating: 0, count: d * d)
        for c in range {
            var total = 0.0
            let mean = means + c * d
            for r in 0..<count {
                let w = responsibilities[r * components + c]
                total += w
                for j in 0..<d { mean[j] += w * points[r * d + j] }
            }
            weights[c] = total / Double(count)
            let share = max(total, 1e-300)
            for j in 0..<d { mean[j] /= share }
            for r in 0..<count {
                let root = responsibilities[r * components + c].squareRoot()
                for j in 0..<d { weighted[r * d + j] = root * (points[r * d + j] - mean[j]) }
            }
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(count), 1 / share,
                        weighted, Int32(d), weighted, Int32(d), 0, &matrix, Int32(d))
            for i in 0..<d {
                for j in 0..<d where covariance == .diagonal && i != j { matrix[i * d + j] = 0 }
                matrix[i * d + i] += GaussianMixture.covarianceFloor
            }
            choleskyFactor(matrix, size: d, into: factors + c * d * d)
        }
    }
}

/// The lower-triangular L with LLᵀ = `matrix` (symmetric positive definite, row-major), written
/// row-major into `factor` with zeros above the diagonal.
func choleskyFactor(_ matrix: [Double], size n: Int, into factor: UnsafeMutablePointer<Double>) {
    factor.update(repeating: 0, count: n * n)
    for i in 0..<n {
        for j in 0...i {
            var sum = matrix[i * n + j]
            for k in 0..<j { sum -= factor[i * n + k] * factor[j * n + k] }
            factor[i * n + j] = i == j ? max(sum, 1e-300).squareRoot() : sum / factor[j * n + j]
        }
    }
}
