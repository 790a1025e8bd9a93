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

    /// Component counts tried by `fit(_:latent:covariance:seed:team:)` for each kind of covariance.
    /// Full covariances stop at 32: on the default run 64 of them (36,000 parameters for 6,310
    /// points) fit the held-out tenth 2.4 nats worse than 32, and were 45% of its EM work.
    public static func componentCandidates(_ covariance: CovarianceKind) -> [Int] {
        covariance == .full ? [1, 2, 4, 8, 16, 32] : [1, 2, 4, 8, 16, 32, 64]
    }

    /// The fewest points `fit(_:latent:covariance:seed:team:)` takes: every tenth is held out to
    /// choose the component count, so ten give one.
    public static let minimumPoints = 10

    /// The gain in mean log-likelihood per point below which EM stops (scikit-learn's default).
    public static let convergenceTolerance = 1e-3
    /// EM's iterations at most, should a fit keep gaining more than `convergenceTolerance`.
    static let maxIterations = 200

    /// The mixture of `componentCandidates` whose fit to nine tenths of `points` (row-major
    /// `[n, latent]`) gives the remaining tenth (every tenth point) the highest mean
    /// log-likelihood, with each count's held-out score. Deterministic for a seed, and the same
    /// for every thread count of `team`.
    public static func fit(_ points: [Float], latent: Int, covariance: CovarianceKind, seed: UInt64,
                           team: ComputeThreads = .shared)
        -> (mixture: GaussianMixture, heldOutScores: [(components: Int, logLikelihood: Double)]) {
        let n = points.count / latent
        var fitted: [Double] = [], heldOut: [Double] = []
        for r in 0..<n {
            let row = points[r * latent..<(r + 1) * latent].map(Double.init)
            if r % 10 == 9 { heldOut += row } else { fitted += row }
        }
        precondition(n >= minimumPoints, "need at least \(minimumPoints) points to choose a component count")
        let candidates = componentCandidates(covariance).filter { $0 == 1 || $0 * 10 <= fitted.count / latent }
        var best: GaussianMixture?, bestScore = -Double.infinity
        var scores: [(components: Int, logLikelihood: Double)] = []
        for components in candidates {
            var random = Random(seed: seed, stream: UInt64(components))
            let mixture = fit(fitted, latent: latent, components: components, covariance: covariance, random: &random,
                              team: team)
            let score = mixture.meanLogLikelihood(heldOut, team: team)
            scores.append((components, score))
            if score > bestScore { (best, bestScore) = (mixture, score) }
        }
        return (best!, scores)
    }

    /// EM from a k-means++ start (Arthur and Vassilvitskii 2007) with `components` components on
    /// `points` (row-major `[n, latent]`, n >= components), until the mean log-likelihood gains
    /// less than `convergenceTolerance` nats per point in an iteration, or for at most `maxIterations`.
    /// The parts of each E and M step are components (and rows of points), each computed whole by
    /// one thread of `team`, so the result is the same for every thread count.
    public static func fit(_ points: [Double], latent: Int, components: Int, covariance: CovarianceKind,
                           random: inout Random, team: ComputeThreads = .shared) -> GaussianMixture {
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
                                   covariance: covariance, team: team)
        var previous = -Double.infinity
        for _ in 0..<maxIterations {
            let logLikelihood = mixture.expectation(points, responsibilities: &responsibilities, team: team)
            if logLikelihood - previous < convergenceTolerance { break }
            previous = logLikelihood
            mixture = maximisation(points, latent: latent, responsibilities: responsibilities, components: components,
                                   covariance: covariance, team: team)
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

    public var summary: String { "\(count: components, "component")" }

    /// The mean of log p(x) over `points`, row-major `[n, latent]`.
    public func meanLogLikelihood(_ points: [Double], team: ComputeThreads = .shared) -> Double {
        var responsibilities = [Double](repeating: 0, count: points.count / latent * components)
        return expectation(points, responsibilities: &responsibilities, team: team)
    }

    /// Writes each point's posterior over the components into `responsibilities` (`[n,
    /// components]`) and returns the mean log-likelihood of the points.
    func expectation(_ points: [Double], responsibilities: inout [Double], team: ComputeThreads) -> Double {
        let n = points.count / latent, k = components
        var logLikelihoods = [Double](repeating: 0, count: n)
        responsibilities.withUnsafeMutableBufferPointer { rows in
            points.withUnsafeBufferPointer { points in
                team.forEachPart(of: k, ComponentLogDensities(
                    mixture: self, points: points.baseAddress!, count: n, logDensities: rows.baseAddress!))
            }
            logLikelihoods.withUnsafeMutableBufferPointer { logLikelihoods in
                team.forEachPart(of: n, PosteriorNormalisation(
                    components: k, rows: rows.baseAddress!, logLikelihoods: logLikelihoods.baseAddress!))
            }
        }
        // Added in point order, so the mean is the same for every thread count.
        return logLikelihoods.reduce(0, +) / Double(n)
    }

    /// The weights, means and covariances that maximise the expected log-likelihood under
    /// `responsibilities`.
    static func maximisation(_ points: [Double], latent: Int, responsibilities: [Double], components: Int,
                             covariance: CovarianceKind, team: ComputeThreads) -> GaussianMixture {
        let n = points.count / latent
        var weights = [Double](repeating: 0, count: components)
        var means = [Double](repeating: 0, count: components * latent)
        var factors = [Double](repeating: 0, count: components * latent * latent)
        means.withUnsafeMutableBufferPointer { means in
            factors.withUnsafeMutableBufferPointer { factors in
                weights.withUnsafeMutableBufferPointer { weights in
                    points.withUnsafeBufferPointer { points in
                        responsibilities.withUnsafeBufferPointer { responsibilities in
                            team.forEachPart(of: components, ComponentMaximisation(
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
        let chosen = drawComponents(count: count, weights: weights, random: &random)
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

/// `count` components drawn by `weights`, one uniform number each.
func drawComponents(count: Int, weights: [Double], random: inout Random) -> [Int] {
    var chosen = [Int](repeating: weights.count - 1, count: count)
    for i in 0..<count {
        var u = Double(random.nextUniform())
        for c in weights.indices {
            u -= weights[c]
            if u < 0 { chosen[i] = c; break }
        }
    }
    return chosen
}

/// log wₖ + log N(x | μₖ, LₖLₖᵀ) of every point for the components of a part, into
/// `logDensities` `[n, components]`: the points whitened by one product with each component's
/// inverse factor, L⁻¹x - L⁻¹μ = L⁻¹(x - μ). A triangular solve on all the points needs half the
/// arithmetic, yet OpenBLAS took 5.0 s of CPU for the default run's fit (then up to 64 full
/// components) where this took 3.7.
private struct ComponentLogDensities: SplitJob {
    let mixture: GaussianMixture, points: UnsafePointer<Double>, count: Int
    let logDensities: UnsafeMutablePointer<Double>

    func run(part: Int, range: Range<Int>) {
        let d = mixture.latent, k = mixture.components
        var whitened = [Double](repeating: 0, count: count * d)
        var inverse = [Double](repeating: 0, count: d * d), shift = [Double](repeating: 0, count: d)
        mixture.factors.withUnsafeBufferPointer { factors in
            for c in range {
                let factor = factors.baseAddress! + c * d * d
                inverse.withUnsafeMutableBufferPointer { inverse in
                    inverse.update(repeating: 0)
                    for j in 0..<d { inverse[j * d + j] = 1 }
                    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(d), Int32(d), 1,
                                factor, Int32(d), inverse.baseAddress!, Int32(d))
                }
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(d), Int32(d), 1, points, Int32(d),
                            inverse, Int32(d), 0, &whitened, Int32(d))
                mixture.means.withUnsafeBufferPointer { means in
                    cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(d), Int32(d), 1, inverse, Int32(d),
                                means.baseAddress! + c * d, 1, 0, &shift, 1)
                }
                var logDeterminant = 0.0
                for j in 0..<d { logDeterminant += 2 * log(factor[j * d + j]) }
                let constant = log(mixture.weights[c]) - 0.5 * (Double(d) * log(2 * Double.pi) + logDeterminant)
                for r in 0..<count {
                    var squares = 0.0
                    for j in 0..<d {
                        let y = whitened[r * d + j] - shift[j]
                        squares += y * y
                    }
                    logDensities[r * k + c] = constant - 0.5 * squares
                }
            }
        }
    }
}

/// Turns the rows of a part from log wₖ + log N(x | μₖ, Σₖ) into the posterior over the
/// components, and writes each row's log p(x) into `logLikelihoods`.
private struct PosteriorNormalisation: SplitJob {
    let components: Int, rows: UnsafeMutablePointer<Double>, logLikelihoods: UnsafeMutablePointer<Double>

    func run(part: Int, range: Range<Int>) {
        for r in range {
            let row = rows + r * components
            var largest = -Double.infinity
            for c in 0..<components { largest = max(largest, row[c]) }
            var sum = 0.0
            for c in 0..<components {
                row[c] = exp(row[c] - largest)
                sum += row[c]
            }
            for c in 0..<components { row[c] /= sum }
            logLikelihoods[r] = largest + log(sum)
        }
    }
}

/// The M step for the components of a part: weight, responsibility-weighted mean, and the
/// weighted covariance (one symmetric rank-m update of the weighted, centred points, plus the
/// floor) as its Cholesky factor. The mean and covariance skip the points whose responsibility is
/// below `negligible`: with many components each point belongs to few of them, and the skipped
/// points move a covariance by less than n · 1e-12 · |x - μ|², far below the floor.
private struct ComponentMaximisation: SplitJob {
    static let negligible = 1e-12
    let points: UnsafePointer<Double>, responsibilities: UnsafePointer<Double>, count: Int
    let latent: Int, components: Int, covariance: CovarianceKind
    let weights: UnsafeMutablePointer<Double>, means: UnsafeMutablePointer<Double>, factors: UnsafeMutablePointer<Double>

    func run(part: Int, range: Range<Int>) {
        let d = latent
        var kept = [Int](repeating: 0, count: count), weighted = [Double](repeating: 0, count: count * d)
        var matrix = [Double](repeating: 0, count: d * d)
        for c in range {
            var total = 0.0, keptTotal = 0.0, m = 0
            let mean = means + c * d
            for r in 0..<count {
                let w = responsibilities[r * components + c]
                total += w
                guard w >= Self.negligible else { continue }
                keptTotal += w
                kept[m] = r
                m += 1
                for j in 0..<d { mean[j] += w * points[r * d + j] }
            }
            weights[c] = total / Double(count)
            let share = max(keptTotal, 1e-300)
            for j in 0..<d { mean[j] /= share }
            for (i, r) in kept[0..<m].enumerated() {
                let root = responsibilities[r * components + c].squareRoot()
                for j in 0..<d { weighted[i * d + j] = root * (points[r * d + j] - mean[j]) }
            }
            // Fills the lower triangle, all that the Cholesky factorisation reads.
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, Int32(d), Int32(m), 1 / share, weighted, Int32(d),
                        0, &matrix, Int32(d))
            for i in 0..<d {
                for j in 0..<i where covariance == .diagonal { matrix[i * d + j] = 0 }
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
