public enum Activation: String, Sendable, CaseIterable {
    case none
    case relu
}

/// out[rows, outputs] = activation(inp[rows, inputs] · weight[outputs, inputs]ᵀ + bias).
/// The bias and the activation are applied to each block of rows right after its sgemm call
/// (after all blocks, on the calling thread, when the product is cut into blocks of columns).
public func linearForward(_ out: Floats, _ inp: ConstFloats, weight: ConstFloats, bias: ConstFloats,
                          rows: Int, inputs: Int, outputs: Int, activation: Activation) {
    SgemmCall(transA: false, transB: true, m: rows, n: outputs, k: inputs, a: inp, lda: inputs, b: weight, ldb: inputs,
              c: out, ldc: outputs, beta: 0)
        .run(then: BiasActivation(out: out, bias: bias, outputs: outputs, activation: activation))
}

/// In place: out[r, o] ← activation(out[r, o] + bias[o]), as its own pass (the transposed
/// convolution adds its bias after col2im; `linearForward` fuses it into its product's blocks).
func addBias(_ out: Floats, _ bias: ConstFloats, rows: Int, outputs: Int, activation: Activation) {
    ComputeThreads.shared.forEachPart(of: rows, alignment: 16,
                                      BiasActivation(out: out, bias: bias, outputs: outputs, activation: activation))
}

private struct BiasActivation: RowsPass, SplitJob {
    let out: Floats, bias: ConstFloats, outputs: Int, activation: Activation
    func run(rows: Range<Int>) {
        for r in rows {
            let row = out + r * outputs
            switch activation {
            case .none:
                for o in 0..<outputs { row[o] += bias[o] }
            case .relu:
                for o in 0..<outputs { row[o] = max(row[o] + bias[o], 0) }
            }
        }
    }
    func run(part: Int, range: Range<Int>) { run(rows: range) }
}

/// Given dout = ∂L/∂out, writes ∂L/∂weight, ∂L/∂bias and (unless `dinp` is nil, as for the
/// first layer) ∂L/∂inp. `dout` must already include the activation's derivative. With
/// `dinpReLUOutput`, the output of a ReLU that produced `inp`, ∂L/∂inp takes that ReLU's
/// derivative too (as `reluBackward` would give it), each block of rows right after its sgemm.
/// The weight and input gradients' products are one job.
public func linearBackward(dinp: Floats?, dweight: Floats, dbias: Floats, dout: ConstFloats,
                           inp: ConstFloats, weight: ConstFloats,
                           rows: Int, inputs: Int, outputs: Int, dinpReLUOutput: ConstFloats? = nil) {
    // dweight's rows are the outputs: the bias gradient of each block of outputs follows its sgemm call.
    let weightGradient = SgemmCall(transA: true, transB: false, m: outputs, n: inputs, k: rows, a: dout, lda: outputs,
                                   b: inp, ldb: inputs, c: dweight, ldc: inputs, beta: 0)
    let biasPass = BiasGradient(dbias: dbias, dout: dout, rows: rows, outputs: outputs)
    guard let dinp else { return weightGradient.run(then: biasPass) }
    let inputGradient = SgemmCall(transA: false, transB: false, m: rows, n: inputs, k: outputs, a: dout, lda: outputs,
                                  b: weight, ldb: inputs, c: dinp, ldc: inputs, beta: 0)
    if let dinpReLUOutput {
        weightGradient.run(alongside: inputGradient, then: biasPass, ReLUMask(dout: dinp, out: dinpReLUOutput, width: inputs))
    } else {
        weightGradient.run(alongside: inputGradient, then: biasPass, NoPass())
    }
}

/// dbias[o] = Σ_r dout[r, o]: a bias is added to every row, so its gradient sums them.
func biasGradient(_ dbias: Floats, dout: ConstFloats, rows: Int, outputs: Int) {
    ComputeThreads.shared.forEachPart(of: outputs, alignment: 16, BiasGradient(dbias: dbias, dout: dout, rows: rows, outputs: outputs))
}

/// Split by outputs, so that every sum still runs over the rows in order.
private struct BiasGradient: RowsPass, SplitJob {
    let dbias: Floats, dout: ConstFloats, rows: Int, outputs: Int
    func run(rows outputRange: Range<Int>) {
        let dbiasPart = dbias + outputRange.lowerBound, width = outputRange.count
        dbiasPart.update(repeating: 0, count: width)
        for r in 0..<rows {
            let row = dout + r * outputs + outputRange.lowerBound
            for o in 0..<width { dbiasPart[o] += row[o] }
        }
    }
    func run(part: Int, range: Range<Int>) { run(rows: range) }
}

/// In place: dout ← dout · 1[out > 0], where `out` is the ReLU's output.
public func reluBackward(_ dout: Floats, out: ConstFloats, count: Int) {
    ComputeThreads.shared.forEachPart(of: count, alignment: 64, ReLUMask(dout: dout, out: out, width: 1))
}

/// The ReLU's derivative on rows of `width` elements.
private struct ReLUMask: RowsPass, SplitJob {
    let dout: Floats, out: ConstFloats, width: Int
    func run(rows: Range<Int>) {
        for i in rows.lowerBound * width..<rows.upperBound * width where out[i] <= 0 { dout[i] = 0 }
    }
    func run(part: Int, range: Range<Int>) { run(rows: range) }
}
