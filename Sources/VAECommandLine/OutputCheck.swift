import ArgumentParser

/// Refuses `--out -`, which a Unix tool reads as standard output: these tools write files (in full
/// beside the target, then renamed into place), so it would make a `what` named "-".
public func checkOutIsNotADash(_ out: String, naming what: String) throws {
    guard out == "-" else { return }
    throw ValidationError("--out - would make a \(what) named \"-\", not write to standard output (for that name, pass ./-)")
}
