import VAECore

/// The plane through a point cloud's mean spanned by its two leading principal directions,
/// with the cloud's standard deviation along each.
///
/// The sampling animation lays its grid on this plane when the latent space has more than two
/// dimensions, so that the grid covers where the encoder actually puts the test set; the latent
/// map projects every epoch's means onto the final model's plane.
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
        var covariance = [Double](repeating: 0, count: dimension * dimension)
        var deviation = [Double](repeating: 0, count: dimension)
        for n in 0..<count {
            for i in 0..<dimension { deviation[i] = Double(points[n * dimension + i]) - center[i] }
            for i in 0..<dimension {
                for j in i..<dimension { covariance[i * dimension + j] += deviation[i] * deviation[j] }
            }
        }
        for i in 0..<dimension {
            for j in i..<dimension {
                covariance[i * dimension + j] /= Double(max(count, 1))
                covariance[j * dimension + i] = covariance[i * dimension + j]
            }
        }

        // The two largest eigenvalues; of equal ones (a cloud with no spread at all) the first
        // coordinates, so that a degenerate map still shows z1 and z2.
        let (values, vectors) = symmetricEigensystem(covariance, size: dimension)
        let leading = Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(2))
        self.center = center
        axes = leading.map { k in
            let axis = Array(vectors[k * dimension..<(k + 1) * dimension])
            let largest = axis.indices.max { abs(axis[$0]) < abs(axis[$1]) }!
            return axis[largest] < 0 ? axis.map { -$0 } : axis
        }
        // Rounding can leave a zero eigenvalue slightly negative.
        spreads = leading.map { max(values[$0], 0).squareRoot() }
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
