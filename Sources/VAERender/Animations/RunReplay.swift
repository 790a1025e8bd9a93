import Foundation
import VAECore

/// The checkpoints of one training run, read back in epoch order.
///
/// Opening a run reads its first and final checkpoints; `forEachCheckpoint` then reads the
/// others one at a time, so a run of hundreds of epochs never holds more than three models.
/// Every checkpoint must have the first one's configuration and the epoch its file name says;
/// the error otherwise names the file.
public struct RunReplay: Sendable {
    public let directory: RunDirectory
    /// The epochs replayed, ascending: every epoch with a checkpoint file, or as many of them as
    /// the animations may show.
    public let epochs: [Int]
    /// Every epoch with a checkpoint file, ascending.
    private let found: [Int]
    /// The earliest checkpoint; every other one must match its configuration.
    public let first: Checkpoint
    /// The latest checkpoint: the trained model of the interpolation, the traversal, the samplers'
    /// fits and the latent map's plane.
    public let final: Checkpoint

    /// `frames` replays at most that many checkpoints (at least 2): the first, the last and those
    /// between nearest to evenly spaced in log time, so that a long run's GIFs stay small enough to
    /// embed and still show its first epochs.
    public init(runDirectory path: String, frames: Int? = nil) throws {
        precondition(frames.map { $0 >= 2 } ?? true, "a first and a last frame")
        directory = RunDirectory(path)
        found = try directory.requiredCheckpointEpochs()
        epochs = spacedInLogTime(found, atMost: frames ?? found.count)
        let firstEpoch = epochs[0], finalEpoch = epochs[epochs.count - 1]
        first = try RunReplay.read(directory.checkpoint(epoch: firstEpoch), epoch: firstEpoch, reference: nil)
        final = epochs.count == 1 ? first
            : try RunReplay.read(directory.checkpoint(epoch: finalEpoch), epoch: finalEpoch, reference: first)
    }

    /// "epochs 1-12 of 30 planned": the checkpoints the run held when it was opened (a run still
    /// training has fewer than it plans), or with `finalOnly` the one the final model came from.
    /// Checkpoints missing within the range (deleted by hand) are named, and for `frames` the
    /// epochs shown ("epochs 1, 3 and 7 of the 7 checkpoints of ..."), so that the frames add up.
    public func epochsFound(finalOnly: Bool = false) -> String {
        let range = finalOnly || epochs.count == 1 ? "epoch \(final.epoch)" : "epochs \(epochs[0])-\(final.epoch)"
        let thinned = !finalOnly && epochs.count < found.count
            ? "\(epochList(epochs, showing: 20)) of the \(found.count) checkpoints of " : ""
        // From epoch 1: a run whose first checkpoints were deleted says so too.
        let missing = finalOnly ? [] : (1...final.epoch).filter { !found.contains($0) }
        return "\(thinned)\(range) of \(run.epochs) planned" + (missing.isEmpty ? "" : ", no checkpoint of \(epochList(missing))")
    }

    /// The run's configuration; `epochs` is the final checkpoint's plan, since a resumed run may
    /// have been given more epochs than it started with.
    public var run: RunConfig { final.run }

    /// Calls `body` with every checkpoint in epoch order and its position in `epochs`.
    public func forEachCheckpoint(_ body: (Checkpoint, Int) throws -> Void) throws {
        for (position, epoch) in epochs.enumerated() {
            let checkpoint: Checkpoint
            switch position {
            case 0: checkpoint = first
            case epochs.count - 1: checkpoint = final
            default: checkpoint = try RunReplay.read(directory.checkpoint(epoch: epoch), epoch: epoch, reference: first)
            }
            try body(checkpoint, position)
        }
    }

    /// The test images in `folder`, refused unless they can be the ones the run was evaluated on.
    public func testImages(from folder: String) throws -> ImageSet {
        try run.loadSplit(.test, from: folder, runName: "the run in \(directory.path)")
    }

    private static func read(_ path: String, epoch: Int, reference: Checkpoint?) throws -> Checkpoint {
        try readCheckpoint(path, epoch: epoch, configuredAs: reference.map { ($0.run, $0.path) })
    }
}

/// `count` (at least 2) of the epochs `items` (ascending, from 1), all of them if there are no
/// more: the first, the last and those between nearest to evenly spaced in log time, as the
/// frames are paced (`FrameStyle.epochDelay`). A model changes most in its first epochs, which
/// even spacing in epochs would skip (of 30, 10 frames show epochs 1, 2, 3, 4, 5, 7, 10, 14, 21
/// and 30, not 1, 4, 7, ...). Each pick is the epoch nearest its target in log time among those
/// after the previous pick that leave enough for the picks still to come.
func spacedInLogTime(_ items: [Int], atMost count: Int) -> [Int] {
    guard items.count > count else { return items }
    precondition(count >= 2 && items[0] >= 1)
    let first = log(Double(items[0])), span = log(Double(items[items.count - 1])) - first
    var picks: [Int] = [], next = 0
    for pick in 0..<count {
        let target = first + span * Double(pick) / Double(count - 1)
        let allowed = next...(items.count - (count - pick))
        let chosen = allowed.min { abs(log(Double(items[$0])) - target) < abs(log(Double(items[$1])) - target) }!
        picks.append(items[chosen])
        next = chosen + 1
    }
    return picks
}
