import Foundation
import Synchronization

// Ctrl-C, SIGTERM and SIGHUP held back while files are replaced, so that a program stops before
// or after a set of files is written, never between two of its renames.

/// Whether `action` ignores its signal (SIG_IGN), as a shell has a script's background job ignore Ctrl-C.
public func ignoresSignal(_ action: sigaction) -> Bool {
    unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
}

/// The signals that stop a program from the outside (Ctrl-C, `kill`, a closed terminal).
public let stopSignals = [SIGINT, SIGTERM, SIGHUP]
/// How many writes are under way, and the handling of `stopSignals` from before the first began.
private let signalDeferral = Mutex<(writes: Int, previous: [sigaction])>((0, []))
/// The stop signals that arrived during a write: bit s once signal s came, bit s + 32 once it came again.
private let deferredStopSignals = Atomic<Int>(0)

/// Runs `body` with `stopSignals` held back: each that arrives meanwhile is sent again once the
/// last write under way has ended, under the handling that was in force before, and twice if it
/// came twice (a second Ctrl-C stops vae-train at once), so that a Ctrl-C kills a program before
/// or after a set of files is replaced, never between two renames, and leaves no temporary file
/// behind. (Blocking the signals would not do: the process's other threads would still take
/// them.) A signal the process ignores is left ignored, and a handler installed while a write is
/// under way is undone when it ends: install handlers before writing. Writes nest (see
/// `writingIntoFolder`).
public func deferringStopSignals<Result>(_ body: () throws -> Result) rethrows -> Result {
    signalDeferral.withLock { deferral in
        if deferral.writes == 0 {
            // Initialised here, not on its first use inside the handler, where swift_once is unsafe.
            deferredStopSignals.store(0, ordering: .relaxed)
            var deferring = sigaction()
            deferring.__sigaction_handler.sa_handler = { received in
                let seen = deferredStopSignals.bitwiseOr(1 << received, ordering: .relaxed).oldValue
                if seen & 1 << received != 0 { deferredStopSignals.bitwiseOr(1 << (received + 32), ordering: .relaxed) }
            }
            sigemptyset(&deferring.sa_mask)
            deferring.sa_flags = SA_RESTART
            deferral.previous = stopSignals.map { stop in
                var previous = sigaction()
                sigaction(stop, nil, &previous)
                if !ignoresSignal(previous) {
                    sigaction(stop, &deferring, nil)
                }
                return previous
            }
        }
        deferral.writes += 1
    }
    defer {
        let received = signalDeferral.withLock { deferral -> Int in
            deferral.writes -= 1
            guard deferral.writes == 0 else { return 0 }
            for (stop, var previous) in zip(stopSignals, deferral.previous) { sigaction(stop, &previous, nil) }
            return deferredStopSignals.exchange(0, ordering: .relaxed)
        }
        // To the process, not this thread (which may block the signal): any thread that takes it
        // will do. Unblocked here, each is taken before kill returns, so a repeat finds the
        // handling the first left.
        for stop in stopSignals {
            for repeated: Int32 in [0, 32] where received & 1 << (stop + repeated) != 0 { kill(getpid(), stop) }
        }
    }
    return try body()
}
