/// A sum whose terms the compute threads share out in chunks of a fixed size. Each chunk's sum
/// is kept apart and the sums are added in chunk order afterwards, so the total is the same bit
/// for bit on any number of threads.
protocol ChunkedSum {
    /// Terms per chunk: fixed, so that no chunk boundary depends on the thread count.
    static var chunk: Int { get }
    /// The sum of the terms in `range`, which lies within one chunk.
    func sum(_ range: Range<Int>) -> Double
}

/// Sums `group` chunks from `first` on into `sums[0..<group]`.
private struct ChunkedSumJob<Terms: ChunkedSum>: SplitJob {
    let terms: Terms, count: Int, first: Int
    let sums: UnsafeMutableBufferPointer<Double>
    func run(part: Int, range chunks: Range<Int>) {
        for c in chunks {
            let start = (first + c) * Terms.chunk
            sums[c] = terms.sum(start..<min(start + Terms.chunk, count))
        }
    }
}

/// Chunk sums kept at a time: 1 KB, which a temporary allocation takes from the stack (above
/// that, Swift on Linux takes it from the heap, and a training step must allocate nothing).
private let chunkSumsAtATime = 128

/// The sum of `terms` over `0..<count`, split among the compute threads by chunks, 128 chunks a
/// job, the chunk sums added in order.
func orderedSum<Terms: ChunkedSum>(count: Int, _ terms: Terms) -> Double {
    let chunks = (count + Terms.chunk - 1) / Terms.chunk
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunkSumsAtATime) { sums in
        var total = 0.0
        for first in stride(from: 0, to: chunks, by: chunkSumsAtATime) {
            let group = min(chunkSumsAtATime, chunks - first)
            ComputeThreads.shared.forEachPart(of: group, parts: ComputeThreads.shared.streamingParts,
                                              ChunkedSumJob(terms: terms, count: count, first: first, sums: sums))
            for c in 0..<group { total += sums[c] }
        }
        return total
    }
}
