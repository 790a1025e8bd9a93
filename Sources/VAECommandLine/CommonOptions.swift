import ArgumentParser
import Foundation
import VAECore

/// `--threads`, for every tool that trains or evaluates (vae-render and vae-fixtures have none): one
/// declaration, one check, one meaning.
///
/// This and every numeric option of the tools parse `.unconditional`ly, taking the next argument
/// whatever it looks like: by default ArgumentParser reads a negative number (`--k -1`) as a flag
/// and reports "Missing value", where validate() names the option's range.
public struct ThreadOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Threads to compute on, \(rangeHelp(ComputeThreads.counts)) (default: one per core, up to 256). Every count gives bit-identical results; on a machine busy with other work, fewer can be faster.",
                                                        valueName: "n"))
    public var threads: Int?

    public init() {}

    public func validate() throws {
        try checkRange("--threads", threads, in: ComputeThreads.counts)
    }

    /// Starts the compute team every layer uses, sized by `--threads` if it was given. Started
    /// either way, so that the main thread flushes denormals (as the team's start does) from the
    /// same point whether or not `--threads` was given.
    public func apply() {
        let team = ComputeThreads.shared
        if let threads { team.setCount(threads) }
    }
}

/// `--data`, for a tool that reads KMNIST but no run (vae-bench, vae-classifier).
public struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Folder with the KMNIST IDX files, .gz or raw, the .gz read where both are there (default: $KMNIST_DIR, else ./data/kmnist).",
                               valueName: "dir"))
    public var data: String?

    public init() {}

    public func validate() throws { try checkDataFlag(data) }

    /// --data, else $KMNIST_DIR, else ./data/kmnist.
    public var folder: String { KMNIST.folder(flag: data) }
}

/// `--data`, for a tool that reads or continues a run, which falls back on the folder the run
/// recorded before ./data/kmnist.
public struct RunDataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Folder with the KMNIST IDX files, .gz or raw, the .gz read where both are there (default: $KMNIST_DIR; else the folder the run was trained on, when it records one; else ./data/kmnist).",
                               valueName: "dir"))
    public var data: String?

    public init() {}

    public func validate() throws { try checkDataFlag(data) }

    /// Where no run is read (a new run, a checkpoint outside a run folder): --data, else
    /// $KMNIST_DIR, else ./data/kmnist.
    public var folder: String { KMNIST.folder(flag: data) }

    /// The folder of a tool that reads a run: --data, else $KMNIST_DIR, else the folder the run
    /// was trained on (which must still exist), else ./data/kmnist.
    public func folder(readingRun run: RunDirectory) throws -> String {
        guard KMNIST.explicitFolder(flag: data) == nil else { return KMNIST.folder(flag: data) }
        if let recorded = try run.recordedDataFolder() {
            guard PathKind(recorded) == .folder else {
                throw VAEError(.missingInput, "\(recorded), the data folder \(run.path) was trained on (recorded in "
                               + "\(run.dataFolderRecordPath)), does not exist; pass --data or set KMNIST_DIR")
            }
            return recorded
        }
        let fallback = KMNIST.folder(flag: nil)
        // Otherwise the message would name ./data/kmnist and not say why it was looked for.
        if run.holdsARun && PathKind(fallback) == .nothing {
            throw VAEError(.missingInput, "\(run.path) records no data folder (\(run.dataFolderRecordPath) is missing) and "
                           + "\(fallback) does not exist; " + KMNIST.runDataAdvice)
        }
        return fallback
    }

    /// The folder a resumed run trains on, as `folder(readingRun:)` finds it, except that a run
    /// that records none (its record deleted) needs --data or KMNIST_DIR: ./data/kmnist would be
    /// downloaded into, and the download is the full dataset, which may not be the run's.
    public func folder(resuming run: RunDirectory) throws -> String {
        if KMNIST.explicitFolder(flag: data) == nil, try run.recordedDataFolder() == nil {
            throw VAEError(.missingInput, "\(run.path) records no data folder (\(run.dataFolderRecordPath) is missing); "
                           + "pass --data or set KMNIST_DIR to the folder the run was trained on")
        }
        return try folder(readingRun: run)
    }
}

private func checkDataFlag(_ data: String?) throws {
    if data?.isEmpty == true { throw ValidationError("--data must name a folder") }
}

/// vae-train's --prior and vae-bench's.
extension Prior: ExpressibleByArgument {}
