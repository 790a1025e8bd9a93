import Foundation
import VAECore

/// The runs' colours, Tableau 10's: a chart holds at most this many runs, each its own colour.
public let lossCurveColours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                               "#bcbd22", "#7f7f7f"]

/// Legend entries longer than this keep their end, where run folders' names differ most, after
/// "…"; the whole label is the entry's tooltip. 20 characters fit the legend's 158 pixels in
/// DejaVu Sans at 12 px, digits (the widest common glyphs there) included.
let legendLabelLength = 20

/// What sets a run's curves apart from the negative ELBO of grey-level images, said after its
/// legend entry and explained in a note under the legend: curves compare only where their marks
/// are the same.
public enum LossCurveMark: String, Sendable, CaseIterable {
    /// `--objective iwae`: the train series is the negative importance-weighted bound, not the
    /// negative ELBO the test series and other runs show.
    case iwae = " (iwae)"
    /// `--binarize dynamic`: the losses are of binarised images.
    case binary = " (binary)"
    /// `--conditional`: the losses bound -log p(x|y), given the class.
    case conditional = " (|y)"

    /// The marks of a run of `run`'s configuration, in legend order.
    public static func of(_ run: RunConfig) -> [LossCurveMark] {
        [(iwae, run.objective == .iwae), (binary, run.binarization != .none), (conditional, run.model.conditional)]
            .filter(\.1).map(\.0)
    }

    /// The note's lines, of at most 26 characters, which fit the 188 pixels right of the plot.
    var note: [String] {
        switch self {
        case .iwae: ["test: negative ELBO", "train of\(rawValue) runs:", "negative IWAE bound"]
        case .binary: ["\(rawValue.dropFirst()): of binarised", "images, not grey levels"]
        case .conditional: ["\(rawValue.dropFirst()): -log p(x|y) bounds,", "given each image's class"]
        }
    }
}

/// How every loss curve starts, which tells vae-render's own loss.svg from another file of that name.
public let lossCurveSVGStart = "<svg xmlns=\"http://www.w3.org/2000/svg\" "

/// An SVG line chart of train (dashed) and test (solid) loss per epoch for one or more runs,
/// in nats per image; `marks` are those of the runs (by index) whose losses are not the plain
/// negative ELBO of grey-level images. Plain SVG 1.1 with no script or external resource, so it
/// embeds anywhere.
public func lossCurveSVG(_ runs: [(label: String, losses: [EpochLosses])], marks: [Int: [LossCurveMark]] = [:]) -> String {
    precondition(!runs.isEmpty && runs.allSatisfy { !$0.losses.isEmpty })
    precondition(runs.count <= lossCurveColours.count, "more runs than colours")
    let width = 720.0, height = 420.0
    let left = 64.0, right = 200.0, top = 24.0, bottom = 48.0
    let plotWidth = width - left - right, plotHeight = height - top - bottom

    let epochs = runs.flatMap { $0.losses.map(\.epoch) }
    let values = runs.flatMap { $0.losses.flatMap { [$0.train, $0.test] } }
    // A single epoch sits in the middle of an axis one epoch wider on either side, its only tick.
    let single = epochs.min()! == epochs.max()!
    let firstEpoch = Double(epochs.min()! - (single ? 1 : 0)), lastEpoch = Double(epochs.max()! + (single ? 1 : 0))
    let yTicks = niceTicks(low: values.min()!, high: values.max()!)
    let yLow = yTicks.first!, yHigh = yTicks.last!
    func x(_ epoch: Int) -> Double { left + (Double(epoch) - firstEpoch) / (lastEpoch - firstEpoch) * plotWidth }
    func y(_ loss: Double) -> Double { top + (yHigh - loss) / (yHigh - yLow) * plotHeight }
    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    var svg = lossCurveSVGStart + """
        width="\(Int(width))" height="\(Int(height))" \
        viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>

        """
    for tick in yTicks {
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(tick)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y(tick)))\" stroke=\"#e0e0e0\"/>\n"
        svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\">\(tickLabel(tick))</text>\n"
    }
    for tick in single ? [Double(epochs[0])] : epochTicks(first: firstEpoch, last: lastEpoch) {
        let px = x(Int(tick))
        svg += "<line x1=\"\(f(px))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight + 4))\" stroke=\"#444\"/>\n"
        svg += "<text x=\"\(f(px))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(Int(tick))</text>\n"
    }
    svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#444\"/>\n"
    svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 10))\" text-anchor=\"middle\">epoch</text>\n"
    let marked = LossCurveMark.allCases.filter { mark in marks.values.contains { $0.contains(mark) } }
    let axisName = marked.contains(.iwae) ? "loss" : "negative ELBO"
    svg += "<text transform=\"translate(16 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(axisName) (nats per image)</text>\n"

    for (index, run) in runs.enumerated() {
        let colour = lossCurveColours[index]
        for (series, dash, fill) in [(\EpochLosses.train, " stroke-dasharray=\"5 4\"", "white"), (\EpochLosses.test, "", colour)] {
            // A line through one point draws nothing: a run of one epoch is a dot, hollow for train.
            if run.losses.count == 1 {
                let loss = run.losses[0]
                svg += "<circle cx=\"\(f(x(loss.epoch)))\" cy=\"\(f(y(loss[keyPath: series])))\" r=\"4\" fill=\"\(fill)\" "
                    + "stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
                continue
            }
            let points = run.losses.map { "\(f(x($0.epoch))),\(f(y($0[keyPath: series])))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash) points=\"\(points)\"/>\n"
        }
        let legendY = top + 14 + Double(index) * 20
        svg += "<line x1=\"\(f(width - right + 12))\" y1=\"\(f(legendY - 4))\" x2=\"\(f(width - right + 36))\" y2=\"\(f(legendY - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
        let suffix = (marks[index] ?? []).map(\.rawValue).joined()
        // At least the "…": three marks together would leave less than nothing of the label.
        let room = max(legendLabelLength - suffix.count, 1)
        let shown = (run.label.count <= room ? run.label : "…" + run.label.suffix(room - 1)) + suffix
        svg += "<text x=\"\(f(width - right + 42))\" y=\"\(f(legendY))\"><title>\(escapeXML(run.label + suffix))</title>\(escapeXML(shown))</text>\n"
    }
    var notes = ["solid: test, dashed: train"]
    // Lines of at most 26 characters, which fit the 188 pixels right of the plot.
    if runs.contains(where: { $0.losses.count == 1 }) { notes += ["one epoch: a dot each,", "filled test, hollow train"] }
    notes += marked.flatMap(\.note)
    let noteY = top + 14 + Double(runs.count) * 20 + 8
    for (line, note) in notes.enumerated() {
        svg += "<text x=\"\(f(width - right + 12))\" y=\"\(f(noteY + 18 * Double(line)))\" fill=\"#555\">\(note)</text>\n"
    }
    return svg + "</svg>\n"
}

/// The loss curves of the run folders, each labelled by its folder name (or, where two folders
/// have one name, by its path as given); the first run's only through `lastEpoch` when it is
/// given. A run's objective, binarisation, conditioning (its marks) and likelihood come from its
/// last checkpoint, else its resume state; a folder with metrics alone is taken as a plain ELBO
/// run and its likelihood is not checked. An epoch whose checkpoint is kept but whose metrics line
/// is not (cut or deleted by hand; or, in a run still training, written just after the
/// checkpoint) is drawn from the checkpoint, which records the same losses: `fromCheckpoints`
/// lists such epochs by run folder.
/// Bernoulli and Gaussian runs are refused together: one's loss is a probability's logarithm,
/// the other's a density's, whose nats do not compare (a Gaussian's fall below zero as its σ shrinks).
public func lossCurveSVG(runFolders: [String], throughEpoch lastEpoch: Int?) throws
    -> (svg: String, fromCheckpoints: [(folder: String, epochs: [Int])]) {
    var marks: [Int: [LossCurveMark]] = [:]
    var fromCheckpoints: [(folder: String, epochs: [Int])] = []
    var likelihoods: [(folder: String, likelihood: Likelihood)] = []
    let names = runFolders.map { URL(fileURLWithPath: $0).lastPathComponent }
    let runs = try runFolders.enumerated().map { index, folder in
        let directory = RunDirectory(folder)
        let hasMetrics = PathKind(directory.metricsPath) != .nothing, kept = directory.checkpointEpochs()
        // A folder that is not there, or a run in its first epoch, is told as such, not as a file that cannot be opened.
        if !hasMetrics && (directory.isInItsFirstEpoch || kept.isEmpty) {
            try directory.checkExists()
            throw VAEError(.missingInput, "\(directory.metricsPath) does not exist" + directory.untrainedAdvice)
        }
        var losses = hasMetrics ? try readEpochLosses(directory.metricsPath) : []
        let recordedEpochs = Set(losses.map(\.epoch))
        let cut = index == 0 ? lastEpoch ?? .max : .max
        let unrecorded = kept.filter { !recordedEpochs.contains($0) && $0 <= cut }
        if !unrecorded.isEmpty {
            losses = try (losses + unrecorded.map { epoch in
                let metrics = try readCheckpoint(directory.checkpoint(epoch: epoch), epoch: epoch, configuredAs: nil).metrics
                return EpochLosses(epoch: epoch, train: metrics.train.total, test: metrics.test.total)
            }).sorted { $0.epoch < $1.epoch }
        }
        // The first run's last checkpoint, which the cut keeps, is drawn: only a folder of metrics alone can be empty.
        losses = losses.filter { $0.epoch <= cut }
        guard !losses.isEmpty else { throw VAEError(.badData, "\(directory.metricsPath): no epochs recorded") }
        // A state that is there but unreadable is reported, not taken for a folder of metrics alone.
        let recorded = try kept.last.map { try readCheckpoint(directory.checkpoint(epoch: $0)).run }
            ?? (PathKind(directory.statePath) == .file ? try readTrainingState(directory.statePath).run : nil)
        if let run = recorded {
            marks[index] = LossCurveMark.of(run)
            let likelihood = run.model.likelihood
            if let other = likelihoods.first(where: { ($0.likelihood == .bernoulli) != (likelihood == .bernoulli) }) {
                throw VAEError(.usage, "\(folder) is a \(likelihood.rawValue) run and \(other.folder) a \(other.likelihood.rawValue) "
                               + "one: a Bernoulli loss is a probability's and a Gaussian one a density's, so their curves do not share an axis")
            }
            likelihoods.append((folder, likelihood))
        }
        if !unrecorded.isEmpty { fromCheckpoints.append((folder, unrecorded)) }
        return (label: names.filter { $0 == names[index] }.count > 1 ? folder : names[index], losses: losses)
    }
    return (lossCurveSVG(runs, marks: marks), fromCheckpoints)
}

private func escapeXML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
