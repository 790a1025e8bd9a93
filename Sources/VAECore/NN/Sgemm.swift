import COpenBLAS

// Every layer is a forward function and a backward function over plain row-major buffers
// with explicit shapes, in the manner of llm.c. Weights use PyTorch's [outputs, inputs] layout,
// so checkpoints line up with `nn.Linear` state dicts. Backward functions overwrite their
// gradient outputs (beta = 0): every parameter is used once per step, so nothing needs zeroing.

/// The arguments of one sgemm call: C = op(A)·op(B) + beta·C, row-major.
struct SgemmCall: SplitJob {
    let transA: Bool, transB: Bool
    let m: Int, n: Int, k: Int
    let a: ConstFloats, lda: Int
    let b: ConstFloats, ldb: Int
    let c: Floats, ldc: Int
    let beta: Float

    /// Splits C into bands of rows, one per compute thread. The bands start on multiples of 12
    /// rows, the tile height of OpenBLAS's Haswell and Zen sgemm kernels: every element of C is
    /// then computed by the same kernel code, summing its k products in the same order, as in the
    /// unsplit call, so the result is bit-identical for every thread count. (Bands of 16 rows, or
    /// of columns, change the last bits of some elements.)
    func run() {
        guard m * n * k >= 32_768 else { return runOnThisThread() }
        ComputeThreads.shared.forEachPart(of: m, alignment: 12, self)
    }

    /// Rows `range` of C, on this thread.
    func run(part: Int, range: Range<Int>) {
        rows(range).runOnThisThread()
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
}

/// C = op(A)·op(B) + beta·C in row-major order, split among the compute threads; every matrix
/// product of the model goes through here.
@inline(__always)
public func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                  _ a: ConstFloats, _ lda: Int, _ b: ConstFloats, _ ldb: Int, _ c: Floats, _ ldc: Int, beta: Float = 0) {
    SgemmCall(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
              c: c, ldc: ldc, beta: beta).run()
}

