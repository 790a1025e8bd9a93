import Foundation

/// Fault injection for the crash-safety tests: the process kills itself with SIGKILL — no
/// cleanup, exactly like `kill -9` or a power cut — at a chosen point, so that a test can prove
/// that every such point resumes to the same checkpoints as an uninterrupted run.
///
/// - `VAE_CRASH_AFTER_BATCHES=n`: after the n-th training batch of this process.
/// - `VAE_CRASH_AFTER_BYTES=n`: once n bytes have gone to files through `writeFileAtomically`
///   in this process, which lands inside a checkpoint or state write.
///
/// Both are unset in normal use, and then cost one integer comparison per batch or write.
enum CrashInjection {
    private static let environment = ProcessInfo.processInfo.environment
    nonisolated(unsafe) private static var batchesLeft = environment["VAE_CRASH_AFTER_BATCHES"].flatMap { Int($0) }
    nonisolated(unsafe) private static var bytesLeft = environment["VAE_CRASH_AFTER_BYTES"].flatMap { Int($0) }

    static func batchFinished() {
        guard let left = batchesLeft else { return }
        if left <= 1 { die() }
        batchesLeft = left - 1
    }

    /// How many of `count` bytes may still be written before the crash; crashes when none may.
    static func writableBytes(_ count: Int) -> Int {
        guard let left = bytesLeft else { return count }
        if left <= 0 { die() }
        bytesLeft = left - min(count, left)
        return min(count, left)
    }

    private static func die() -> Never {
        kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not stop the process")
    }
}
