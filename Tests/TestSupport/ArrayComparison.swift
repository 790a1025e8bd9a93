import Testing

// `#expect(a == b)` on two large arrays makes Swift Testing, when it fails, compute a
// `CollectionDifference` of them, which takes minutes for a checkpoint's bytes or a model's
// weights: the suite hangs instead of failing. (And where it computes none, as for a struct or a
// dictionary holding arrays, it prints every element.) These compare element by element and
// record one issue naming the first difference, how many there are and a few values.

/// Expects `actual` to equal `expected` element for element (and in length).
public func expectIdentical<Element: Equatable>(_ actual: some Collection<Element>, _ expected: some Collection<Element>,
                                                _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    if let message = difference(Array(actual), Array(expected), what, matches: { $0 == $1 }) {
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
}

/// Expects arrays named alike (a run folder's files by name, say) to hold the same names and,
/// under each name, identical elements: one issue for the names, one for each array that differs.
public func expectIdentical<Key: Comparable, Element: Equatable>(_ actual: [Key: [Element]], _ expected: [Key: [Element]],
                                                                 _ what: String = "",
                                                                 sourceLocation: SourceLocation = #_sourceLocation) {
    let name = what.isEmpty ? "" : what + ": "
    let onlyActual = actual.keys.filter { expected[$0] == nil }.sorted(), onlyExpected = expected.keys.filter { actual[$0] == nil }.sorted()
    if !onlyActual.isEmpty || !onlyExpected.isEmpty {
        Issue.record(Comment(rawValue: "\(name)\(onlyActual) present but not expected, \(onlyExpected) expected but missing"),
                     sourceLocation: sourceLocation)
    }
    for key in actual.keys.sorted() {
        guard let expectedElements = expected[key] else { continue }
        expectIdentical(actual[key]!, expectedElements, "\(name)\(key)", sourceLocation: sourceLocation)
    }
}

/// Expects the arrays of `actual` (a GIF's frames, say) to equal those of `expected`, in number
/// and each element for element: one issue for the count, one for each array that differs.
public func expectIdentical<Element: Equatable>(_ actual: [[Element]], _ expected: [[Element]], _ what: String = "",
                                                sourceLocation: SourceLocation = #_sourceLocation) {
    let name = what.isEmpty ? "" : what + " "
    if actual.count != expected.count {
        Issue.record(Comment(rawValue: "\(name)\(actual.count) arrays, expected \(expected.count)"), sourceLocation: sourceLocation)
    }
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        expectIdentical(a, e, "\(name)[\(index)]", sourceLocation: sourceLocation)
    }
}

/// Expects `actual` and `other` to differ somewhere; when they are the same, says so in one line
/// instead of printing both.
public func expectDifferent<Element: Equatable>(_ actual: some Collection<Element>, _ other: some Collection<Element>,
                                                _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    if actual.elementsEqual(other) {
        Issue.record(Comment(rawValue: "\(what.isEmpty ? "" : what + ": ")both hold the same \(actual.count) elements"),
                     sourceLocation: sourceLocation)
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
        let common = min(actual.count, expected.count)
        let first = (0..<common).first { !matches(actual[$0], expected[$0]) } ?? common
        return "\(name)\(actual.count) elements, expected \(expected.count); the first difference at index \(first)"
    }
    let differing = actual.indices.filter { !matches(actual[$0], expected[$0]) }
    guard let first = differing.first else { return nil }
    let shown = differing.prefix(5).map { "[\($0)] \(actual[$0]) (expected \(expected[$0]))" }
    return "\(name)\(differing.count) of \(actual.count) elements differ, the first at index \(first): "
        + shown.joined(separator: ", ") + (differing.count > 5 ? ", …" : "")
}
