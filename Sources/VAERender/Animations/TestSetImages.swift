import VAECore

/// Up to `perClass` images of each class that occurs in `labels`: the first image of every
/// class in class order, then the second of every class, and so on. Deterministic, and it
/// shows every class even when the test set is a small or unbalanced one.
public func firstImagesOfEachClass(_ labels: [UInt8], perClass: Int) -> [Int] {
    var byClass: [UInt8: [Int]] = [:]
    for (index, label) in labels.enumerated() where byClass[label, default: []].count < perClass {
        byClass[label, default: []].append(index)
    }
    let classes = byClass.keys.sorted()
    return (0..<perClass).flatMap { round in classes.compactMap { byClass[$0]!.count > round ? byClass[$0]![round] : nil } }
}

/// Refuses image indices outside the test set, naming the flag they came from.
func checkTestIndices(_ indices: [Int], flag: String, testCount: Int) throws {
    guard testCount > 0 else {
        throw VAEError(.usage, "the test set is empty, so there is nothing to show for \(flag)")
    }
    if let bad = indices.first(where: { !(0..<testCount).contains($0) }) {
        throw VAEError(.usage, "\(flag): image \(bad) is outside the test set, which has \(testCount) images (0...\(testCount - 1))")
    }
}
