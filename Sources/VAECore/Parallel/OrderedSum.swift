/// A sum whose terms the compute threads share out in chunks of a fixed size. Each chunk's sum
/// is kept apart and the sums are added in chunk order afterwards, so the total is the same bit
/// for bit on any number of threads.
protocol ChunkedSum {
    /// Terms per chunk: fixed, so that no chunk boundary depends on the thread count.
    static var chunk: Int { get }
    /// The sum of the terms in `range`, which lies within one chunk.
    func sum(_ range: Range<Int>) -> Double
}

private struct ChunkedSumJob<Terms: ChunkedSum>: SplitJob {
    let terms: Terms, count: Int
    let sums: UnsafeMutableBufferPointer<Double>
    func run(part: Int, range chunks: Range<Int>) {
        for c in chunks {
            sums[c] = terms.sum(c * Terms.chunk..<min((c + 1) * Terms.chunk, count))
        }
    }
}

/// The sum of `terms` over `0..<count`, split among the compute threads by chunks.
func orderedSum<Terms: ChunkedSum>(count: Int, _ terms: Terms) -> Double {
    let chunks = (count + Terms.chunk - 1) / Terms.chunk
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { sums in
        ComputeThreads.shared.forEachPart(of: chunks, parts: ComputeThreads.shared.streamingParts,
                                          ChunkedSumJob(terms: terms, count: count, sums: sums))
        return sums.reduce(0, +)
    }
}
