import COpenBLAS

/// The mean and covariance of a set of feature vectors: all the Fréchet distance needs of them.
public struct FeatureStatistics: Sendable, Equatable {
    public let dimension: Int
    public let count: Int
    public let mean: [Double]
    /// Row-major `[dimension, dimension]`, with the unbiased 1/(count - 1) normalisation.
    public let covariance: [Double]

    public init(dimension: Int, count: Int, mean: [Double], covariance: [Double]) {
        precondition(mean.count == dimension && covariance.count == dimension * dimension)
        self.dimension = dimension
        self.count = count
        self.mean = mean
        self.covariance = covariance
    }

    /// The statistics of `features`, row-major `[n, dimension]` with n >= 2.
    public init(features: [Float], dimension: Int) {
        let n = features.count / dimension
        precondition(n >= 2 && features.count == n * dimension, "need at least two whole feature vectors")
        var mean = [Double](repeating: 0, count: dimension)
        for r in 0..<n {
            for j in 0..<dimension { mean[j] += Double(features[r * dimension + j]) }
        }
        mean = mean.map { $0 / Double(n) }
        var centred = [Double](repeating: 0, count: n * dimension)
        for r in 0..<n {
            for j in 0..<dimension { centred[r * dimension + j] = Double(features[r * dimension + j]) - mean[j] }
        }
        var covariance = [Double](repeating: 0, count: dimension * dimension)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(dimension), Int32(dimension), Int32(n),
                    1 / Double(n - 1), centred, Int32(dimension), centred, Int32(dimension), 0, &covariance, Int32(dimension))
        self.init(dimension: dimension, count: n, mean: mean, covariance: covariance)
    }
}

/// The Fréchet distance between the Gaussians N(μa, Σa) and N(μb, Σb) (Dowson and Landau 1982),
/// |μa - μb|² + tr(Σa + Σb - 2 (Σa Σb)^½). The trace of (Σa Σb)^½ is taken as that of the
/// symmetric (Σa^½ Σb Σa^½)^½, which has the same eigenvalues, from two LAPACK eigensolutions.
public func frechetDistance(_ a: FeatureStatistics, _ b: FeatureStatistics) -> Double {
    precondition(a.dimension == b.dimension)
    let n = a.dimension
    let (values, vectors) = symmetricEigensystem(a.covariance, size: n)
    // Σa^½ = V diag(√λ) Vᵀ; `vectors` holds one eigenvector per row.
    var scaled = vectors
    for k in 0..<n {
        let root = max(values[k], 0).squareRoot()
        for i in 0..<n { scaled[k * n + i] *= root }
    }
    var rootA = [Double](repeating: 0, count: n * n)
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, vectors, Int32(n),
                scaled, Int32(n), 0, &rootA, Int32(n))
    var product = [Double](repeating: 0, count: n * n), middle = [Double](repeating: 0, count: n * n)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, rootA, Int32(n),
                b.covariance, Int32(n), 0, &product, Int32(n))
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, product, Int32(n),
                rootA, Int32(n), 0, &middle, Int32(n))
    // Rounding leaves the product a hair off symmetric; LAPACK reads one triangle only.
    let traceOfRoot = symmetricEigensystem(middle, size: n, vectors: false).values.reduce(0) { $0 + max($1, 0).squareRoot() }
    var squaredMeanDistance = 0.0, traces = 0.0
    for i in 0..<n {
        squaredMeanDistance += (a.mean[i] - b.mean[i]) * (a.mean[i] - b.mean[i])
        traces += a.covariance[i * n + i] + b.covariance[i * n + i]
    }
    return squaredMeanDistance + traces - 2 * traceOfRoot
}

/// The eigenvalues (ascending) and, with `vectors`, the unit eigenvectors (one per row) of the
/// symmetric `size` x `size` matrix `matrix`, by LAPACK's dsyevd. A symmetric matrix reads the
/// same in row-major and column-major order.
public func symmetricEigensystem(_ matrix: [Double], size: Int, vectors: Bool = true) -> (values: [Double], vectors: [Double]) {
    var a = matrix, values = [Double](repeating: 0, count: size)
    var n = Int32(size), info: Int32 = 0
    let job: CChar = vectors ? 0x56 : 0x4E, lower: CChar = 0x4C  // "V" or "N", and "L"
    var jobz = job, uplo = lower
    // A workspace query first, then the solution.
    var workSize = 0.0, iworkSize: Int32 = 0, query: Int32 = -1
    dsyevd_(&jobz, &uplo, &n, &a, &n, &values, &workSize, &query, &iworkSize, &query, &info)
    var lwork = Int32(workSize), liwork = iworkSize
    var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
    dsyevd_(&jobz, &uplo, &n, &a, &n, &values, &work, &lwork, &iwork, &liwork, &info)
    precondition(info == 0, "dsyevd failed: info \(info)")
    return (values, a)
}
