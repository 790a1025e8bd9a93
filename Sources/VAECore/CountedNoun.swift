extension DefaultStringInterpolation {
    /// A count and a noun that takes an s: "\(count: 1, "epoch")" is "1 epoch", 30 makes "30 epochs".
    public mutating func appendInterpolation(count: Int, _ noun: String) {
        appendLiteral("\(count) \(noun)\(count == 1 ? "" : "s")")
    }
}
