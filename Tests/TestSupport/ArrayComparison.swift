import Testing

// `#expect(a == b)` on two large arrays makes Swift Testing, when it fails, compute a
// `CollectionDifference` of them, which takes minutes for a checkpoint's bytes or a model's
// weights: the suite hangs instead of failing. These compare element by element and record one
// issue naming the first difference, how many there are and a few values.

/// Expects `actual` to equal `expected` element for element (and in length).
public func expectIdentical<Element: Equatable>(_ actual: some Collection<Element>, _ expected: some Collection<Element>,
                                                _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    if let message = difference(Array(actual), Array(expected), what, matches: { $0 == $1 }) {
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
}

/// Expects each `actual[i]` within `absolute + relative·|expected[i]|` of `expected[i]`.
public func expectClose<Value: BinaryFloatingPoint>(_ actual: [Value], _ expected: [Value], relative: Double = 0,
                                                    absolute: Double = 0, _ what: String = "",
                                                    sourceLocation: SourceLocation = #_sourceLocation) {
    let message = difference(actual, expected, what) { a, e in
        abs(Double(a) - Double(e)) <= absolute + relative * abs(Double(e))
    }
    if let message { Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation) }
}

/// A one-paragraph account of where `actual` and `expected` disagree, or nil if they agree.
func difference<Element>(_ actual: [Element], _ expected: [Element], _ what: String,
                         matches: (Element, Element) -> Bool) -> String? {
    let name = what.isEmpty ? "" : what + ": "
    guard actual.count == expected.count else {
        return "\(name)\(actual.count) elements, expected \(expected.count)"
    }
    let differing = actual.indices.filter { !matches(actual[$0], expected[$0]) }
    guard let first = differing.first else { return nil }
    let shown = differing.prefix(5).map { "[\($0)] \(actual[$0]) (expected \(expected[$0]))" }
    return "\(name)\(differing.count) of \(actual.count) elements differ, the first at index \(first): "
        + shown.joined(separator: ", ") + (differing.count > 5 ? ", …" : "")
}
