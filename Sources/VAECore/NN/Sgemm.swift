import COpenBLAS

/// A pass over rows of a product's C that runs right after those rows are computed, in the
/// same part of the same job: the bias and activation after a layer's product, the ReLU mask on
/// an input gradient, a bias gradient beside a weight gradient. The rows are still in cache, and
/// the pass needs no hand-off to the compute threads of its own.
protocol RowsPass {
    /// Does the pass over rows `rows` of C, after their product.
    func run(rows: Range<Int>)
}

/// No pass after the product.
struct NoPass: RowsPass {
    @inline(__always) func run(rows: Range<Int>) {}
}

/// The arguments of one sgemm call: C = op(A)·op(B) + beta·C, row-major.
struct SgemmCall {
    let transA: Bool, transB: Bool
    let m: Int, n: Int, k: Int
    let a: ConstFloats, lda: Int
    let b: ConstFloats, ldb: Int
    let c: Floats, ldc: Int
    let beta: Float

    /// Rows of C per sgemm call for a product of `m` rows: a quarter of them, rounded up to 16,
    /// and at least 64 (the last block may be shorter). A function of the shape alone.
    static func blockRows(m: Int) -> Int { max(64, ((m + 3) / 4 + 15) / 16 * 16) }

    /// Columns of C per sgemm call for a product with too few rows to cut (a weight gradient of
    /// 64 outputs or fewer, a batch of up to 64): a quarter of them, rounded up to 16, and at
    /// least 32. Sixteen floats are a cache line: two threads never write to the same one.
    static func blockColumns(n: Int) -> Int { max(32, ((n + 3) / 4 + 15) / 16 * 16) }

    /// How a product of this shape is cut into sgemm calls: into blocks of `blockRows` rows of C,
    /// else of `blockColumns` columns, else (a small product) not at all.
    static func blocks(m: Int, n: Int, k: Int) -> (count: Int, byRows: Bool, size: Int) {
        guard m * n * k >= 32_768 else { return (1, true, m) }
        let rows = blockRows(m: m), columns = blockColumns(n: n)
        if m > rows { return ((m + rows - 1) / rows, true, rows) }
        if n > columns { return ((n + columns - 1) / columns, false, columns) }
        return (1, true, m)
    }

    /// Splits C into blocks of rows (or of columns, see `blocks`) and shares the blocks out
    /// among the compute threads, each block one sgemm call, a block of rows followed by
    /// `after` over its rows. OpenBLAS picks its kernel by the shape of a call (on SkylakeX and
    /// Cooperlake, products below about 100³ multiply-adds take a small-matrix kernel that
    /// rounds differently), so an element's last bits depend on the call it was part of. Blocks
    /// of a fixed shape make the calls the same for every thread count, and a job that runs
    /// whole on one thread (the team busy) makes them too: results are bit-identical.
    /// (Splitting C into one band per thread was bit-identical on Haswell kernels only.) Each
    /// block is a part of its own, taken by whichever thread is free. Blocks of columns make
    /// `after` wait for all of them: it runs over every row on the calling thread.
    func run<After: RowsPass>(on team: ComputeThreads = .shared, then after: After) {
        let blocks = SgemmCall.blocks(m: m, n: n, k: k)
        guard blocks.count > 1 else {
            runOnThisThread()
            return after.run(rows: 0..<m)
        }
        team.forEachPart(of: blocks.count, parts: blocks.count, Blocks(call: self, after: after))
        if !blocks.byRows { after.run(rows: 0..<m) }
    }

    func run(on team: ComputeThreads = .shared) {
        run(on: team, then: NoPass())
    }

    /// This product and `other`, which must not depend on each other, as one job: the blocks of
    /// both are its parts, each block followed by its product's pass, so that the two share one
    /// hand-off and even out each other's blocks (a layer's weight and input gradients).
    func run<After: RowsPass, OtherAfter: RowsPass>(alongside other: SgemmCall, then after: After, _ otherAfter: OtherAfter) {
        let blocks = SgemmCall.blocks(m: m, n: n, k: k)
        let otherBlocks = SgemmCall.blocks(m: other.m, n: other.n, k: other.k)
        ComputeThreads.shared.forEachPart(of: blocks.count + otherBlocks.count, parts: blocks.count + otherBlocks.count,
                                          Pair(first: Blocks(call: self, after: after),
                                               second: Blocks(call: other, after: otherAfter), firstBlocks: blocks.count))
        if !blocks.byRows { after.run(rows: 0..<m) }
        if !otherBlocks.byRows { otherAfter.run(rows: 0..<other.m) }
    }

    /// Blocks of C, one sgemm call each, on the thread that takes them; a block of rows is
    /// followed by the pass after it (for blocks of columns the caller runs the pass).
    private struct Blocks<After: RowsPass>: SplitJob {
        let call: SgemmCall, after: After
        func run(part: Int, range: Range<Int>) {
            let blocks = SgemmCall.blocks(m: call.m, n: call.n, k: call.k)
            for block in range {
                if blocks.byRows {
                    let rows = block * blocks.size..<min((block + 1) * blocks.size, call.m)
                    call.rows(rows).runOnThisThread()
                    after.run(rows: rows)
                } else {
                    call.columns(block * blocks.size..<min((block + 1) * blocks.size, call.n)).runOnThisThread()
                }
            }
        }
    }

    /// The blocks of two products, numbered one after the other.
    private struct Pair<First: SplitJob, Second: SplitJob>: SplitJob {
        let first: First, second: Second, firstBlocks: Int
        func run(part: Int, range: Range<Int>) {
            if range.lowerBound < firstBlocks {
                first.run(part: part, range: range.lowerBound..<min(range.upperBound, firstBlocks))
            }
            if range.upperBound > firstBlocks {
                second.run(part: part, range: max(range.lowerBound, firstBlocks) - firstBlocks..<range.upperBound - firstBlocks)
            }
        }
    }

    @inline(__always)
    func runOnThisThread() {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The product for rows `range` of C: the same rows of op(A).
    func rows(_ range: Range<Int>) -> SgemmCall {
        SgemmCall(transA: transA, transB: transB, m: range.count, n: n, k: k,
                  a: transA ? a + range.lowerBound : a + range.lowerBound * lda, lda: lda, b: b, ldb: ldb,
                  c: c + range.lowerBound * ldc, ldc: ldc, beta: beta)
    }

    /// The product for columns `range` of C: the same columns of op(B).
    func columns(_ range: Range<Int>) -> SgemmCall {
        SgemmCall(transA: transA, transB: transB, m: m, n: range.count, k: k, a: a, lda: lda,
                  b: transB ? b + range.lowerBound * ldb : b + range.lowerBound, ldb: ldb,
                  c: c + range.lowerBound, ldc: ldc, beta: beta)
    }
}

/// C = op(A)·op(B) + beta·C in row-major order, split among the compute threads; every matrix
/// product of the model goes through here.
@inline(__always)
public func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                  _ a: ConstFloats, _ lda: Int, _ b: ConstFloats, _ ldb: Int, _ c: Floats, _ ldc: Int, beta: Float = 0) {
    SgemmCall(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
              c: c, ldc: ldc, beta: beta).run()
}
