// A conditional model's first layers see the label: its one-hot is concatenated to their input,
// after the features of every position. A dense layer's input is one position (784 pixels, or
// the latent code); a convolution's NHWC image has 784 positions of one channel each, so the
// label becomes 10 more channels of every pixel.

/// out[r, p, :] = (inp[r, p, 0..<features], onehot(labels[r])): rows of positions · features
/// floats become rows of positions · (features + classes).
public func concatenateOneHot(_ out: Floats, _ inp: ConstFloats, labels: UnsafePointer<UInt8>, rows: Int,
                              positions: Int, features: Int, classes: Int) {
    let width = features + classes
    for r in 0..<rows {
        let label = Int(labels[r])
        precondition(label < classes, "label \(label) of row \(r) is not one of \(classes) classes")
        for p in 0..<positions {
            let source = inp + (r * positions + p) * features, target = out + (r * positions + p) * width
            target.update(from: source, count: features)
            (target + features).update(repeating: 0, count: classes)
            target[features + label] = 1
        }
    }
}

/// The backward of `concatenateOneHot` for the features: dinp is dout without the label's
/// columns (the label is data, so its gradient goes nowhere).
public func concatenateOneHotBackward(_ dinp: Floats, dout: ConstFloats, rows: Int, positions: Int, features: Int, classes: Int) {
    let width = features + classes
    for rp in 0..<rows * positions {
        (dinp + rp * features).update(from: dout + rp * width, count: features)
    }
}
