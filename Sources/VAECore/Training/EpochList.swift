/// Epochs named for a report: "epoch 4", "epochs 2, 5 and 7", "epochs 2, 5, 7, 9 and 3 more"
/// (at most `limit` numbers, the last of them "N more" past it).
public func epochList(_ epochs: [Int], showing limit: Int = 5) -> String {
    let shown = epochs.prefix(epochs.count > limit ? limit - 1 : limit).map(String.init)
    let rest = epochs.count - shown.count
    guard epochs.count > 1 else { return "epoch \(shown.first ?? "")" }
    return "epochs " + (rest > 0 ? shown.joined(separator: ", ") + " and \(rest) more"
                        : shown.dropLast().joined(separator: ", ") + " and " + shown.last!)
}
