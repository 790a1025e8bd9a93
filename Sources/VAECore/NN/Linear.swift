public enum Activation: String, Sendable, CaseIterable {
    case none
    case relu
}

/// out[rows, outputs] = activation(inp[rows, inputs] · weight[outputs, inputs]ᵀ + bias).
/// The bias and the activation are applied in one pass after the sgemm.
public func linearForward(_ out: Floats, _ inp: ConstFloats, weight: ConstFloats, bias: ConstFloats,
                          rows: Int, inputs: Int, outputs: Int, activation: Activation) {
    sgemm(false, true, rows, outputs, inputs, inp, inputs, weight, inputs, out, outputs)
    addBias(out, bias, rows: rows, outputs: outputs, activation: activation)
}

/// In place: out[r, o] ← activation(out[r, o] + bias[o]), the pass after a layer's sgemm.
func addBias(_ out: Floats, _ bias: ConstFloats, rows: Int, outputs: Int, activation: Activation) {
    struct Job: SplitJob {
        let out: Floats, bias: ConstFloats, outputs: Int, activation: Activation
        func run(part: Int, range rows: Range<Int>) {
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
    }
    ComputeThreads.shared.forEachPart(of: rows, alignment: 16,
                                      Job(out: out, bias: bias, outputs: outputs, activation: activation))
}

/// Given dout = ∂L/∂out, writes ∂L/∂weight, ∂L/∂bias and (unless `dinp` is nil, as for the
/// first layer) ∂L/∂inp. `dout` must already include the activation's derivative.
public func linearBackward(dinp: Floats?, dweight: Floats, dbias: Floats, dout: ConstFloats,
                           inp: ConstFloats, weight: ConstFloats,
                           rows: Int, inputs: Int, outputs: Int) {
    sgemm(true, false, outputs, inputs, rows, dout, outputs, inp, inputs, dweight, inputs)
    biasGradient(dbias, dout: dout, rows: rows, outputs: outputs)
    if let dinp {
        sgemm(false, false, rows, inputs, outputs, dout, outputs, weight, inputs, dinp, inputs)
    }
}

/// dbias[o] = Σ_r dout[r, o]: a bias is added to every row, so its gradient sums them.
func biasGradient(_ dbias: Floats, dout: ConstFloats, rows: Int, outputs: Int) {
    // Split by outputs, so that every sum still runs over the rows in order.
    struct Job: SplitJob {
        let dbias: Floats, dout: ConstFloats, rows: Int, outputs: Int
        func run(part: Int, range: Range<Int>) {
            let dbiasPart = dbias + range.lowerBound, width = range.count
            dbiasPart.update(repeating: 0, count: width)
            for r in 0..<rows {
                let row = dout + r * outputs + range.lowerBound
                for o in 0..<width { dbiasPart[o] += row[o] }
            }
        }
    }
    ComputeThreads.shared.forEachPart(of: outputs, alignment: 16, Job(dbias: dbias, dout: dout, rows: rows, outputs: outputs))
}

/// In place: dout ← dout · 1[out > 0], where `out` is the ReLU's output.
public func reluBackward(_ dout: Floats, out: ConstFloats, count: Int) {
    struct Job: SplitJob {
        let dout: Floats, out: ConstFloats
        func run(part: Int, range: Range<Int>) {
            for i in range where out[i] <= 0 { dout[i] = 0 }
        }
    }
    ComputeThreads.shared.forEachPart(of: count, alignment: 64, Job(dout: dout, out: out))
}
