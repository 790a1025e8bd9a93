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
    /// Epochs with a checkpoint file, ascending.
    public let epochs: [Int]
    /// The earliest checkpoint; every other one must match its configuration.
    public let first: Checkpoint
    /// The latest checkpoint: the trained model of the interpolation, the traversal, the samplers'
    /// fits and the latent map's plane.
    public let final: Checkpoint

    public init(runDirectory path: String) throws {
        directory = RunDirectory(path)
        epochs = try directory.requiredCheckpointEpochs()
        let firstEpoch = epochs[0], finalEpoch = epochs[epochs.count - 1]
        first = try RunReplay.read(directory.checkpoint(epoch: firstEpoch), epoch: firstEpoch, reference: nil)
        final = epochs.count == 1 ? first
            : try RunReplay.read(directory.checkpoint(epoch: finalEpoch), epoch: finalEpoch, reference: first)
    }

    /// "epochs 1-12 of 30 planned": the checkpoints the run held when it was opened (a run still
    /// training has fewer than it plans), or with `finalOnly` the one the final model came from.
    /// Checkpoints missing within the range (deleted by hand) are named, so that the frames add up.
    public func epochsFound(finalOnly: Bool = false) -> String {
        let found = finalOnly || epochs.count == 1 ? "epoch \(final.epoch)" : "epochs \(epochs[0])-\(final.epoch)"
        let missing = finalOnly ? [] : (epochs[0]...final.epoch).filter { !epochs.contains($0) }
        return "\(found) of \(run.epochs) planned" + (missing.isEmpty ? "" : ", no checkpoint of \(epochList(missing))")
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
