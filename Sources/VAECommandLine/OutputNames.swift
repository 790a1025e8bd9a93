import ArgumentParser
import Foundation

// The names an output flag refuses before any work: what the user would take for something else.

/// Refuses "-" for an output `flag` (`--out -`), which a Unix tool reads as standard output: these
/// tools write files (in full beside the target, then renamed into place), so it would make a
/// `what` named "-".
public func checkNotADash(_ value: String?, flag: String, naming what: String) throws {
    guard value == "-" else { return }
    throw ValidationError("\(flag) - would make a \(what) named \"-\", not write to standard output (for that name, pass ./-)")
}

/// The suffixes of pictures' names.
public let pictureSuffixes: Set<String> = ["png", "gif", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "svg"]

/// Refuses an output `flag` named as a picture (`.png`, `.gif`, ...): viewers, and the user, would
/// take the bytes of `what` the tool writes for a broken picture. `naming` says how to name it.
public func checkNotNamedAsAPicture(_ path: String, flag: String, writing what: String, naming advice: String) throws {
    try checkNotNamed(as: [(pictureSuffixes, "a picture")], path, flag: flag, writing: what, naming: advice)
}

/// Refuses an output `flag` whose suffix (in any case) is one of `kinds`' suffixes: the file would
/// be taken for that kind of file, not the `what` the tool writes. `naming` says how to name it.
public func checkNotNamed(as kinds: [(suffixes: Set<String>, kind: String)], _ path: String, flag: String, writing what: String,
                          naming advice: String) throws {
    let suffix = URL(fileURLWithPath: path).pathExtension.lowercased()
    guard let named = kinds.first(where: { $0.suffixes.contains(suffix) }) else { return }
    throw ValidationError("\(flag) \(path) is named as \(named.kind), but it would hold \(what) (\(advice))")
}
