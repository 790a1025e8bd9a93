/// How well a set of latent codes keeps the classes apart, with no model fitted to them: the
/// share of the points whose `k` nearest other points (Euclidean, in all `dimension`
/// coordinates) vote for the point's own class. A tie between classes goes to the one of the
/// nearer neighbour; points at equal computed distances count in index order. 1/10 means the
/// codes say nothing of the class; an encoder that groups characters by class approaches 1. Nil
/// unless there are more than `k` points, so that a figure named "5-NN" had five neighbours
/// vote, and for codes that are not all finite (a diverging epoch's), whose distances order nothing.
///
/// The squared distances come from one product `points · pointsᵀ` per block of `blockRows`
/// points (through `sgemm`), as |a|² + |b|² − 2a·b, so that only the scan for the nearest is a
/// plain loop over all pairs; a block's products take `blockRows` rows of n floats.
public func nearestNeighbourAccuracy(_ points: [Float], dimension: Int, labels: [Int], k: Int = 5,
                                     blockRows: Int = 256) -> Double? {
    precondition(dimension >= 1 && points.count == labels.count * dimension && k >= 1 && blockRows >= 1)
    precondition(labels.allSatisfy { $0 >= 0 }, "classes are numbered from 0")
    let count = labels.count
    guard count > k, points.allSatisfy(\.isFinite) else { return nil }
    let squaredNorms = (0..<count).map { n in
        points[n * dimension..<(n + 1) * dimension].reduce(Float(0)) { $0 + $1 * $1 }
    }
    var products = [Float](repeating: 0, count: min(blockRows, count) * count)
    var nearest: [(distance: Float, index: Int)] = []
    nearest.reserveCapacity(k + 1)
    var votes = [Int](repeating: 0, count: (labels.max() ?? 0) + 1)
    var correct = 0
    for start in stride(from: 0, to: count, by: blockRows) {
        let rows = min(blockRows, count - start)
        points.withUnsafeBufferPointer { all in
            products.withUnsafeMutableBufferPointer { out in
                sgemm(false, true, rows, count, dimension, all.baseAddress! + start * dimension, dimension,
                      all.baseAddress!, dimension, out.baseAddress!, count)
            }
        }
        for row in 0..<rows {
            let point = start + row
            nearest.removeAll(keepingCapacity: true)
            for other in 0..<count where other != point {
                let distance = squaredNorms[point] + squaredNorms[other] - 2 * products[row * count + other]
                guard nearest.count < k || distance < nearest[k - 1].distance else { continue }
                // Insertion keeps `nearest` sorted; an equal distance goes after the earlier index.
                var place = nearest.count
                while place > 0 && nearest[place - 1].distance > distance { place -= 1 }
                nearest.insert((distance, other), at: place)
                if nearest.count > k { nearest.removeLast() }
            }
            var most = 0
            for neighbour in nearest {
                votes[labels[neighbour.index]] += 1
                most = max(most, votes[labels[neighbour.index]])
            }
            let winner = labels[nearest.first { votes[labels[$0.index]] == most }!.index]
            if winner == labels[point] { correct += 1 }
            for neighbour in nearest { votes[labels[neighbour.index]] = 0 }
        }
    }
    return Double(correct) / Double(count)
}
