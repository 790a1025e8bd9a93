import Foundation
import VAECore

/// A one-line live progress display on stderr, redrawn at most ten times a second.
/// When stderr is not a terminal it stays silent and the tools' per-epoch lines are the log.
public final class ProgressBar {
    private let enabled: Bool
    private var lastDraw: UInt64 = 0
    private var drawn = false
    /// The first report of `update(label:done:total:unit:)` for its label, which the rate and the
    /// time left count from.
    private var countStart: (label: String, time: UInt64, done: Int)?

    /// A bar that draws only if `enabled`.
    public init(enabled: Bool) {
        self.enabled = enabled
    }

    /// A bar that draws only when standard error is a terminal, as every tool's does.
    public static func onTerminal() -> ProgressBar {
        ProgressBar(enabled: isatty(STDERR_FILENO) != 0)
    }

    /// A training epoch's bar: batches done, running loss, images per second, time left in the
    /// epoch and in the run. `secondsPerEpoch` is the mean time of the epochs this process has
    /// finished, their evaluation and checkpoint included (nil before the first); `finalEstimate`
    /// says that an importance-weighted estimate, whose time is not known ahead, ends the run.
    public func update(_ p: TrainingProgress, epochs: Int, secondsPerEpoch: Double?, finalEstimate: Bool) {
        guard enabled, due(final: p.batch == p.batches) else { return }
        draw(trainingStatus(p, epochs: epochs, secondsPerEpoch: secondsPerEpoch, finalEstimate: finalEstimate,
                            columns: terminalColumns()))
    }

    /// The training bar's line for a terminal `columns` wide: the bar (24 cells at most) narrows,
    /// and below 4 cells is left out, so that the numbers stay on one line; narrower still, whole
    /// fields go, least needed first (the run's time left, the rate, the epoch's time left), rather
    /// than a number cut short. The epoch's time left assumes its remaining batches take as long
    /// each as those done; before the last epoch, the run's adds its epochs to come at
    /// `secondsPerEpoch`, else at this epoch's pace, and "+ IWAE" for a final estimate (which has
    /// its own count when it comes).
    func trainingStatus(_ p: TrainingProgress, epochs: Int, secondsPerEpoch: Double?, finalEstimate: Bool, columns: Int) -> String {
        let rate = Double(p.imagesSeen) / max(p.seconds, 1e-9)
        let remaining = Double(p.batches - p.batch) / Double(max(p.batch, 1)) * p.seconds
        let progress = String(format: "%d/%d  loss %.2f", p.batch, p.batches, p.runningLoss)
        let epochLeft = "  ETA " + formatDuration(remaining), perSecond = String(format: "  %.0f img/s", rate)
        var runLeft = ""
        if p.epoch < epochs {
            let epochSeconds = secondsPerEpoch ?? p.seconds / Double(max(p.batch, 1)) * Double(p.batches)
            runLeft = ", run " + formatDuration(remaining + Double(epochs - p.epoch) * epochSeconds) + (finalEstimate ? " + IWAE" : "")
        }
        let caption = epochCaption(p.epoch, of: epochs)
        let counts = progress + perSecond + epochLeft + runLeft
        let shorter = [progress + perSecond + epochLeft, progress + epochLeft, progress]
        guard caption.count + 1 + counts.count < columns else {
            return caption + " " + (shorter.first { caption.count + 1 + $0.count < columns } ?? progress)
        }
        let width = min(24, columns - 1 - caption.count - counts.count - 2)
        guard width >= 4 else { return caption + " " + counts }
        let filled = p.batch * width / max(p.batches, 1)
        return caption + " " + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + " " + counts
    }

    /// A count, such as the importance-weighted evaluation's images: done, per second, time left.
    public func update(label: String, done: Int, total: Int, unit: String = "images") {
        let now = DispatchTime.now().uptimeNanoseconds
        let start = countStart?.label == label ? countStart! : (label: label, time: now, done: done)
        countStart = start
        guard enabled, due(final: done == total) else { return }
        draw(countStatus(label: label, done: done, total: total, unit: unit, doneAtStart: start.done,
                         seconds: Double(now - start.time) / 1e9))
    }

    /// A count's line: done of total, then the rate since the count started (`doneAtStart`,
    /// `seconds` ago) and the time the rest takes at it. The first report has no rate yet.
    func countStatus(label: String, done: Int, total: Int, unit: String, doneAtStart: Int, seconds: Double) -> String {
        let count = "\(label): \(done)/\(total) \(unit)"
        guard done > doneAtStart else { return count }
        let rate = Double(done - doneAtStart) / max(seconds, 1e-9)
        // A slow count (checkpoints replayed at 0.4 a second) keeps a decimal rather than showing 0.
        return String(format: rate < 9.95 ? "%@  %.1f %@/s  ETA %@" : "%@  %.0f %@/s  ETA %@", count, rate, unit,
                      formatDuration(Double(total - done) / rate))
    }

    /// A step without a count, such as a fit: `text` until the next update.
    public func show(_ text: String) {
        guard enabled else { return }
        lastDraw = DispatchTime.now().uptimeNanoseconds
        draw(text)
    }

    /// What vae-render and vae-eval --quality are doing while a sampler is fitted (the two-stage
    /// one takes seconds).
    public func showFitting(_ kind: SamplerKind) {
        show("fitting the \(kind.rawValue) sampler to the encoded training images")
    }

    /// Erases the bar so that a log line can take its place.
    public func clear() {
        guard enabled, drawn else { return }
        writeToStandardError("\r\u{1B}[2K")
        drawn = false
    }

    /// Whether to redraw now: always for the last step, else at most every 0.1 s.
    private func due(final: Bool) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        guard final || now - lastDraw > 100_000_000 else { return false }
        lastDraw = now
        return true
    }

    /// Redraws the line, cut to the terminal's width: a line that wrapped would leave its first
    /// row behind at every redraw, since the erase reaches only the row the cursor is on.
    private func draw(_ line: String) {
        writeToStandardError("\r\u{1B}[2K\(fitted(line, columns: terminalColumns()))")
        drawn = true
    }
}

/// `line` cut to fit a terminal `columns` wide, short of its last column (where some terminals
/// wrap already).
func fitted(_ line: String, columns: Int) -> String {
    line.count < columns ? line : String(line.prefix(max(columns - 1, 0)))
}

/// The width of the terminal standard error is on, read at every redraw so that a resized window
/// is followed; 80 when it cannot be told.
private func terminalColumns() -> Int {
    var size = winsize()
    return ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
}

/// m:ss, or h:mm:ss from an hour up.
func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
