import Foundation
import Synchronization

/// How long a program a test starts (a tool of this package, clang, python3, script) may run before
/// the test stops it and fails. The slowest run in the suite takes about 10 s with the whole suite
/// running beside it on this 2-core machine; the limit leaves room for a machine many times
/// slower or busier, and still ends a hung suite in minutes, not at CI's time-out.
public let processTimeLimit: Duration = .seconds(120)

/// Once one program has run past its limit the suite has failed, and every later program gets
/// this much at most: a tool that hangs every time (a trainer that never stops) then fails each
/// further test that starts it in half a minute. At the full limit each would take two minutes,
/// and the tests run two at a time on two cores. (Three times the slowest run, so that a program
/// that does not hang is seldom stopped too.)
public let timeLimitAfterATimeOut: Duration = .seconds(30)

private let aProgramRanPastItsLimit = Atomic<Bool>(false)

/// `limit`, or `timeLimitAfterATimeOut` once a program has run past its limit.
private func effectiveLimit(_ limit: Duration) -> Duration {
    aProgramRanPastItsLimit.load(ordering: .relaxed) ? min(limit, timeLimitAfterATimeOut) : limit
}

/// A program that ran past its time limit; the test stopped it.
public struct TimeLimitExceeded: Error, CustomStringConvertible {
    /// The program and its arguments.
    public let command: String
    /// What it did not do in time, e.g. "did not finish".
    public let failure: String
    public let limit: Duration
    /// Whether the limit was cut to `timeLimitAfterATimeOut` by an earlier time-out.
    public let shortened: Bool

    public var description: String {
        "\(command): \(failure) within \(limit.components.seconds) s"
            + (shortened ? " (the limit after an earlier program's time-out)" : "") + "; stopped it and every process it started"
    }
}

/// What a program that ended printed, and its exit status (the signal's number if one killed it).
public struct ProcessOutput: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// A program a test runs, with its output read as it comes (so that neither pipe fills) and a
/// time limit. Foundation starts it in a process group of its own; `stop()` kills that group and
/// every process below it in the process tree (`script` starts its command in a session of its
/// own). Call `stop()` in a `defer` right after starting it, so that no way out of the test,
/// a failed `#require` or a thrown error included, leaves it running.
public final class ChildProcess: @unchecked Sendable {
    /// The program's name and its arguments, for messages.
    public let command: String
    private let process = Process()
    private let deadline: ContinuousClock.Instant
    private let requestedLimit: Duration, timeLimit: Duration
    private let readers = DispatchGroup()
    private let lock = NSLock()
    private var collected: [Data]

    /// Every request a program makes over HTTP goes to a proxy on the loopback's discard port,
    /// which refuses it, so that a test can never reach the network, even by mistake (a download
    /// a test did not mean to start), whatever the environment's `no_proxy` excepted; a test
    /// serving files on the loopback sets `no_proxy` itself.
    private static let offlineProxies = ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"].reduce(into: [:]) {
        $0[$1] = "http://127.0.0.1:9"
    }.merging(["no_proxy": "", "NO_PROXY": ""]) { $1 }

    /// Starts `executable`. With `mergingStandardError`, both streams go to one pipe, read as
    /// standard output.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                workingDirectory: String? = nil, mergingStandardError: Bool = false,
                timeLimit: Duration = processTimeLimit) throws {
        command = ([URL(fileURLWithPath: executable).lastPathComponent] + arguments).joined(separator: " ")
        requestedLimit = timeLimit
        self.timeLimit = effectiveLimit(timeLimit)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.environment = ProcessInfo.processInfo.environment.merging(ChildProcess.offlineProxies) { $1 }.merging(environment) { $1 }
        let pipes = mergingStandardError ? [Pipe()] : [Pipe(), Pipe()]
        process.standardOutput = pipes[0]
        process.standardError = pipes.last!
        collected = [Data](repeating: Data(), count: pipes.count)
        deadline = .now + self.timeLimit
        // The program starts with nothing blocked, as from a shell. A test runs on a thread that
        // blocks most signals, and a spawned program inherits that mask: SIGXFSZ blocked makes a
        // write past `ulimit -f` fail without the signal that would otherwise kill the program.
        var everySignal = sigset_t(), testThreadMask = sigset_t()
        sigfillset(&everySignal)
        pthread_sigmask(SIG_UNBLOCK, &everySignal, &testThreadMask)
        defer { pthread_sigmask(SIG_SETMASK, &testThreadMask, nil) }
        try process.run()
        for (index, pipe) in pipes.enumerated() {
            readers.enter()
            // A thread of its own, not the test's: the read blocks until the program ends.
            Thread { [self] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                lock.withLock { collected[index] = data }
                readers.leave()
            }.start()
        }
    }

    public var processIdentifier: Int32 { process.processIdentifier }

    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` to the program, if it still runs.
    public func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the program to end and returns what it printed. Past its time limit (counted
    /// from its start, or `within` from now), stops it and throws `TimeLimitExceeded`, which
    /// names it and says it did not do `failure`'s thing in time.
    public func finish(within: Duration? = nil, failure: String = "did not finish") throws -> ProcessOutput {
        let limit = within.map(effectiveLimit) ?? timeLimit
        let end = within == nil ? deadline : .now + limit
        var ended: Int32?
        while process.isRunning {
            if let status = endedStatus() {
                ended = status
                break
            }
            guard ContinuousClock.now < end else {
                stop()
                // A limit set that short on purpose (as the harness's own test sets) says nothing about the suite.
                if limit > timeLimitAfterATimeOut { aProgramRanPastItsLimit.store(true, ordering: .relaxed) }
                throw TimeLimitExceeded(command: command, failure: failure, limit: limit, shortened: limit < (within ?? requestedLimit))
            }
            usleep(2_000)
        }
        // Its output ends with it, unless a process it started still holds the pipes.
        if readers.wait(timeout: .now() + 10) == .timedOut {
            throw TimeLimitExceeded(command: command, failure: "ended, but its output did not", limit: .seconds(10),
                                    shortened: false)
        }
        let (stdout, stderr) = lock.withLock { (collected[0], collected.count > 1 ? collected[1] : Data()) }
        return ProcessOutput(status: ended ?? process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// The program's exit status (or the number of the signal that killed it) if the kernel has it
    /// as ended, else nil. Foundation learns of the end only when a socket the program inherited
    /// closes, and a process holding a copy keeps it open: one the program left behind, or one
    /// another test started at that very moment (swift-corelibs-foundation issue 4795); the program
    /// would then seem to run until that one ended, past its time limit. Asked without reaping
    /// (`WNOWAIT`), so that Foundation still reaps it.
    private func endedStatus() -> Int32? {
        var info = siginfo_t()
        let pid = process.processIdentifier
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid else {
            return nil
        }
        return info._sifields._sigchld.si_status
    }

    /// Kills the program, its process group and every process below it, if it still runs.
    /// A program that has ended is left alone: its pid may already belong to another process.
    public func stop() {
        let pid = process.processIdentifier
        // 0 before a successful start, and kill(-0) would hit the tests' own process group.
        guard pid > 0, process.isRunning else { return }
        let below = descendants(of: pid)
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        for child in below { kill(child, SIGKILL) }
        let end = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < end { usleep(1_000) }
    }
}

/// The processes below `root` in the process tree, from each process's parent in /proc (none
/// where there is no /proc).
private func descendants(of root: pid_t) -> [pid_t] {
    var children: [pid_t: [pid_t]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        // /proc/<pid>/stat: "pid (name) state ppid …"; the name may hold spaces and parentheses.
        guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let nameEnd = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
        if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(pid) }
    }
    var found: [pid_t] = [], pending = [root]
    while let next = pending.popLast() {
        let below = children[next] ?? []
        found += below
        pending += below
    }
    return found
}
