import ArgumentParser

/// Refuses "-" for an output `flag` (`--out -`), which a Unix tool reads as standard output: these
/// tools write files (in full beside the target, then renamed into place), so it would make a
/// `what` named "-".
public func checkNotADash(_ value: String?, flag: String, naming what: String) throws {
    guard value == "-" else { return }
    throw ValidationError("\(flag) - would make a \(what) named \"-\", not write to standard output (for that name, pass ./-)")
}
