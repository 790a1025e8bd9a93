import Glibc
import Synchronization
import VAECore

// How vae-train stops on Ctrl-C or SIGTERM: the first asks the trainer to stop between two
// batches (it writes nothing half-done), a second stops the process at once.

/// The signal that asked us to stop (SIGINT or SIGTERM), 0 until one does.
private let stopSignal = Atomic<Int32>(0)
/// Bit 1 << n set once signal n has arrived: the second of a kind stops at once, whatever came between.
private let stopSignalsSeen = Atomic<Int32>(0)

/// The stop signal that has arrived since `stopBetweenBatchesOnSignals`, nil until one does: the
/// trainer polls it between batches.
public var stopRequested: Int32? {
    let received = stopSignal.load(ordering: .relaxed)
    return received == 0 ? nil : received
}

/// Ctrl-C, and SIGTERM (docker stop, a batch scheduler's time limit), stop between batches
/// (mainCheckingOutput unblocked them). One the shell had us ignore (a background job of a
/// script ignores Ctrl-C) stays ignored. SIGHUP (the terminal closed) keeps its default: no one
/// would read the message, and like a crash it loses only the epoch in progress.
public func stopBetweenBatchesOnSignals() {
    for stop in [SIGINT, SIGTERM] {
        var current = sigaction()
        sigaction(stop, nil, &current)
        if ignoresSignal(current) { continue }
        signal(stop) { received in
            let seen = stopSignalsSeen.bitwiseOr(1 << received, ordering: .relaxed).oldValue
            stopSignal.store(received, ordering: .relaxed)
            signal(received, SIG_DFL)  // a second one stops at once
            // A second one that still found this handler: a file write, which defers stop
            // signals, restored it after the first had set the default.
            if seen & (1 << received) != 0 { raise(received) }
        }
    }
}
