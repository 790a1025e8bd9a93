import Foundation

// What the tools check of an output path before any work, so that a wrong one costs nothing
// and a file that is not theirs is never replaced.

/// Refuses an `--out` that names an existing file that is read-only (no write bit, or not
/// writable by this user), that this user cannot read, or other than one of the kind the tool
/// writes (`isOfTheKind` reads it): a path mistyped onto a checkpoint, a run's state or a data
/// file would otherwise be lost without a word. Exit 64, as for any request that contradicts what is on disk; a file that
/// does not exist yet passes (callers refuse a folder first, with `checkFileCanBeWritten`). For a
/// tool whose `--out` is a folder (`outputFolder`), the message names it and the file in it.
public func checkReplacesOnly(_ kind: String, at path: String, outputFolder: String? = nil, isOfTheKind: (String) -> Bool) throws {
    guard FileManager.default.fileExists(atPath: path) else { return }
    let named = outputFolder.map { "--out \($0): its \(URL(fileURLWithPath: path).lastPathComponent)" } ?? "--out \(path)"
    let another = outputFolder == nil ? "file" : "folder"
    // rename(2) replaces a file whatever its mode; a read-only one is kept, as `cp` and `>` keep
    // it from any user but root (who gets the same refusal here).
    var info = stat()
    if stat(path, &info) == 0 && (info.st_mode & 0o222 == 0 || access(path, W_OK) != 0) {
        throw VAEError(.usage, "\(named) is read-only; not replacing it (name another \(another), or make it writable first)")
    }
    // Else an unreadable file would be told as not of the kind, which it may well be.
    if access(path, R_OK) != 0 {
        throw VAEError(.usage, "\(named) cannot be read (\(systemErrorText())), so it cannot be told to be \(kind); "
                       + "not replacing it (name another \(another), or make it readable first)")
    }
    guard !isOfTheKind(path) else { return }
    throw VAEError(.usage, "\(named) exists and is not \(kind); not replacing it (name another \(another), or remove it first)")
}

/// Whether two paths name one file (through links, or two spellings): false when either is missing.
public func sameFile(_ a: String, _ b: String) -> Bool {
    var first = stat(), second = stat()
    return stat(a, &first) == 0 && stat(b, &second) == 0 && first.st_dev == second.st_dev && first.st_ino == second.st_ino
}

/// Refuses a path that `writeFileAtomically` could not write, with one line that says why: a
/// tool checks its output before any work, so that a typo costs nothing.
public func checkFileCanBeWritten(_ path: String) throws {
    guard !path.isEmpty else { throw VAEError(.usage, "cannot write a file without a name (the path is empty)") }
    let path = try writeTarget(path)
    if path.hasSuffix("/") || PathKind(path) == .folder {
        throw VAEError(.cannotWrite, "cannot write \(path): it is a folder, not a file")
    }
    let folder = folderHolding(path)
    switch PathKind(folder) {
    case .nothing: throw VAEError(.cannotWrite, "cannot write \(path): the folder \(folder) does not exist")
    case .file: throw VAEError(.cannotWrite, "cannot write \(path): \(folder) is not a folder")
    case .folder: break
    }
    guard access(folder, W_OK | X_OK) == 0 else {
        throw VAEError(.cannotWrite, "cannot write \(path): the folder \(folder) is not writable")
    }
    // A crash's leftover temporary file is written over, but anything else of its name would stop
    // the write only once the work is done.
    if let obstacle = obstacleToTemporary(temporaryPath(for: path)) {
        throw VAEError(.cannotWrite, "cannot write \(path): \(obstacle)")
    }
}

/// Refuses, before any work, an `--out` file that could not be written, that would lie among a
/// run's checkpoints, or that would replace a file other than one of `kind` (`checkReplacesOnly`).
public func checkOutputFile(_ path: String, replacingOnly kind: String, isOfTheKind: (String) -> Bool) throws {
    try checkFileCanBeWritten(path)
    try RunDirectory.checkNotAmongCheckpoints(path, flag: "--out")
    try checkReplacesOnly(kind, at: path, isOfTheKind: isOfTheKind)
}
