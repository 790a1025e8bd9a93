import Foundation

/// probabilities[r] = softmax(logits[r]) for `rows` rows of `classes` logits. The largest logit
/// of a row is subtracted before exponentiating, so no logit overflows.
public func softmax(_ probabilities: Floats, logits: ConstFloats, rows: Int, classes: Int) {
    for r in 0..<rows {
        softmaxRow(probabilities + r * classes, logits: logits + r * classes, classes: classes)
    }
}

/// One row of `softmax`; returns the row's log-sum-exp, log Σ_c e^{logits[c]}.
@discardableResult
private func softmaxRow(_ p: Floats, logits row: ConstFloats, classes: Int) -> Double {
    var largest = row[0]
    for c in 1..<classes { largest = max(largest, row[c]) }
    var sum = 0.0
    for c in 0..<classes { sum += exp(Double(row[c] - largest)) }
    for c in 0..<classes { p[c] = Float(exp(Double(row[c] - largest)) / sum) }
    return Double(largest) + log(sum)
}

/// Σ_r -log softmax(logits[r])[labels[r]], in nats, with the softmax of each row left in
/// `probabilities` and, unless `dlogits` is nil, the gradient of the sum,
/// ∂L/∂logits = softmax - onehot(label).
public func softmaxCrossEntropy(logits: ConstFloats, labels: UnsafePointer<UInt8>, probabilities: Floats, dlogits: Floats?,
                                rows: Int, classes: Int) -> Double {
    var total = 0.0
    for r in 0..<rows {
        let row = logits + r * classes, label = Int(labels[r]), p = probabilities + r * classes
        precondition(label < classes, "label \(label) is not one of \(classes) classes")
        total += softmaxRow(p, logits: row, classes: classes) - Double(row[label])
        if let dlogits {
            let d = dlogits + r * classes
            for c in 0..<classes { d[c] = p[c] }
            d[label] -= 1
        }
    }
    return total
}
