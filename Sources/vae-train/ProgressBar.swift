import Foundation
import VAECore

/// A one-line live progress display on stderr, redrawn at most ten times a second.
/// When stderr is not a terminal it stays silent and the per-epoch lines are the log.
final class ProgressBar {
    private let enabled: Bool
    private var lastDraw: UInt64 = 0
    private var drawn = false

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func update(_ p: TrainingProgress, epochs: Int, batchSize: Int) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard p.batch == p.batches || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let width = 24
        let filled = p.batch * width / max(p.batches, 1)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let rate = Double(p.imagesSeen) / max(p.seconds, 1e-9)
        let remaining = Double(p.batches - p.batch) / Double(max(p.batch, 1)) * p.seconds
        let line = String(format: "epoch %d/%d %@ %d/%d  loss %.2f  %.0f img/s  ETA %@",
                          p.epoch, epochs, bar, p.batch, p.batches, p.runningLoss, rate, formatDuration(remaining))
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
        drawn = true
    }

    /// A plain count, for the evaluation after the last epoch.
    func update(label: String, done: Int, total: Int) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard done == total || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(label): \(done)/\(total) images".utf8))
        drawn = true
    }

    /// Erases the bar so that a log line can take its place.
    func clear() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        drawn = false
    }
}

func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
