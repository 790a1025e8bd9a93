/// Refuses what a model computed when a value is not finite: every weight of a checkpoint is
/// checked finite when read, but their sums can still overflow Float, and a NaN or an infinity
/// would crash or hang what is made of them (a mixture's fit, an axis range).
/// `row` names the n-th row of `width` values ("test image 3's mean"), which `model` computed.
public func checkFinite<Number: BinaryFloatingPoint & LosslessStringConvertible>(_ values: [Number], width: Int, computedBy model: VAEModel,
                                                                                 row: (Int) -> String) throws {
    guard let index = values.firstIndex(where: { !$0.isFinite }) else { return }
    let weights = model.origin.map { "the weights in \($0)" } ?? "the model's weights"
    throw VAEError(.badData, "\(row(index / width)) is \(numberText(values[index])): \(weights) are finite but "
                   + "overflow Float in the network's sums")
}

/// A number as a message gives it: Swift prints a NaN with its sign bit ("-nan"), which means nothing to a reader.
func numberText<Number: BinaryFloatingPoint & LosslessStringConvertible>(_ value: Number) -> String {
    value.isNaN ? "NaN" : String(value)
}
