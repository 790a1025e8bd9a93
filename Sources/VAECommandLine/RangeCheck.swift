import ArgumentParser

/// Refuses a value of `flag` outside `range` in the one wording every tool uses, "--grid must be
/// between 1 and 64, got 1000", with `unit` after the upper bound when the number needs one. A
/// flag left out (nil) passes.
public func checkRange<Value: Comparable>(_ flag: String, _ value: Value?, in range: ClosedRange<Value>,
                                          unit: String? = nil) throws {
    guard let value, !range.contains(value) else { return }
    throw ValidationError("\(flag) must be between \(range.lowerBound) and \(range.upperBound)\(unit.map { " " + $0 } ?? ""), got \(value)")
}
