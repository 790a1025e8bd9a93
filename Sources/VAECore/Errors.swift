import Foundation

/// A failure the tools report as one line and turn into an exit code.
///
/// The message always names the file or flag at fault, so that a user can act on it
/// without reading a stack trace.
public struct VAEError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// An input file exists but its content is wrong (sysexits EX_DATAERR).
        case badData
        /// An input file or folder is missing (EX_NOINPUT).
        case missingInput
        /// An output file could not be created or written (EX_CANTCREAT).
        case cannotWrite
        /// Training (the VAE's, the classifier's, a two-stage sampler's) diverged, or encoding a GIF
        /// or starting zlib failed (EX_SOFTWARE).
        case failed
        /// A bad flag, or a request that conflicts with what is on disk, such as other data than
        /// the run's (EX_USAGE).
        case usage
        /// Another process is writing the run folder; trying again later may work (EX_TEMPFAIL).
        case busy
        /// SIGINT arrived; the last complete epoch is safe.
        case interrupted
        /// SIGTERM arrived; the same, with the shell's code for death by SIGTERM.
        case terminated
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Exit codes follow sysexits.h so that scripts can tell bad data from a full disk.
    public var exitCode: Int32 {
        switch kind {
        case .usage: return 64
        case .badData: return 65
        case .missingInput: return 66
        case .failed: return 70
        case .cannotWrite: return 73
        case .busy: return 75
        case .interrupted: return 130
        case .terminated: return 143
        }
    }
}

/// `strerror` for the current `errno`, for messages about files.
public func systemErrorText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
