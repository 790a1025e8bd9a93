import Foundation

/// The files of one training run:
///
///     <run>/checkpoints/epoch-NNNN.safetensors   weights + configuration + metrics, every epoch
///     <run>/metrics.jsonl                        one JSON object per epoch
///     <run>/state.safetensors                    what resuming needs: moments, step, random state
///     <run>/data-folder                          the absolute path of the data it was trained on
///     <run>/diverged                             vae-train's message, once its training diverged
///     <run>/.lock                                held by the process writing the run (`RunLock`)
public struct RunDirectory: Sendable {
    public let path: String

    public init(_ path: String) {
        // "runs/x/" is the folder "runs/x": no doubled slash in its files' paths ("/" stays "/").
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.path = path
    }

    /// The run whose `checkpoints` folder holds the file at `checkpoint`; nil for a checkpoint
    /// kept anywhere else.
    public init?(holdingCheckpoint checkpoint: String) {
        self.init(owningCheckpointsFolder: URL(fileURLWithPath: checkpoint).deletingLastPathComponent().path)
    }

    /// The run above `folder` when `folder` is named as a run's checkpoints folder; nil otherwise.
    public init?(owningCheckpointsFolder folder: String) {
        let folder = URL(fileURLWithPath: folder)
        guard folder.lastPathComponent == RunDirectory.checkpointsFolderName else { return nil }
        self.init(folder.deletingLastPathComponent().path)
    }

    private static let checkpointsFolderName = "checkpoints"
    public var checkpointsFolder: String { path + "/" + RunDirectory.checkpointsFolderName }
    public var metricsPath: String { path + "/metrics.jsonl" }
    public var statePath: String { path + "/state.safetensors" }
    public var dataFolderRecordPath: String { path + "/data-folder" }
    /// Written when the run's training diverged, holding vae-train's message: the resume state
    /// is the epoch's before, and a resume would repeat the very same steps, so it is refused.
    public var divergenceRecordPath: String { path + "/diverged" }
    public var lockPath: String { path + "/.lock" }
    /// The epoch-0 state of a run that will replace this folder's (`--overwrite`), kept aside until
    /// its first epoch is trained; a leftover is cleared like any temporary file.
    public var replacementStatePath: String { path + "/.replacement-state.safetensors" + temporaryFileSuffix }

    /// `<run>/checkpoints/epoch-NNNN.safetensors`
    public func checkpoint(epoch: Int) -> String {
        checkpointsFolder + "/" + RunDirectory.checkpointFileName(epoch: epoch)
    }

    /// "epoch-0007.safetensors".
    public static func checkpointFileName(epoch: Int) -> String {
        let digits = String(epoch)
        return "epoch-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits + ".safetensors"
    }

    /// Epochs that have a checkpoint file, ascending.
    public func checkpointEpochs() -> [Int] { RunDirectory.checkpointEpochs(inFolder: checkpointsFolder) }

    /// The epochs of the checkpoint files in `folder`, ascending. Only the names vae-train writes
    /// count (`epoch-0031.safetensors`, not `epoch-31.safetensors`): every tool then finds the
    /// epoch's file under the name `checkpointFileName` gives it.
    public static func checkpointEpochs(inFolder folder: String) -> [Int] {
        epochs(ofCheckpointNames: (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
    }

    /// The epochs whose checkpoints' temporary names are taken in the checkpoints folder, by a
    /// crash's leftover file or by anything else.
    public func epochsOfLeftoverTemporaries() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsFolder)) ?? []
        return RunDirectory.epochs(ofCheckpointNames: names.filter(isLeftoverTemporaryFile).map {
            String($0.dropFirst().dropLast(temporaryFileSuffix.count))
        })
    }

    private static func epochs(ofCheckpointNames names: [String]) -> [Int] {
        names.compactMap { name -> Int? in
            guard name.hasPrefix("epoch-"), name.hasSuffix(".safetensors"),
                  let epoch = Int(name.dropFirst(6).dropLast(12)), epoch >= 1, checkpointFileName(epoch: epoch) == name else { return nil }
            return epoch
        }.sorted()
    }

    /// The epochs of the run's checkpoints, ascending, for a tool that reads the run: a folder
    /// that does not exist or holds none is refused.
    public func requiredCheckpointEpochs() throws -> [Int] {
        try checkExists()
        let epochs = checkpointEpochs()
        guard !epochs.isEmpty else {
            // Something else in the folder's place is damage, which training first would not mend.
            if PathKind(checkpointsFolder) == .file {
                throw VAEError(.badData, "\(checkpointsFolder) is not a folder, where the run keeps its checkpoints")
            }
            try checkCheckpointsFolderCanBeListed()
            let hint = enclosingRunHint
            // Not a run folder at all: no checkpoints/, no run started in it, other files.
            if hint.isEmpty && PathKind(checkpointsFolder) == .nothing && !isInItsFirstEpoch, let other = firstFileNotOfARun {
                let holdsCheckpoints = !RunDirectory.checkpointEpochs(inFolder: path).isEmpty
                throw VAEError(.missingInput, "\(path) is not a run folder: it holds "
                               + (holdsCheckpoints ? "checkpoints itself, where a run keeps them in \(checkpointsFolder)"
                                                   : "\(other), and no checkpoints/ folder")
                               + "; name the folder vae-train --run-dir wrote")
            }
            let none = PathKind(checkpointsFolder) == .nothing ? "does not exist" : "holds no checkpoints (epoch-NNNN.safetensors)"
            throw VAEError(.missingInput, "\(checkpointsFolder) \(none)" + (hint.isEmpty ? untrainedAdvice : hint))
        }
        return epochs
    }

    /// Whether the run was started and has not completed its first epoch: its resume state is
    /// the one written before that epoch (a trainer is in it, or was stopped in it, or it
    /// diverged in it, which a resume would repeat).
    public var isInItsFirstEpoch: Bool { (try? readTrainingState(statePath))?.epoch == 0 }

    /// What to do about a run folder with nothing to read yet, to follow what is missing.
    public var untrainedAdvice: String {
        if let divergence = try? recordedDivergence() { return ": \(divergenceRecordPath) records that \(divergence)" }
        return isInItsFirstEpoch
            ? " yet: the run has not completed its first epoch (a trainer is in it; or it was stopped, and "
              + "vae-train --resume \(shellPath(path)) continues it; or it diverged, and needs --overwrite with what that error advised)"
            : "; train the run with vae-train first"
    }

    /// The checkpoint of epoch `epoch` (which must have one), checked as a replay of the run
    /// checks it: against the epoch its name says and the first checkpoint's configuration.
    public func checkedCheckpoint(epoch: Int) throws -> Checkpoint {
        let firstEpoch = checkpointEpochs().first ?? epoch
        var first: Checkpoint?
        if firstEpoch != epoch {
            do {
                first = try readCheckpoint(checkpoint(epoch: firstEpoch), epoch: firstEpoch, configuredAs: nil)
            } catch let error as VAEError {
                // Not the file asked for: say why it was read.
                throw VAEError(error.kind, "\(error.message) (the run's first checkpoint, which epoch \(epoch)'s is checked against)")
            }
        }
        return try readCheckpoint(checkpoint(epoch: epoch), epoch: epoch, configuredAs: first.map { ($0.run, $0.path) })
    }

    /// Refuses a checkpoints folder that exists but cannot be listed (no permission, a link loop):
    /// `checkpointEpochs` would take it for an empty one.
    public func checkCheckpointsFolderCanBeListed() throws {
        if let listing = opendir(checkpointsFolder) {
            closedir(listing)
        } else if errno != ENOENT {
            throw VAEError(.missingInput, "cannot read \(checkpointsFolder): \(systemErrorText())")
        }
    }

    /// Refuses, for a tool that reads the run, a folder that does not exist or is a file.
    public func checkExists() throws {
        switch PathKind(path) {
        case .nothing:
            // Not "does not exist" when the system says why it cannot be reached (a link to itself).
            var info = stat()
            if stat(path, &info) != 0 && ![ENOENT, ENOTDIR].contains(errno) {
                throw VAEError(.missingInput, "cannot open the run folder \(path): \(systemErrorText())")
            }
            throw VAEError(.missingInput, "the run folder \(path) does not exist")
        case .file: throw VAEError(.missingInput, "\(path) is a file, not a run folder" + enclosingRunHint)
        case .folder: break
        }
    }

    /// " (did you mean the run folder X?)" when `path` lies in a run folder X with checkpoints
    /// (a checkpoint, a run file, the checkpoints folder), which a tool reading a run was meant to be given.
    public var enclosingRunHint: String {
        let parent = RunDirectory.parentFolder(of: path)
        for candidate in [parent, RunDirectory.parentFolder(of: parent)] where !RunDirectory(candidate).checkpointEpochs().isEmpty {
            return " (did you mean the run folder \(candidate)?)"
        }
        return ""
    }

    /// The folder above `path`, spelled from it ("runs/x" above "runs/x/checkpoints", ".." above ".").
    /// By hand: Foundation's deletingLastPathComponent traps on ".".
    private static func parentFolder(of path: String) -> String {
        if path == "." { return ".." }
        if path == ".." || path.hasSuffix("/.") || path.hasSuffix("/..") { return path + "/.." }
        return folderHolding(path)
    }

    /// The run folder that a tool reading a run (vae-render, vae-sample) takes `path` for: the run
    /// whose checkpoints folder it is (runs/x for runs/x/checkpoints, ".." for "." inside it, the
    /// run a link leads into for a link to one), as vae-eval takes a checkpoints folder for its
    /// last checkpoint; any other path, a run folder named "checkpoints" too, as it is.
    public static func folderToRead(_ path: String) -> String {
        var folder = RunDirectory(path)
        while folder.path.hasSuffix("/.") { folder = RunDirectory(String(folder.path.dropLast(2))) }
        guard !checkpointEpochs(inFolder: folder.path).isEmpty else { return path }
        let resolved = URL(fileURLWithPath: folder.path).resolvingSymlinksInPath().path
        for run in [RunDirectory(parentFolder(of: folder.path)), RunDirectory(parentFolder(of: resolved))]
        where sameFile(run.checkpointsFolder, folder.path) {
            return run.path
        }
        return path
    }

    /// Creates the folders, refuses a run file that could not be written (a folder in its
    /// place) before any training, and clears temporary files left by a crash.
    public func prepare() throws {
        try createFolders(checkpointsFolder, what: "the run folder")
        for folder in [path, checkpointsFolder] where access(folder, W_OK) != 0 {
            let what = folder == path ? "the run folder" : "the run's checkpoints folder"
            throw VAEError(.cannotWrite, "cannot write into \(what) \(folder): \(systemErrorText())")
        }
        for file in [metricsPath, statePath, dataFolderRecordPath, divergenceRecordPath] { try checkFileCanBeWritten(file) }
        removeLeftoverTemporaryFiles()
    }

    /// Removes the temporary files a killed writer left in the folder and its checkpoints folder
    /// (by the lock's holder only: another trainer's may be in the middle of being written).
    public func removeLeftoverTemporaryFiles() {
        VAECore.removeLeftoverTemporaryFiles(in: path)
        VAECore.removeLeftoverTemporaryFiles(in: checkpointsFolder)
    }

    /// Refuses to start a new run here while the folder holds one that could be lost:
    /// checkpoints, or a resume state past epoch 0 (a run that can still be resumed, its
    /// checkpoints deleted or not yet written), or a state that cannot be read. A state at epoch
    /// 0 (a run stopped in its first epoch) holds nothing to lose.
    public func checkHoldsNoRun() throws {
        // A diverged run cannot be resumed: only --overwrite is advised, with what diverged.
        let advice = (try? recordedDivergence()).map { "; pass --overwrite to replace it (\(divergenceRecordPath) records that \($0))" }
            ?? "; pass --resume to continue that run or --overwrite to replace it"
        if let last = checkpointEpochs().last {
            throw VAEError(.usage, "\(path) already holds checkpoints (up to epoch \(last))" + advice)
        }
        // A folder in the state's place is no run: `prepare` refuses it as a file it cannot write.
        guard PathKind(statePath) == .file else { return }
        let state: TrainingState
        do { state = try readTrainingState(statePath) } catch let error as VAEError {
            throw VAEError(.usage, "\(path) holds a resume state that cannot be read (\(error.message)); "
                           + "pass --overwrite to replace the run")
        }
        if state.epoch > 0 {
            throw VAEError(.usage, "\(path) holds the resume state of a run after epoch \(state.epoch) (\(statePath))" + advice)
        }
        try checkHoldsOnlyRunFiles()
    }

    /// Refuses an output file `flag` names in a run's checkpoints folder, which vae-train keeps
    /// for its own checkpoints: a file there would pass for one, or be removed by a resume.
    public static func checkNotAmongCheckpoints(_ out: String, flag: String) throws {
        guard let run = runWhoseCheckpointsFolderIs(folderHolding(out)) else { return }
        throw VAEError(.usage, "\(flag) \(out) is in the checkpoints folder of the run in \(run.path), which holds only the "
                       + "checkpoints vae-train writes; name a file elsewhere")
    }

    /// Refuses an output folder `flag` names that is a run's checkpoints folder or lies anywhere
    /// inside one, new or not (see above), as the kernel finds it from the deepest folder of the
    /// path that exists.
    public static func checkNotInACheckpointsFolder(_ folder: String, flag: String) throws {
        var existing = folder
        while access(existing, F_OK) != 0 { existing = folderHolding(existing) }
        guard let resolvedName = realpath(existing, nil) else { return }
        let resolved = String(cString: resolvedName)
        free(resolvedName)
        var ancestor = URL(fileURLWithPath: resolved)
        while true {
            if let run = runWhoseCheckpointsFolderIs(ancestor.path) {
                let place = existing == folder && ancestor.path == resolved ? "is the" : "is in the"
                throw VAEError(.usage, "\(flag) \(folder) \(place) checkpoints folder of the run in \(run.path), which holds only the "
                               + "checkpoints vae-train writes; name another folder")
            }
            guard ancestor.path != "/" else { return }
            ancestor.deleteLastPathComponent()
        }
    }

    /// The run whose checkpoints folder `folder` is, as the kernel finds it: through ".", links and
    /// a link's ".." (link/.. is the folder above the link's target, not the folder holding the
    /// link); nil for a folder that does not exist.
    private static func runWhoseCheckpointsFolderIs(_ folder: String) -> RunDirectory? {
        guard let resolved = realpath(folder, nil) else { return nil }
        defer { free(resolved) }
        let folder = URL(fileURLWithPath: String(cString: resolved))
        let run = RunDirectory(folder.deletingLastPathComponent().path)
        return folder.lastPathComponent == checkpointsFolderName && run.holdsARun ? run : nil
    }

    /// Whether the folder holds a file only a run writes: a run that --overwrite may replace.
    public var holdsARun: Bool {
        !checkpointEpochs().isEmpty || [statePath, metricsPath, dataFolderRecordPath].contains { FileManager.default.fileExists(atPath: $0) }
    }

    /// Refuses a folder that holds anything but a run's files (the data folder, given as
    /// --run-dir by mistake, say): a new run would mix its files with them.
    public func checkHoldsOnlyRunFiles() throws {
        if let other = firstFileNotOfARun {
            throw VAEError(.usage, "\(path) holds \(other), which is no file of a run: name a new or empty folder for the run")
        }
    }

    /// The first name in the folder, in sorted order, that a run does not write.
    private var firstFileNotOfARun: String? {
        let runFiles = Set([checkpointsFolder, metricsPath, statePath, dataFolderRecordPath, divergenceRecordPath, lockPath].map {
            URL(fileURLWithPath: $0).lastPathComponent
        })
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        // A crash's temporary files are the run's too: `prepare` removes them.
        return names.first { !runFiles.contains($0) && !isLeftoverTemporaryFile($0) }
    }

    /// What a run writes besides its state.
    private var runFilesButTheState: [String] {
        checkpointEpochs().map(checkpoint(epoch:)) + [metricsPath, dataFolderRecordPath]
    }

    /// Refuses, before `--overwrite` trains, a file of the old run that `replaceRun` could not
    /// remove: a folder in its place (the folder itself was found writable by `prepare`).
    public func checkRunFilesRemovable() throws {
        var info = stat()
        for file in [statePath] + runFilesButTheState where lstat(file, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw VAEError(.cannotWrite, "cannot remove \(file) of the run being replaced: \(systemErrorText(EISDIR))")
        }
    }

    /// Replaces the folder's run, for `--overwrite`, by the new run's epoch-0 state at
    /// `replacementStatePath`: renamed over the old state (so that a state is always there,
    /// the old run's or the new one's), then the old run's other files are removed. A file that
    /// stays would pass for part of the new run (a checkpoint of the same configuration, say),
    /// so failing to remove one is an error.
    public func replaceRun() throws {
        // Before the rename: a crash between the two must not leave the new run refused as
        // diverged (it leaves the old run without its record, which costs one repeated divergence).
        try removeDivergenceRecord()
        guard rename(replacementStatePath, statePath) == 0 else {
            throw VAEError(.cannotWrite, "cannot rename \(replacementStatePath) to \(statePath): \(systemErrorText())")
        }
        do {
            try syncFolder(path, after: "renaming \(replacementStatePath) to \(statePath)")
        } catch let error as VAEError {
            // Stopped before the old run's files are removed: say what the folder holds now.
            throw VAEError(error.kind, "\(error.message); \(path) holds the new run's epoch-0 state beside the old run's "
                           + "checkpoints: start it again with --overwrite")
        }
        for file in runFilesButTheState where unlink(file) != 0 && errno != ENOENT {
            throw VAEError(.cannotWrite, "cannot remove \(file) of the run being replaced: \(systemErrorText())")
        }
    }

    /// Refuses a run whose files would not fit the free space of the folder's file system: every
    /// epoch keeps its checkpoint (the renderer replays them all), so a slip in --epochs (100000
    /// for 100) would otherwise fill the disk an epoch at a time and fail there. Counted are the
    /// checkpoints of the epochs after `epoch` with their metrics lines, and a new state beside
    /// the one it replaces (two for a new run); what `replacing` an old run removes counts as free.
    /// A file system that cannot say how much is free is not refused.
    public func checkRoom(for run: RunConfig, after epoch: Int, replacing: Bool) throws {
        // The nearest folder that exists on the way to the run's (by hand: Foundation traps on
        // some); each step shortens the path.
        var existing = path
        while PathKind(existing) != .folder && existing != "/" {
            guard let slash = existing.lastIndex(of: "/") else {
                existing = "."
                break
            }
            existing = slash == existing.startIndex ? "/" : String(existing[..<slash])
        }
        var info = statvfs()
        // A file system of no size (an unlimited tmpfs, ramfs, some FUSE ones) says nothing of its room.
        guard statvfs(existing, &info) == 0, info.f_blocks > 0 else { return }
        let (needed, checkpointBytes) = RunDirectory.spaceNeeded(for: run, after: epoch)
        // What removing the old run frees: its files' blocks, of those that are no one else's.
        var reclaimed = 0.0, file = stat()
        for old in [statePath] + runFilesButTheState where replacing && lstat(old, &file) == 0 {
            if file.st_mode & S_IFMT == S_IFREG && file.st_nlink == 1 { reclaimed += Double(file.st_blocks) * 512 }
        }
        let free = Double(info.f_bavail) * Double(info.f_frsize)
        guard needed > free + reclaimed else { return }
        func size(_ bytes: Double) -> String {
            let (value, unit) = [(1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB")].first { bytes >= $0.0 } ?? (1e3, "kB")
            return String(format: "%.1f %@", bytes / value, unit)
        }
        throw VAEError(.cannotWrite, "\(path) would need \(size(needed)) for the checkpoints of epochs \(epoch + 1) to "
                       + "\(run.epochs) (\(size(checkpointBytes)) each) and the resume state, and its file system has "
                       + "\(size(free)) free\(reclaimed > 0 ? ", with the \(size(reclaimed)) of the run it replaces" : ""): "
                       + "pass fewer --epochs, or make room")
    }

    /// The bytes `checkRoom` asks for `run` trained on after `epoch`, and those of one checkpoint.
    static func spaceNeeded(for run: RunConfig, after epoch: Int) -> (total: Double, checkpoint: Double) {
        let parameters = Double(ParameterLayout(run.model).count)
        // A header of metadata (under 2 KB) and a metrics line each: 4 KB is ample. The state
        // holds Adam's two moments beside the parameters.
        let checkpoint = 4 * parameters + 4096, state = 12 * parameters + 4096
        return (Double(run.epochs - epoch) * checkpoint + (epoch == 0 ? 2 : 1) * state, checkpoint)
    }

    /// Removes, for a resume, the checkpoints past the state's `epoch`: the one whose state a
    /// stop came before (it is trained again), or an old run's that an `--overwrite` stopped
    /// between `replaceRun`'s rename and its removals left, which would pass for the new run's.
    public func removeCheckpoints(after epoch: Int) throws {
        for later in checkpointEpochs() where later > epoch && unlink(checkpoint(epoch: later)) != 0 && errno != ENOENT {
            throw VAEError(.cannotWrite, "cannot remove \(checkpoint(epoch: later)), past the epoch the run resumes from: "
                           + systemErrorText())
        }
    }

    /// Refuses, before the lock is taken (its file would be left in a folder that is no run's),
    /// a folder that does not exist, is a file, or holds no resume state, with advice on what it
    /// holds instead.
    public func checkResumable() throws {
        do { try checkExists() } catch let error as VAEError { throw VAEError(error.kind, "cannot resume: " + error.message) }
        guard !FileManager.default.fileExists(atPath: statePath) else { return }
        // The moments and the random state are only in the state file: checkpoints alone cannot continue a run.
        if let last = checkpointEpochs().last {
            throw VAEError(.missingInput, "cannot resume: \(statePath) does not exist, though \(path) holds checkpoints "
                           + "up to epoch \(last), and a run continues only from its state; pass --overwrite instead of "
                           + "--resume to train it again from the start")
        }
        if let other = firstFileNotOfARun {
            throw VAEError(.missingInput, "cannot resume: \(path) is not a run folder (it holds \(other), and no "
                           + "state.safetensors); --resume takes the folder that vae-train --run-dir wrote")
        }
        // A trainer's first act is to take the lock, whose file stays: without one no run was started here.
        guard FileManager.default.fileExists(atPath: lockPath) || holdsARun else {
            throw VAEError(.missingInput, "cannot resume: \(path) holds no run (vae-train has not started one there); "
                           + "start one without --resume")
        }
        throw VAEError(.missingInput, "cannot resume: \(statePath) does not exist (the run was stopped before it had "
                       + "written anything); start it again without --resume")
    }

    /// The resume state, with advice when a run was stopped before writing one, checked against
    /// the run's last checkpoint at or before its epoch, so that a state copied in from another
    /// run is told as such before its epoch or its flags are believed (a resume removes the
    /// checkpoints past its epoch).
    public func readState() throws -> TrainingState {
        try checkResumable()
        // Under the lock: a trainer replacing the run may be removing the record.
        if let divergence = try recordedDivergence() {
            throw VAEError(.usage, "cannot resume: \(divergenceRecordPath) records that \(divergence)")
        }
        let state = try readTrainingState(statePath)
        // Else every kept checkpoint would be taken for missing, and the epochs trained again over them.
        try checkCheckpointsFolderCanBeListed()
        if let last = checkpointEpochs().last(where: { $0 <= state.epoch }) {
            let path = checkpoint(epoch: last)
            let checkpoint = try readCheckpoint(path, epoch: last, configuredAs: (state.run, statePath))
            // An epoch's state is written after its checkpoint, from the same weights.
            if last == state.epoch && checkpoint.model.parameters.array != state.parameters {
                throw VAEError(.badData, "\(statePath) is at epoch \(last), but its weights are not those of \(path): "
                               + "one of the two was changed, or copied in from another run")
            }
        }
        return state
    }

    /// Rewrites metrics.jsonl with `lines` (atomically, like every file of a run).
    public func writeMetrics(_ lines: [String]) throws {
        try writeFileAtomically(Array(lines.map { $0 + "\n" }.joined().utf8), to: metricsPath)
    }

    /// The metrics lines of epochs 1...`epoch`, to continue the file of `run` resumed from its
    /// state. Every checkpoint the run keeps through `epoch` is read whole and checked as the
    /// renderer checks it (its epoch, `run`'s configuration, finite weights), so that one copied
    /// in from another run, or damaged, stops the resume rather than a render later. An epoch
    /// whose line is missing (the file deleted or cut by hand) gets one rebuilt from its
    /// checkpoint, without timings, so that the loss curve keeps every epoch.
    public func metricsLines(through epoch: Int, of run: RunConfig) throws -> [String] {
        let recorded = try recordedMetricsLines()
        let checkpoints = Set(checkpointEpochs())
        return try stride(from: 1, through: epoch, by: 1).compactMap { epoch in
            guard checkpoints.contains(epoch) else { return recorded[epoch]?.text }
            let kept = try readCheckpoint(checkpoint(epoch: epoch), epoch: epoch, configuredAs: (run, statePath))
            guard let line = recorded[epoch] else { return kept.metrics.jsonLine }
            // A line copied in from another run would put its curve beside these checkpoints.
            // Compared as numbers: JSON's shortest text of a Double may be read back a last bit off.
            let (train, test) = (kept.metrics.train.total, kept.metrics.test.total)
            guard abs(line.losses.train - train) <= 1e-12 * abs(train), abs(line.losses.test - test) <= 1e-12 * abs(test) else {
                throw VAEError(.badData, "\(metricsPath): epoch \(epoch)'s line records losses \(line.losses.train) and "
                               + "\(line.losses.test), its checkpoint \(train) and \(test); delete that line (from another run?), "
                               + "and the resume rebuilds it from the checkpoint")
            }
            return line.text
        }
    }

    /// The epochs through `epoch` whose checkpoint the run keeps and whose metrics line is
    /// missing, which `metricsLines` rebuilds.
    public func epochsMissingFromMetrics(through epoch: Int) throws -> [Int] {
        let recorded = try recordedMetricsLines()
        return checkpointEpochs().filter { $0 <= epoch && recorded[$0] == nil }
    }

    /// metrics.jsonl's lines by epoch (an epoch's last line), none without the file.
    private func recordedMetricsLines() throws -> [Int: (text: String, losses: EpochLosses)] {
        var recorded: [Int: (text: String, losses: EpochLosses)] = [:]
        guard FileManager.default.fileExists(atPath: metricsPath) else { return recorded }
        do {
            for line in try readMetricsLines(metricsPath) { recorded[line.losses.epoch] = line }
        } catch let error as VAEError where error.kind == .badData {
            throw VAEError(error.kind, error.message + "; mend or delete that line, and the resume rebuilds a missing line "
                           + "from its epoch's checkpoint")
        }
        return recorded
    }

    /// Records where the run's data came from, as an absolute path, so that the renderer and
    /// vae-eval find it without being told. Kept out of the checkpoints, whose bytes must depend
    /// only on the seed and the data, not on where the data lies.
    public func recordDataFolder(_ folder: String) throws {
        let absolute = absolutePath(folder)
        try writeFileAtomically(Array((absolute + "\n").utf8), to: dataFolderRecordPath)
    }

    /// Records that the run's training diverged, with vae-train's message.
    public func recordDivergence(_ message: String) throws {
        try writeFileAtomically(Array((message + "\n").utf8), to: divergenceRecordPath)
    }

    /// Removes the divergence record, for a new run in the folder.
    public func removeDivergenceRecord() throws {
        guard unlink(divergenceRecordPath) == 0 || errno == ENOENT else {
            throw VAEError(.cannotWrite, "cannot remove \(divergenceRecordPath), the record of an earlier run's divergence: "
                           + systemErrorText())
        }
    }

    /// The message `recordDivergence` wrote, or nil for a run that has not diverged.
    public func recordedDivergence() throws -> String? {
        switch PathKind(divergenceRecordPath) {
        case .nothing: return nil
        case .folder:
            throw VAEError(.badData, "\(divergenceRecordPath) is a folder, where a run records that its training diverged; "
                           + "remove it")
        default: break
        }
        guard let text = String(bytes: try readFile(divergenceRecordPath, atMost: 1 << 16), encoding: .utf8) else {
            throw VAEError(.badData, "\(divergenceRecordPath): not UTF-8 text")
        }
        let message = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return message.isEmpty ? "training diverged (no message recorded)" : message
    }

    /// The data folder `recordDataFolder` wrote, or nil for a run that has none.
    public func recordedDataFolder() throws -> String? {
        guard FileManager.default.fileExists(atPath: dataFolderRecordPath) else { return nil }
        guard let text = String(bytes: try readFile(dataFolderRecordPath, atMost: 1 << 20), encoding: .utf8) else {
            throw VAEError(.badData, "\(dataFolderRecordPath): not UTF-8 text")
        }
        let folder = text.trimmingCharacters(in: .newlines)
        guard folder.hasPrefix("/"), !folder.contains("\n") else {
            throw VAEError(.badData, "\(dataFolderRecordPath): not an absolute folder path")
        }
        return folder
    }
}
