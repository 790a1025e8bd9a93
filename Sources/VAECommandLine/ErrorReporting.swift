@preconcurrency import Glibc  // for stdout, a C global, read below only to check it for errors
import ArgumentParser
import Foundation
import VAECore

// How every tool ends: one line per error, naming the tool, and the error's exit code.

/// Writes `text` to standard error as it is (unbuffered), ignoring a failure: there is nowhere
/// left to report it, and FileHandle's write would stop the process with SIGILL instead.
public func writeToStandardError(_ text: String) {
    fputs(text, stderr)
}

/// The error when what the tool printed could not be written (a full disk, say): a tool's output
/// is its result, so that must not end in exit 0.
private func unwrittenStandardOutput() -> VAEError? {
    guard fflush(stdout) != 0 || ferror(stdout) != 0 else { return nil }
    return VAEError(.cannotWrite, "cannot write standard output: \(systemErrorText())")
}

extension ParsableCommand {
    /// ArgumentParser's `main()`, except that a bad flag is one line like every other error (the
    /// tool's name, what is wrong, where to read more) rather than the error, the flag's help and
    /// the usage, that `--help` text that cannot be written is exit 73 rather than exit 0, and
    /// that a closed standard output is exit 73 before the command runs.
    public static func mainCheckingOutput() {
        // Past a file-size limit (`ulimit -f`), write() should fail with EFBIG and be reported,
        // temporary file removed, rather than the signal killing us mid-write.
        signal(SIGXFSZ, SIG_IGN)
        // Ctrl-\ quits at once, as it does any Unix program (exit by SIGQUIT, 131 in a shell):
        // Swift's runtime takes it for a crash, prints every thread's backtrace and then lets the
        // program carry on to exit 0. Left ignored if the parent had it ignored.
        var quit = sigaction()
        sigaction(SIGQUIT, nil, &quit)
        let quits = !ignoresSignal(quit)
        if quits { signal(SIGQUIT, SIG_DFL) }
        // Ctrl-C and SIGTERM stop every tool (between two file writes, never in one), and Ctrl-\
        // at once: a parent may start us with them blocked (spawned from a worker thread), and
        // they must still work.
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for stop in stopSignals { sigaddset(&blocked, stop) }
        if quits { sigaddset(&blocked, SIGQUIT) }
        pthread_sigmask(SIG_UNBLOCK, &blocked, nil)
        do {
            var command = try parseAsRoot()
            // Known before any work: minutes of it would otherwise end in a report nobody can read.
            if fcntl(STDOUT_FILENO, F_GETFD) == -1 {
                exit(withError: report(VAEError(.cannotWrite, "cannot write standard output: it is closed")))
            }
            try command.run()
        } catch let code as ExitCode {
            exit(withError: code)  // `reportingErrors` has said why
        } catch let error as VAEError {
            exit(withError: report(error))  // one thrown outside `reportingErrors`, with its own exit code
        } catch {
            if exitCode(for: error) == .validationFailure {
                exit(withError: report(VAEError(.usage, "\(oneLine(message(for: error)))\(flagHelp(for: error)) (see \(toolName) --help)")))
            }
            // --help ends here too: ArgumentParser's help command throws an error that exits cleanly.
            // Any other error is no VAEError (which `reportingErrors` reports): one line all the same,
            // as a failure of the tool itself (EX_SOFTWARE), not ArgumentParser's "Error:" and exit 1.
            guard exitCode(for: error) == .success else { exit(withError: report(VAEError(.failed, oneLine("\(error)")))) }
            print(fullMessage(for: error))
            exit(withError: unwrittenStandardOutput().map(report))
        }
    }

    /// Runs `body`. A `VAEError` becomes one line on standard error, the command's name first,
    /// and the process exits with the error's code.
    public func reportingErrors<Result>(_ body: () throws -> Result) throws -> Result {
        do {
            let result = try body()
            if let error = unwrittenStandardOutput() { throw error }
            return result
        } catch let error as VAEError {
            throw Self.report(error)
        }
    }

    /// ArgumentParser lists the values of an option with many ("Please provide one of the
    /// following:", then "  - prior" and so on, one per line); an error is one line.
    private static func oneLine(_ message: String) -> String {
        let lines = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = lines.dropFirst().map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : $0 }
        return ([lines.first ?? ""] + (values.isEmpty ? [] : [values.joined(separator: ", ")])).joined(separator: " ")
    }

    /// For a value that did not parse or is missing, what the flag takes: ArgumentParser gives its
    /// help on a line of its own ("Help:  --epochs <n>  Number of passes ... (at least 1; ...)"),
    /// and "The value 'abc' is invalid for '--epochs <n>'" alone names no range or form. Not
    /// beside a message that lists the values already ("Please provide one of ...").
    private static func flagHelp(for error: Error) -> String {
        let prefix = "Help:  "
        guard !message(for: error).contains("Please provide"),
              let line = fullMessage(for: error).split(separator: "\n").first(where: { $0.hasPrefix(prefix) }),
              let gap = line.range(of: "  ", range: line.index(line.startIndex, offsetBy: prefix.count)..<line.endIndex) else { return "" }
        let help = line[gap.upperBound...].trimmingCharacters(in: CharacterSet.whitespaces.union(["."]))
        return help.isEmpty ? "" : ": " + help
    }

    private static var toolName: String { configuration.commandName ?? CommandLine.arguments[0] }

    /// Writes `error` as one line on standard error, the command's name first; returns its exit code.
    private static func report(_ error: VAEError) -> ExitCode {
        writeToStandardError("\(toolName): \(error.message)\n")
        return ExitCode(error.exitCode)
    }
}
