import Foundation

/// Suffix of the temporary files `writeFileAtomically` creates; a leftover one means a
/// crash interrupted a write, and it can be deleted.
public let temporaryFileSuffix = ".partial"

/// Writes `bytes` to `path` so that a reader sees either the old file or the complete new one:
/// the data goes to a temporary file beside the target, is fsynced, renamed over the target,
/// and the folder is fsynced so the rename itself survives a power cut.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    try bytes.withUnsafeBytes { try writeFileAtomically(to: path, pieces: [$0]) }
}

/// Atomic write where the content comes in several pieces (a header, then a large buffer),
/// so that nothing has to be concatenated in memory first.
public func writeFileAtomically(to path: String, pieces: [UnsafeRawBufferPointer]) throws {
    try writeFileAtomically(to: path) { fd in
        for piece in pieces { try writeAll(fd, piece, path: path) }
    }
}

/// What a path names, following symbolic links (a dangling one names nothing).
public enum PathKind: Sendable {
    case nothing, folder, file

    public init(_ path: String) {
        var isFolder: ObjCBool = false
        self = !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) ? .nothing : isFolder.boolValue ? .folder : .file
    }
}

/// Creates the folder `path` and its missing parents, like `mkdir -p`. A failure is one line
/// naming `what` and the system's reason for the part that failed ("Not a directory",
/// "Permission denied"), which Foundation's own error hides behind "NSCocoaErrorDomain error 512".
/// Returns the folders it made, outermost first, for a caller that undoes them on a later failure;
/// a failure of its own removes them before it is reported.
@discardableResult
public func createFolders(_ path: String, what: String) throws -> [String] {
    let parts = folderParts(path)
    var created: [String] = []
    do {
        for (index, part) in parts.enumerated() {
            if mkdir(part, 0o755) == 0 {
                created.append(part)
                // Its entry lasts through a power cut only once its parent is synced, as a file's rename does.
                try syncFolder(index > 0 ? parts[index - 1] : path.hasPrefix("/") ? "/" : ".", after: "creating \(part)")
            } else if errno != EEXIST {
                let reason = systemErrorText()
                throw VAEError(.cannotWrite, "cannot create \(what) \(path): \(failing(part, of: parts, path))\(reason)")
            }
            try checkNotDanglingLink(part, of: parts, path, what: what)
        }
        guard PathKind(path) == .folder else {
            throw VAEError(.cannotWrite, "cannot create \(what) \(path): a file of that name is in the way")
        }
    } catch {
        for folder in created.reversed() { rmdir(folder) }
        throw error
    }
    return created
}

/// Refuses, without creating anything, a folder that `createFolders` could not create or that
/// cannot take new files, with the reason `createFolders` would give: a tool that writes into a
/// folder checks it before any work and creates it only once it has something to write.
public func checkFolderCanBeCreated(_ path: String, what: String) throws {
    let parts = folderParts(path)
    var existing = path.hasPrefix("/") ? "/" : "."
    var missing: String?
    for part in parts {
        try checkNotDanglingLink(part, of: parts, path, what: what)
        guard FileManager.default.fileExists(atPath: part) else {
            missing = part
            break
        }
        existing = part
    }
    let prefix = missing.map { failing($0, of: parts, path) } ?? ""
    guard PathKind(existing) == .folder else {
        throw VAEError(.cannotWrite, missing == nil ? "cannot create \(what) \(path): a file of that name is in the way"
                       : "cannot create \(what) \(path): \(prefix)\(systemErrorText(ENOTDIR))")
    }
    guard access(existing, W_OK | X_OK) == 0 else {
        let reason = systemErrorText()
        throw VAEError(.cannotWrite, missing == nil ? "cannot write into \(what) \(path): \(reason)"
                       : "cannot create \(what) \(path): \(prefix)\(reason)")
    }
}

/// The folders `mkdir -p` makes for `path`, outermost first: "./a", "./a/b" for "a/b" (no "."
/// parts, and "./" first for a relative path, so that no part is empty).
private func folderParts(_ path: String) -> [String] {
    var current = path.hasPrefix("/") ? "" : "."
    return path.split(separator: "/").filter { $0 != "." }.map { component in
        current += "/" + component
        return current
    }
}

/// "PART: " for the part of the path where creating it failed, as the user would write it, or ""
/// when that is the whole path.
private func failing(_ part: String, of parts: [String], _ path: String) -> String {
    guard part != parts.last else { return "" }
    return (path.hasPrefix("./") || !part.hasPrefix("./") ? part : String(part.dropFirst(2))) + ": "
}

/// Refuses a part of a folder to create that is a symbolic link to nothing: mkdir finds it
/// there, and everything that follows the link finds nothing.
private func checkNotDanglingLink(_ part: String, of parts: [String], _ path: String, what: String) throws {
    guard !FileManager.default.fileExists(atPath: part),
          let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: part) else { return }
    throw VAEError(.cannotWrite, "cannot create \(what) \(path): \(failing(part, of: parts, path))a symbolic link to "
                   + "\(destination), which does not exist")
}

/// `path` made absolute and free of "." and ".." parts (symbolic links left as they are), so that
/// two spellings of one folder compare equal.
public func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}

/// The file a write to `path` replaces: `path` itself, or the file a symbolic link there points
/// to (the link stays a link, as `cp` onto it would leave it). Refuses a link to nothing, one of
/// the process's streams (`processStream`), and a FIFO, device or socket, which a file renamed
/// into place would replace rather than feed (as root, replacing the device).
func writeTarget(_ path: String) throws -> String {
    if let stream = processStream(path) {
        throw VAEError(.cannotWrite, "cannot write \(path): it is \(stream), one of this process's streams; files are written "
                       + "whole (a temporary file renamed into place), so name a regular file")
    }
    var info = stat()
    guard lstat(path, &info) == 0 else { return path }
    var target = path
    if info.st_mode & S_IFMT == S_IFLNK {
        guard let resolved = realpath(path, nil) else {
            let destination = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
            throw VAEError(.cannotWrite, "cannot write \(path): it is a symbolic link to \(destination), which does not exist")
        }
        target = String(cString: resolved)
        free(resolved)
        guard stat(target, &info) == 0 else { return target }
    }
    let kind: String
    switch info.st_mode & S_IFMT {
    case S_IFREG, S_IFDIR: return target
    case S_IFIFO: kind = "a FIFO"
    case S_IFCHR, S_IFBLK: kind = "a device"
    case S_IFSOCK: kind = "a socket"
    default: kind = "not a regular file"
    }
    throw VAEError(.cannotWrite, "cannot write \(path): \(target == path ? "it" : target) is \(kind); files are written whole "
                   + "(a temporary file renamed into place), so name a regular file")
}

/// The /proc/.../fd/N or /dev/fd/N that `path` is or leads to through symbolic links, its own
/// (/dev/stdout is a link to /proc/self/fd/1) or its folder's (x/1 with x a link to
/// /proc/self/fd), else nil. Such a link stands for whatever the stream is: a pipe, which no
/// rename can replace, or a file the shell redirected to, which a rename would replace while the
/// stream kept writing to the old one, lost.
private func processStream(_ path: String) -> String? {
    var current = path
    for _ in 0..<40 {  // the kernel's own limit on links followed
        for candidate in [current, resolvingFolder(of: current)] where namesAStream(candidate) {
            return candidate
        }
        guard let next = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else { return nil }
        current = next.hasPrefix("/") ? next : folderHolding(current) + "/" + next
    }
    return nil
}

/// Whether `path` is /dev/fd/N, /proc/P/fd/N or /proc/P/task/T/fd/N (P a pid, self or
/// thread-self; T a thread id): the rest of /proc is no stream, and a path there is told as what it is.
private func namesAStream(_ path: String) -> Bool {
    func isNumber(_ part: Substring) -> Bool { !part.isEmpty && part.allSatisfy(\.isNumber) }
    func isProcess(_ part: Substring) -> Bool { part == "self" || part == "thread-self" || isNumber(part) }
    let parts = Array(path.split(separator: "/", omittingEmptySubsequences: false).dropFirst())
    guard parts.count >= 3, parts[parts.count - 2] == "fd", isNumber(parts[parts.count - 1]) else { return false }
    switch parts.dropLast(2) {
    case ["dev"]: return true
    case let p where p.count == 2 && p.first == "proc" && isProcess(p[1]): return true
    case let p where p.count == 4 && p.first == "proc" && isProcess(p[1]) && p[2] == "task" && isNumber(p[3]): return true
    default: return false
    }
}

/// `path` with every symbolic link in its folder resolved (`realpath`), or `path` itself where the
/// folder does not exist.
private func resolvingFolder(of path: String) -> String {
    guard let folder = realpath(folderHolding(path), nil) else { return path }
    defer { free(folder) }
    return String(cString: folder) + "/" + URL(fileURLWithPath: path).lastPathComponent
}

/// The folder that holds `path` as the kernel finds it: `path` up to its last slash, as written
/// ("." for a bare name). Not normalised as URL's deletingLastPathComponent is: a/b/../c lies in
/// a/b/.., which is a's folder only when a/b exists and is no link, and a file staged beside the
/// normalised a/c could not be renamed to a/b/../c.
func folderHolding(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

private func writeFileAtomically(to path: String, body: (Int32) throws -> Void) throws {
    try deferringStopSignals { try renameIntoPlace([try stage(path, body: body)]) }
}

/// Writes `files` so that a failure while writing any of them (a full disk) replaces none: every
/// one is written to its temporary file and fsynced before the first is renamed into place.
/// Renaming needs no space, so the set is replaced whole unless the system fails in between.
public func writeFilesAtomically(_ files: [(bytes: [UInt8], path: String)]) throws {
    try deferringStopSignals {
        var staged: [StagedFile] = []
        do {
            for file in files {
                staged.append(try stage(file.path) { fd in
                    try file.bytes.withUnsafeBytes { try writeAll(fd, $0, path: file.path) }
                })
            }
        } catch {
            abandon(staged)
            throw error
        }
        try renameIntoPlace(staged)
    }
}

/// Makes the folder `path` (as `createFolders`, naming `what`) for `write`, which puts files in it,
/// with stop signals deferred over both, so that no Ctrl-C can leave the folder empty; if `write`
/// fails, the folders made for it are removed.
public func writingIntoFolder<Result>(_ path: String, what: String, _ write: () throws -> Result) throws -> Result {
    try deferringStopSignals {
        let created = try createFolders(path, what: what)
        do {
            return try write()
        } catch {
            for made in created.reversed() { rmdir(made) }
            throw error
        }
    }
}

/// The temporary file a write to `target` (a path `writeTarget` gave) stages its bytes in: hidden
/// beside it, so that the rename that puts it in place stays within one folder.
func temporaryPath(for target: String) -> String {
    folderHolding(target) + "/." + URL(fileURLWithPath: target).lastPathComponent + temporaryFileSuffix
}

/// What stands where a write's temporary file goes, said for an error, or nil when nothing or a
/// regular file (a crash's leftover, written over) does. A symbolic link is not followed, nor
/// removed: writing through it would change a file no check looked at, and removing it by name
/// could remove another writer's new temporary file. A FIFO would block the write.
func obstacleToTemporary(_ temporary: String) -> String? {
    var info = stat()
    guard lstat(temporary, &info) == 0 else { return nil }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return nil
    case S_IFDIR: return "the folder \(temporary) is in the way of its temporary file"
    case S_IFLNK: return "\(temporary), the name of its temporary file, is a symbolic link; remove it"
    default: return "\(temporary), the name of its temporary file, is not a regular file; remove it"
    }
}

/// A file written in full to its temporary file and fsynced, still locked, not yet in place.
private struct StagedFile {
    let fd: Int32, temporary: String, path: String
}

/// Writes the content `body` gives to the temporary file of a write to `path`. Errors name
/// `path`, which the user gave, and the temporary file only where it is the cause.
private func stage(_ path: String, body: (Int32) throws -> Void) throws -> StagedFile {
    try checkFileCanBeWritten(path)
    let target = try writeTarget(path)
    let temporary = temporaryPath(for: target)
    let fd = try openLockedTemporary(temporary, for: path)
    do {
        try body(fd)
        // A replaced file keeps its permissions: a private one (0600) must not become readable by
        // all. Set last, so that a crash while writing leaves a leftover that can be written again.
        var replaced = stat()
        if stat(target, &replaced) == 0, fchmod(fd, replaced.st_mode & 0o777) != 0 {
            throw VAEError(.cannotWrite, "cannot write \(path): cannot set the permissions of its temporary file: \(systemErrorText())")
        }
        guard fsync(fd) == 0 else {
            throw VAEError(.cannotWrite, "cannot write \(path): fsync failed: \(systemErrorText())")
        }
    } catch {
        close(fd)
        unlink(temporary)
        throw error
    }
    return StagedFile(fd: fd, temporary: temporary, path: target)
}

/// Renames each staged file over its target, in order, then fsyncs their folders so that the
/// renames survive a power cut.
private func renameIntoPlace(_ files: [StagedFile]) throws {
    for (index, file) in files.enumerated() {
        // Renamed while still locked: unlocked first, the temporary could be taken and truncated
        // by a second writer before the rename put it in place.
        guard rename(file.temporary, file.path) == 0 else {
            let error = VAEError(.cannotWrite, "cannot rename \(file.temporary) to \(file.path): \(systemErrorText())")
            abandon(files[index...])
            throw error
        }
        close(file.fd)  // The data is on disk (fsync) and in place; this releases the lock.
    }
    let folders = Dictionary(grouping: files) { folderHolding($0.path) }
    for (folder, written) in folders.sorted(by: { $0.key < $1.key }) {
        try syncFolder(folder, after: "writing " + written.map(\.path).joined(separator: ", "))
    }
}

/// Fsyncs `folder`, so that the renames in it (and the folders made in it) survive a power cut;
/// `what` names the change, for the error. A folder this process may not read (EACCES), or on a
/// file system that cannot sync folders (EINVAL), is left as it is: there is nothing more to do.
/// Any other failure, EIO above all, means the change may be lost, and is an error.
func syncFolder(_ folder: String, after what: String) throws {
    let folderFD = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard folderFD >= 0 else {
        if errno == EACCES { return }
        throw VAEError(.cannotWrite, "cannot open the folder \(folder) to fsync it after \(what): \(systemErrorText())")
    }
    defer { close(folderFD) }
    if fsync(folderFD) != 0 && errno != EINVAL {
        throw VAEError(.cannotWrite, "cannot fsync the folder \(folder) after \(what): \(systemErrorText())")
    }
}

/// Closes and deletes staged files that will not be put in place.
private func abandon<Files: Sequence<StagedFile>>(_ files: Files) {
    for file in files {
        close(file.fd)
        unlink(file.temporary)
    }
}

/// Opens `temporary`, the temporary file of a write to `path`, empty and locked (flock) for
/// this write. A crash's leftover is reused; a second process writing the same file at the same
/// time is refused, where both would otherwise write into one temporary file and rename the
/// mixture into place. Anything but a regular file of that name was refused before
/// (`checkFileCanBeWritten`, `obstacleToTemporary`); a link or a FIFO put there since fails the
/// open (ELOOP, ENXIO) instead of being written through or waited on. (O_NONBLOCK changes nothing
/// for a regular file.)
private func openLockedTemporary(_ temporary: String, for path: String) throws -> Int32 {
    while true {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            throw VAEError(.cannotWrite, "cannot write \(path): cannot create its temporary file \(temporary): \(systemErrorText())")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK, text = systemErrorText()
            close(fd)
            throw VAEError(.cannotWrite, busy ? "cannot write \(path): another process is writing it (\(temporary) is locked)"
                           : "cannot write \(path): cannot lock its temporary file \(temporary): \(text)")
        }
        // The writer that held the lock may have renamed the file into place before letting go:
        // what this opened is then the target, and the temporary must be created anew.
        var opened = stat(), named = stat()
        if fstat(fd, &opened) == 0, lstat(temporary, &named) == 0, opened.st_dev == named.st_dev, opened.st_ino == named.st_ino {
            guard ftruncate(fd, 0) == 0 else {
                let text = systemErrorText()
                close(fd)
                throw VAEError(.cannotWrite, "cannot write \(path): \(text)")
            }
            return fd
        }
        close(fd)
    }
}

private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            throw VAEError(.cannotWrite, "cannot write \(path): \(systemErrorText())")
        }
        offset += written
    }
}

/// Whether a file of this name is a temporary file of `writeFileAtomically`, which a crash can leave.
public func isLeftoverTemporaryFile(_ name: String) -> Bool {
    name.hasPrefix(".") && name.hasSuffix(temporaryFileSuffix)
}

/// Deletes temporary files that a crash left behind in `folder`. One that cannot go (a folder of
/// that name) stays: `checkFileCanBeWritten` refuses a write it is in the way of.
public func removeLeftoverTemporaryFiles(in folder: String) {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    for name in names where isLeftoverTemporaryFile(name) { unlink(folder + "/" + name) }
}

/// Reads a whole file of at most `limit` bytes, with an error that names it. A larger file is
/// refused before anything is allocated: a tool pointed at the wrong file (a disk image, a video)
/// fails at once instead of filling memory.
public func readFile(_ path: String, atMost limit: Int) throws -> [UInt8] {
    // Non-blocking, so that opening a FIFO does not wait for a writer; reads of a regular file
    // are unaffected.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else {
        let error = errno
        // sysexits' EX_NOINPUT: an input that does not exist (also under a file taken for a folder),
        // is not readable, or cannot be reached (a link to itself).
        let kind: VAEError.Kind = [ENOENT, ENOTDIR, EACCES, ELOOP].contains(error) ? .missingInput : .badData
        // `ls` lists a link to nothing: "No such file" alone would puzzle.
        if error == ENOENT, let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
            throw VAEError(kind, "cannot open \(path): it is a symbolic link to \(destination), which does not exist")
        }
        throw VAEError(kind, "cannot open \(path): \(systemErrorText(error))")
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        throw VAEError(.badData, "cannot read \(path): \(systemErrorText())")
    }
    // A folder where a file was asked for: the file is missing (EX_NOINPUT), as under a file taken for a folder.
    if (info.st_mode & S_IFMT) == S_IFDIR {
        throw VAEError(.missingInput, "cannot read \(path): it is a folder")
    }
    // A FIFO would wait for a writer, a device such as /dev/zero never end: only files are read.
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        throw VAEError(.badData, "cannot read \(path): it is not a regular file (a FIFO, a socket or a device)")
    }
    guard info.st_size <= limit else {
        throw VAEError(.badData, String(format: "cannot read %@: it holds %.1f MB, and no file of its kind holds more than %.1f MB",
                                        path, Double(info.st_size) / 1e6, Double(limit) / 1e6))
    }
    var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
    var offset = 0
    while offset < bytes.count {
        let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + offset, $0.count - offset) }
        if got < 0 {
            if errno == EINTR { continue }
            throw VAEError(.badData, "cannot read \(path): \(systemErrorText())")
        }
        if got == 0 { break }
        offset += got
    }
    if offset < bytes.count { bytes.removeSubrange(offset...) }
    return bytes
}
