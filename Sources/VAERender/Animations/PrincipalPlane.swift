/// The plane through a point cloud's mean spanned by its two leading principal directions,
/// with the cloud's standard deviation along each.
///
/// The sampling animation lays its grid on this plane when the latent space has more than two
/// dimensions, so that the grid covers where the encoder actually puts the test set.
public struct PrincipalPlane: Sendable, Equatable {
    public let center: [Double]
    /// Two orthonormal directions, the first of largest variance. Each is signed so that its
    /// largest-magnitude component is positive, which makes the plane independent of how the
    /// eigen-solver happens to orient its vectors.
    public let axes: [[Double]]
    /// The standard deviation of the points along each axis.
    public let spreads: [Double]

    /// `points` holds `points.count / dimension` points of `dimension` ≥ 2 coordinates, row-major.
    public init(points: [Float], dimension: Int) {
        precondition(dimension >= 2, "a principal plane needs at least two dimensions")
        precondition(points.count % dimension == 0, "points must hold whole points")
        let count = points.count / dimension
        var center = [Double](repeating: 0, count: dimension)
        for n in 0..<count {
            for i in 0..<dimension { center[i] += Double(points[n * dimension + i]) }
        }
        center = center.map { $0 / Double(max(count, 1)) }

        // Population covariance in Double: the test set has thousands of points, and a Float sum
        // would lose the small eigenvalues the second axis depends on.
        var covariance = SquareMatrix(size: dimension)
        var deviation = [Double](repeating: 0, count: dimension)
        for n in 0..<count {
            for i in 0..<dimension { deviation[i] = Double(points[n * dimension + i]) - center[i] }
            for i in 0..<dimension {
                for j in i..<dimension { covariance[i, j] += deviation[i] * deviation[j] }
            }
        }
        for i in 0..<dimension {
            for j in i..<dimension {
                covariance[i, j] /= Double(max(count, 1))
                covariance[j, i] = covariance[i, j]
            }
        }

        let (values, vectors) = covariance.eigenDecomposition()
        self.center = center
        axes = (0..<2).map { k in
            let axis = (0..<dimension).map { vectors[$0, k] }
            let largest = axis.indices.max { abs(axis[$0]) < abs(axis[$1]) }!
            return axis[largest] < 0 ? axis.map { -$0 } : axis
        }
        // Rounding can leave a zero eigenvalue slightly negative.
        spreads = values.prefix(2).map { max($0, 0).squareRoot() }
    }

    /// How far `point` lies from the centre along each axis, in latent units: its coordinates
    /// in the plane after projecting it onto the plane.
    public func coordinates(of point: ArraySlice<Float>) -> (Double, Double) {
        precondition(point.count == center.count, "the point has another dimension than the plane")
        var along = (0.0, 0.0)
        for (i, value) in zip(center.indices, point) {
            let offset = Double(value) - center[i]
            along.0 += offset * axes[0][i]
            along.1 += offset * axes[1][i]
        }
        return along
    }

    /// The point `center + a·spread₀·axis₀ + b·spread₁·axis₁`: (a, b) in standard deviations.
    public func point(_ a: Double, _ b: Double) -> [Float] {
        center.indices.map { i in
            Float(center[i] + a * spreads[0] * axes[0][i] + b * spreads[1] * axes[1][i])
        }
    }
}

/// A dense square matrix of Doubles, row-major.
struct SquareMatrix {
    let size: Int
    private var elements: [Double]

    init(size: Int) {
        self.size = size
        elements = [Double](repeating: 0, count: size * size)
    }

    subscript(row: Int, column: Int) -> Double {
        get { elements[row * size + column] }
        set { elements[row * size + column] = newValue }
    }

    /// For a symmetric matrix: its eigenvalues in descending order and the matching unit
    /// eigenvectors as the columns of a matrix, by cyclic Jacobi rotations, which are simple
    /// and accurate even for nearly equal eigenvalues.
    func eigenDecomposition() -> (values: [Double], vectors: SquareMatrix) {
        var a = self
        var v = SquareMatrix(size: size)
        for i in 0..<size { v[i, i] = 1 }
        let total = elements.reduce(0) { $0 + $1 * $1 }
        for _ in 0..<64 {
            var offDiagonal = 0.0
            for p in 0..<size {
                for q in (p + 1)..<size { offDiagonal += a[p, q] * a[p, q] }
            }
            if offDiagonal <= 1e-30 * total { break }
            for p in 0..<(size - 1) {
                for q in (p + 1)..<size where a[p, q] != 0 {
                    // The rotation in the (p, q) plane that zeroes a[p, q] (Numerical Recipes §11.1).
                    let theta = (a[q, q] - a[p, p]) / (2 * a[p, q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<size {
                        let (kp, kq) = (a[k, p], a[k, q])
                        a[k, p] = c * kp - s * kq
                        a[k, q] = s * kp + c * kq
                    }
                    for k in 0..<size {
                        let (pk, qk) = (a[p, k], a[q, k])
                        a[p, k] = c * pk - s * qk
                        a[q, k] = s * pk + c * qk
                    }
                    a[p, q] = 0
                    a[q, p] = 0
                    for k in 0..<size {
                        let (kp, kq) = (v[k, p], v[k, q])
                        v[k, p] = c * kp - s * kq
                        v[k, q] = s * kp + c * kq
                    }
                }
            }
        }
        // Equal eigenvalues keep the solver's order, so the result is deterministic.
        let order = (0..<size).sorted { a[$0, $0] > a[$1, $1] || (a[$0, $0] == a[$1, $1] && $0 < $1) }
        var sorted = SquareMatrix(size: size)
        for (k, source) in order.enumerated() {
            for i in 0..<size { sorted[i, k] = v[i, source] }
        }
        return (order.map { a[$0, $0] }, sorted)
    }
}
