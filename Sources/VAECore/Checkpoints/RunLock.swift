import Foundation

/// The exclusive right to write one run folder, held for as long as this value lives.
///
/// An flock(2) on `<run>/.lock`: the kernel releases it when the process ends however it ends,
/// so a trainer killed with SIGKILL never leaves a stale lock. The holder writes its pid into the
/// file so that a refused writer can name it. Readers (the renderer, vae-eval) never take it:
/// every file of a run is replaced atomically, so they see only complete checkpoints.
public final class RunLock: Sendable {
    public let path: String
    private let fd: Int32

    /// Takes the lock of `directory`, creating the folder if needed; refuses at once, touching
    /// nothing, when another process holds it.
    public init(_ directory: RunDirectory) throws {
        try createFolders(directory.path, what: "the run folder")
        path = directory.lockPath
        // Not through a link, and only a regular file: the pid written below would replace
        // whatever a link at `.lock` points to (non-blocking, so that a FIFO there cannot hang the open).
        // `fd` is set only once the lock is held: an initializer that throws after setting every
        // stored property runs deinit, which would unlock and close the descriptor a second time
        // (by then maybe another thread's file under the same number).
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            let reason = errno
            if reason == ELOOP { throw VAEError(.cannotWrite, "cannot lock \(path): it is a symbolic link") }
            // Not "create" for a lock file that is there (another user's, say).
            throw VAEError(.cannotWrite, "cannot \(PathKind(path) == .nothing ? "create" : "open") \(path): \(systemErrorText(reason))")
        }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw VAEError(.cannotWrite, "cannot lock \(path): it is not a regular file")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = (try? readFile(path, atMost: 4096)).flatMap { String(bytes: $0, encoding: .utf8) }?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            guard reason == EWOULDBLOCK else {
                throw VAEError(.cannotWrite, "cannot lock \(path): \(systemErrorText(reason))")
            }
            // A pid left by an earlier holder (the lock taken by a program that writes none) is not named.
            let who = holder.flatMap { Int32($0) }.flatMap { kill($0, 0) == 0 || errno == EPERM ? "process \($0)" : nil }
                ?? "another process"
            throw VAEError(.busy, "\(directory.path) is being written by \(who) (it holds \(path)); "
                           + "wait for it to finish or stop it, or use another run folder")
        }
        // Written over the old pid, then cut to its length: a refused writer reading in between
        // finds a whole pid, never an empty file.
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = ftruncate(fd, off_t(pid.count))
        self.fd = fd
    }

    deinit {
        // Unlocked before the close: a program started by another thread of this process shares
        // the descriptor between its fork and its exec, and the lock would stay held until then.
        flock(fd, LOCK_UN)
        close(fd)
    }
}
