import Foundation
import Testing
import TestSupport

// The tests' own harness: a program that hangs fails its test instead of hanging the suite.

/// A program past its time limit is stopped, and so is what it started, even in a session of
/// its own (as `script` starts its command); the error names the program, its arguments and the
/// limit.
@Test func aProgramPastItsTimeLimitIsStoppedWithWhatItStarted() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let started = folder + "/started"
    let script = "setsid sleep 600 & echo $! > \(started).new && mv \(started).new \(started); wait"
    let shell = try ChildProcess("/bin/sh", ["-c", script])
    defer { shell.stop() }
    let clock = ContinuousClock(), startedBy = clock.now + .seconds(30)
    while !FileManager.default.fileExists(atPath: started) && shell.isRunning && clock.now < startedBy { usleep(1_000) }
    try #require(FileManager.default.fileExists(atPath: started), "the shell did not start its sleep within 30 s")
    do {
        _ = try shell.finish(within: .seconds(1))
        Issue.record("the shell finished")
    } catch let error as TimeLimitExceeded {
        #expect(error.description == "sh -c \(script): did not finish within 1 s; stopped it and every process it started")
    }
    #expect(!shell.isRunning)
    let sleeper = try #require(pid_t(try String(contentsOfFile: started, encoding: .utf8).trimmingCharacters(in: .newlines)))
    let deadline = clock.now + .seconds(10)
    while running(sleeper) && clock.now < deadline { usleep(1_000) }
    #expect(!running(sleeper), "sleep 600 (pid \(sleeper)), started by the shell in a session of its own, still runs")
}

/// Whether process `pid` runs: a killed process stays a zombie until init reaps it.
private func running(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    return !stat.contains(") Z ")
}

/// Ctrl-C of the test process stops the programs its tests started, which a terminal's SIGINT
/// does not reach (each runs in a process group of its own) and no `defer` stops once the process
/// ends (Tests/Watchdog). The test binary runs this test again, told by the environment to start
/// a shell whose `sleep` runs in a session of its own, and waits; it is sent SIGINT, ends by it,
/// and neither the shell nor the sleep runs on.
@Test func interruptingTheTestsStopsWhatTheyStarted() throws {
    let helperFolder = "VAE_INTERRUPTED_TEST_FOLDER"
    if let folder = ProcessInfo.processInfo.environment[helperFolder] {
        // The run being interrupted: what it starts is left to the signal to stop.
        let shell = try ChildProcess("/bin/sh", ["-c", "setsid sleep 600 & echo $$ $! > \(folder)/pids.new && mv \(folder)/pids.new \(folder)/pids; wait"])
        _ = try shell.finish(within: .seconds(60))
        return
    }
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let run = try ChildProcess(testBinary, ["--testing-library", "swift-testing", "--filter", "interruptingTheTestsStopsWhatTheyStarted"],
                               environment: [helperFolder: folder])
    defer { run.stop() }
    let deadline = ContinuousClock.now + .seconds(60)
    while !FileManager.default.fileExists(atPath: folder + "/pids") && run.isRunning && ContinuousClock.now < deadline {
        usleep(10_000)
    }
    let pids = try String(contentsOfFile: folder + "/pids", encoding: .utf8).split(separator: " ")
        .compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    try #require(pids.count == 2, "\(pids)")
    run.send(SIGINT)
    let result = try run.finish(within: .seconds(30))
    #expect(result.status == SIGINT, "\(result.stdout)\(result.stderr)")
    let end = ContinuousClock.now + .seconds(10)
    while pids.contains(where: running) && ContinuousClock.now < end { usleep(1_000) }
    #expect(!pids.contains(where: running), "the shell and its sleep (pids \(pids)) still run")
    for pid in pids where running(pid) { kill(pid, SIGKILL) }
}

/// Every fault of scripts/mutants still names a string that occurs exactly once in its file, so
/// that a change to the code cannot quietly leave the mutation score a fault short (the script
/// stops before its first build when one does not apply). Not while scripts/mutants runs the
/// suite on a tree with one of them planted.
@Test(.disabled(if: ProcessInfo.processInfo.environment["VAE_PLANTED_FAULT"] != nil,
                "scripts/mutants planted a fault in this tree, so its string is missing on purpose"))
func everyPlantedFaultStillAppliesToItsCode() throws {
    let check = try ChildProcess(testPython, [packageRoot + "/scripts/mutants", "--check"], mergingStandardError: true)
    defer { check.stop() }
    let result = try check.finish()
    #expect(result.status == 0, "scripts/mutants --check: \(result.stdout)")
    #expect(result.stdout.hasSuffix("faults, each matching its file exactly once\n"), "\(result.stdout)")
}

/// A program that has ended is seen to end even while Foundation cannot tell: Foundation learns of
/// a child's exit when a socket the child inherited closes, and a process the child left behind
/// (here a shell's background sleep; in the suite, a program another test started at that moment
/// with a copy of the socket) keeps it open (swift-corelibs-foundation issue 4795). `finish`
/// asks the kernel as well, and returns the shell's own status, not a time-out once the sleep has
/// outlived the limit.
@Test func aProgramThatEndedIsSeenToEndWhileWhatItLeftBehindRuns() throws {
    let shell = try ChildProcess("/bin/sh", ["-c", "sleep 30 >/dev/null 2>&1 & exit 3"])
    defer { shell.stop() }
    #expect(try shell.finish(within: .seconds(20)).status == 3)
}
