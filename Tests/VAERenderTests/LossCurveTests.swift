import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
import VAECore
@testable import VAERender

/// Collects the polylines of an SVG document, and the dots of runs of one epoch, failing on
/// malformed XML.
private final class PolylineCollector: NSObject, XMLParserDelegate {
    var polylines: [(stroke: String, dashed: Bool, points: [(Double, Double)])] = []
    var dots: [(x: Double, y: Double, stroke: String, filled: Bool)] = []

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if name == "circle", let x = attributes["cx"].flatMap(Double.init), let y = attributes["cy"].flatMap(Double.init) {
            dots.append((x, y, attributes["stroke"] ?? "", attributes["fill"] == attributes["stroke"]))
        }
        guard name == "polyline", let points = attributes["points"] else { return }
        let pairs = points.split(separator: " ").map { pair -> (Double, Double) in
            let xy = pair.split(separator: ",").map { Double($0)! }
            return (xy[0], xy[1])
        }
        polylines.append((attributes["stroke"] ?? "", attributes["stroke-dasharray"] != nil, pairs))
    }
}

private func losses(_ epochs: Int, start: Double) -> [EpochLosses] {
    (1...epochs).map { EpochLosses(epoch: $0, train: start - Double($0) * 3, test: start + 5 - Double($0) * 2) }
}

@Test func lossCurveDrawsTrainAndTestOfEveryRun() throws {
    let svg = lossCurveSVG([("a", losses(12, start: 300)), ("b <conv>", losses(5, start: 280))])
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = PolylineCollector()
    parser.delegate = collector
    #expect(parser.parse(), "the SVG must be well-formed XML")
    #expect(svg.hasPrefix(lossCurveSVGStart + "width=\"720\" "), "vae-render knows its own loss.svg by how it starts")
    #expect(svg.contains("b &lt;conv&gt;"))
    let lines = collector.polylines
    #expect(lines.count == 4)
    #expect(lines.map(\.dashed) == [true, false, true, false], "train dashed, test solid")
    #expect(lines.map(\.points.count) == [12, 12, 5, 5])
    #expect(lines[0].stroke == lines[1].stroke && lines[0].stroke != lines[2].stroke)
    for line in lines {
        #expect(zip(line.points, line.points.dropFirst()).allSatisfy { $0.0 < $1.0 }, "epochs run left to right")
        // Losses fall every epoch, and lower losses sit lower on the chart (larger SVG y).
        #expect(zip(line.points, line.points.dropFirst()).allSatisfy { $0.1 < $1.1 })
    }
    // Run a's epoch 12 test loss (281) is below its epoch 1 test loss (303), and its curve ends at the right edge.
    #expect(lines[1].points.last!.0 > lines[3].points.last!.0)
    // Each point at its own loss, on the scale of two labelled gridlines (labels sit 4 pixels low).
    let label = try Regex("<text x=\"58.0\" y=\"([0-9.]+)\" text-anchor=\"end\">([0-9.]+)</text>")
    let ticks = svg.split(separator: "\n").compactMap { line -> (y: Double, value: Double)? in
        guard let match = try? label.wholeMatch(in: line), let y = match[1].substring.flatMap({ Double($0) }),
              let value = match[2].substring.flatMap({ Double($0) }) else { return nil }
        return (y - 4, value)
    }
    try #require(ticks.count >= 2 && ticks[0].value != ticks[1].value, "\(ticks)")
    func y(_ loss: Double) -> Double { ticks[0].y + (loss - ticks[0].value) * (ticks[1].y - ticks[0].y) / (ticks[1].value - ticks[0].value) }
    for (line, (run, series)) in zip(lines, [(0, \EpochLosses.train), (0, \EpochLosses.test), (1, \EpochLosses.train), (1, \EpochLosses.test)]) {
        let expected = (run == 0 ? losses(12, start: 300) : losses(5, start: 280)).map { y($0[keyPath: series]) }
        expectClose(line.points.map(\.1), expected, absolute: 0.15, "run \(run)'s \(series == \EpochLosses.train ? "train" : "test") losses")
    }
}

/// Flat losses, a single epoch and the largest losses a metrics file may hold still give a
/// chart: every coordinate a number, the curves inside the plot. (Flat losses drew at y = -nan;
/// losses near 1e38 made a tick label trap and 1e308 never finished.)
@Test(arguments: [
    [EpochLosses(epoch: 1, train: 200, test: 200), EpochLosses(epoch: 2, train: 200, test: 200)],
    [EpochLosses(epoch: 7, train: 150.5, test: 151)],
    [EpochLosses(epoch: 1, train: 3.4e38, test: -3.4e38), EpochLosses(epoch: 2, train: 1e20, test: 0)],
])
func lossCurvesOfExtremeLossesAreDrawable(losses: [EpochLosses]) throws {
    let svg = lossCurveSVG([("run", losses)])
    #expect(!svg.contains("nan") && !svg.contains("inf"), "\(svg)")
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = PolylineCollector()
    parser.delegate = collector
    #expect(parser.parse(), "the SVG must be well-formed XML")
    let points = collector.polylines.flatMap(\.points) + collector.dots.map { ($0.x, $0.y) }
    #expect(points.count == 2 * losses.count)
    // The plot is the rectangle from (64, 24) to (520, 372).
    #expect(points.allSatisfy { (64...520).contains($0.0) && (24...372).contains($0.1) }, "\(points)")
}

@Test func metricsFilesAreReadAndBadLinesNamed() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/metrics.jsonl"
    write(Array("{\"epoch\":2,\"train_loss\":210.5,\"test_loss\":220}\n{\"epoch\":1,\"train_loss\":300,\"test_loss\":250.25}\n".utf8), to: path)
    #expect(try readEpochLosses(path) == [EpochLosses(epoch: 1, train: 300, test: 250.25), EpochLosses(epoch: 2, train: 210.5, test: 220)])
    // An epoch written twice (a file edited by hand) is drawn once, from its last line.
    write(Array("{\"epoch\":1,\"train_loss\":300,\"test_loss\":250}\n{\"epoch\":2,\"train_loss\":210,\"test_loss\":220}\n".utf8)
          + Array("{\"epoch\":1,\"train_loss\":290,\"test_loss\":240}\n".utf8), to: path)
    #expect(try readEpochLosses(path) == [EpochLosses(epoch: 1, train: 290, test: 240), EpochLosses(epoch: 2, train: 210, test: 220)])
    write(Array("{\"epoch\":1,\"train_loss\":300,\"test_loss\":250}\n{\"epoch\":2}\n".utf8), to: path)
    #expect { try readEpochLosses(path) } throws: { ($0 as? VAEError)?.message.hasPrefix("\(path):2: not a metrics line") == true }
    // Nothing a trainer could have written: a loss past Float's range, an epoch 0 or 2^40.
    for line in ["{\"epoch\":2,\"train_loss\":1e308,\"test_loss\":200}", "{\"epoch\":0,\"train_loss\":1,\"test_loss\":2}",
                 "{\"epoch\":1099511627776,\"train_loss\":1,\"test_loss\":2}"] {
        write(Array("{\"epoch\":1,\"train_loss\":300,\"test_loss\":250}\n\(line)\n".utf8), to: path)
        #expect { try readEpochLosses(path) } throws: { ($0 as? VAEError)?.message.hasPrefix("\(path):2: not a metrics line") == true }
    }
}

@Test func lossCurveCommand() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let run = scratch + "/run"
    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    write(Array("{\"epoch\":1,\"train_loss\":300,\"test_loss\":250}\n{\"epoch\":2,\"train_loss\":200,\"test_loss\":210}\n".utf8),
          to: run + "/metrics.jsonl")
    let out = scratch + "/out"
    let result = try runTool("vae-render", ["--loss-curve", "--run-dir", run, "--out", out])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == "\(out)/loss.svg: 1 run, \((try readFile(out + "/loss.svg")).count) bytes\n")
    // With an animation or alone, --compare asks for the loss curve.
    for flags in [["--sampling"], []] {
        let refused = try runTool("vae-render", flags + ["--compare", run, "--run-dir", run])
        #expect(refused.status == 64 && refused.stderr.contains("--compare adds runs to the loss curve; pass --loss-curve as well"),
                "\(flags): \(refused.stderr)")
    }
}

/// With the animations, the run's loss curve ends at its last checkpoint, as they do: a trainer
/// that has written the next epoch's metrics line since (or does so while they render) does not
/// put an epoch on the chart that no frame shows. A compared run is drawn whole.
@Test func theLossCurveEndsWithTheCheckpointsTheAnimationsShow() throws {
    let run = try copyOfFixtureRun("latent2", epochs: [1, 2])
    defer { removeTemporaryFolder(run.path) }
    let lines = (1...3).map { "{\"epoch\":\($0),\"train_loss\":\(300 - $0),\"test_loss\":\(310 - $0)}\n" }.joined()
    write(Array(lines.utf8), to: run.metricsPath)
    let other = RunDirectory(run.path + "-other")
    try FileManager.default.createDirectory(atPath: other.path, withIntermediateDirectories: true)
    write(Array(lines.utf8), to: other.metricsPath)
    let out = run.path + "/out"
    let result = try runTool("vae-render", ["--sampling", "--grid", "2", "--loss-curve", "--compare", other.path,
                                            "--run-dir", run.path, "--data", syntheticData, "--out", out])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("sampling.gif: 2 frames (epochs 1-2 of 3 planned)"), "\(result.stdout)")
    let collector = PolylineCollector()
    let parser = XMLParser(data: Data(try readFile(out + "/loss.svg")))
    parser.delegate = collector
    #expect(parser.parse(), "the SVG must be well-formed XML")
    #expect(collector.polylines.map(\.points.count) == [2, 2, 3, 3])
    // Alone, the loss curve reads what the metrics hold.
    let alone = try runTool("vae-render", ["--loss-curve", "--run-dir", run.path, "--out", out])
    let svg = String(decoding: try readFile(out + "/loss.svg"), as: UTF8.self)
    #expect(alone.status == 0 && svg.contains(">3</text>"), "\(alone.stderr)")

    // Metrics that record only epochs past the checkpoints, or none at all: the checkpoints' epochs
    // are drawn from them, and said.
    for kept in [lines.split(separator: "\n").dropFirst(2).map { $0 + "\n" }.joined(), ""] {
        write(Array(kept.utf8), to: run.metricsPath)
        let result = try runTool("vae-render", ["--sampling", "--grid", "2", "--loss-curve", "--run-dir", run.path,
                                                "--data", syntheticData, "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let size = try readFile(out + "/loss.svg").count
        #expect(result.stdout.hasSuffix("loss.svg: 1 run, \(size) bytes; \(run.path)/metrics.jsonl "
                                        + "lacks epochs 1 and 2, drawn from their checkpoints (vae-train --resume \(run.path) writes "
                                        + "the lines back)\n"), "\(result.stdout)")
        let drawn = PolylineCollector()
        let drawnParser = XMLParser(data: Data(try readFile(out + "/loss.svg")))
        drawnParser.delegate = drawn
        #expect(drawnParser.parse())
        #expect(drawn.polylines.map(\.points.count) == [2, 2])
    }
    // A chart of no epochs is refused with exit 65, not drawn (its scale would divide by nothing):
    // a folder of metrics alone that records none.
    let svgBefore = try readFile(out + "/loss.svg")
    write([], to: other.metricsPath)
    let empty = try runTool("vae-render", ["--loss-curve", "--run-dir", other.path, "--out", out])
    #expect(empty.status == 65)
    #expect(empty.stderr == "vae-render: \(other.metricsPath): no epochs recorded\n")
    #expect(try readFile(out + "/loss.svg") == svgBefore, "the chart of the last render stays")
}

/// An epoch whose metrics line was lost (cut or deleted by hand, or the whole file) is drawn from
/// its checkpoint, which records the same losses: the chart is the one of the whole file, and the
/// render says so. A resume of the finished run writes the lines back from the checkpoints, as a resume that
/// trains does; after it the render has nothing to say.
@Test func anEpochMissingFromTheMetricsIsDrawnFromItsCheckpointAndAResumeWritesItBack() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let run = folder + "/run", out = folder + "/out"
    let trained = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", run, "--epochs", "5",
                                            "--hidden", "8", "--latent-dim", "2", "--prior", "normal", "--iwae-k", "0"])
    #expect(trained.status == 0, "\(trained.stderr)")
    let metricsPath = run + "/metrics.jsonl"
    let whole = try runTool("vae-render", ["--loss-curve", "--run-dir", run, "--out", out])
    let chart = try readFile(out + "/loss.svg"), original = try readMetricsLines(metricsPath)
    #expect(whole.stdout == "\(out)/loss.svg: 1 run, \(chart.count) bytes\n", "\(whole.stdout)")
    for (dropped, said) in [([1], "epoch 2, drawn from its checkpoint"), ([1, 3, 4], "epochs 2, 4 and 5, drawn from their checkpoints")] {
        let kept = original.indices.filter { !dropped.contains($0) }.map { original[$0].text + "\n" }.joined()
        write(Array(kept.utf8), to: metricsPath)
        let result = try runTool("vae-render", ["--loss-curve", "--run-dir", run, "--out", out])
        #expect(result.stdout == "\(out)/loss.svg: 1 run, \(chart.count) bytes; \(run)/metrics.jsonl lacks \(said) "
                + "(vae-train --resume \(run) writes the lines back)\n", "\(result.stdout)")
        #expect(try readFile(out + "/loss.svg") == chart, "the chart of the whole file")
        if dropped.count == 1 {
            let resumed = try runTool("vae-train", ["--resume", run, "--no-download"])
            #expect(resumed.stdout == "vae-train: \(run) has completed all 5 epochs; rebuilt the metrics.jsonl line of epoch 2 from "
                    + "its checkpoint, and nothing is left to train (--epochs N with N above 5 trains it further)\n", "\(resumed.stdout)")
        }
    }
    try FileManager.default.removeItem(atPath: metricsPath)
    let withoutMetrics = try runTool("vae-render", ["--loss-curve", "--run-dir", run, "--out", out])
    #expect(withoutMetrics.stdout.hasSuffix("lacks epochs 1, 2, 3, 4 and 5, drawn from their checkpoints (vae-train --resume \(run) "
                                            + "writes the lines back)\n"), "\(withoutMetrics.stdout)")
    #expect(try readFile(out + "/loss.svg") == chart, "the chart of the whole file")
    let resumed = try runTool("vae-train", ["--resume", run, "--no-download"])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(resumed.stdout == "vae-train: \(run) has completed all 5 epochs; rebuilt the metrics.jsonl lines of epochs 1, 2, 3, 4 "
            + "and 5 from their checkpoints, and nothing is left to train (--epochs N with N above 5 trains it further)\n",
            "\(resumed.stdout)")
    // The rebuilt lines have no timings; their losses are the lost lines'.
    #expect(try readMetricsLines(metricsPath).map(\.losses) == original.map(\.losses))
    let again = try runTool("vae-render", ["--loss-curve", "--run-dir", run, "--out", out])
    let chartAgain = try readFile(out + "/loss.svg")
    #expect(again.stdout == whole.stdout && chartAgain == chart, "\(again.stdout)")
}

/// Every run has a colour of its own, and a label too long for the legend keeps its end after
/// "…", the whole label its tooltip; short labels are shown whole.
@Test func legendEntriesFitAndEveryRunHasItsOwnColour() throws {
    let long = "runs/an-exceedingly-long-run-folder-name-seed-7"
    let runs = [(label: long, losses: losses(3, start: 300))]
        + (1..<lossCurveColours.count).map { (label: "run\($0)", losses: losses(3, start: 300 - Double($0))) }
    let svg = lossCurveSVG(runs)
    let collector = PolylineCollector()
    let parser = XMLParser(data: Data(svg.utf8))
    parser.delegate = collector
    #expect(parser.parse(), "the SVG must be well-formed XML")
    let strokes = collector.polylines.map(\.stroke)
    #expect(Set(strokes).count == lossCurveColours.count, "\(strokes)")
    // 20 characters shown: "…" and the label's last 19.
    #expect(svg.contains("<title>\(long)</title>…-folder-name-seed-7</text>"), "\(svg)")
    #expect(svg.contains("<title>run9</title>run9</text>"))
    // The note under the legend is 28 pixels below the last entry (an entry's 20 and 8 more), not
    // on top of it.
    func baseline(_ pattern: String) throws -> Double {
        let match = try #require(svg.firstMatch(of: try Regex<(Substring, Substring)>(pattern)), "\(pattern) in \(svg)")
        return try #require(Double(match.output.1))
    }
    let gap = try baseline(##"y="([0-9.]+)" fill="#555">solid"##) - baseline(#"y="([0-9.]+)"><title>run9<"#)
    #expect(gap == 28, "\(gap)")
}

/// A run of one epoch (a run rendered while its first epoch is the only one done) is two dots at
/// that epoch, its only tick, in the middle of the axis: a test dot filled, a train dot hollow.
/// Beside a longer run, its dots sit at its epoch on that run's axis.
@Test func aRunOfOneEpochIsTwoDots() throws {
    let one = [EpochLosses(epoch: 3, train: 300, test: 250)]
    for (runs, x) in [([(label: "a", losses: one)], 292.0), ([(label: "a", losses: one), (label: "b", losses: losses(9, start: 300))], 178.0)] {
        let svg = lossCurveSVG(runs)
        let collector = PolylineCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        #expect(parser.parse(), "the SVG must be well-formed XML")
        #expect(collector.polylines.count == 2 * (runs.count - 1), "\(svg)")
        let dots = collector.dots
        #expect(dots.count == 2 && dots.allSatisfy { $0.x == x && $0.stroke == lossCurveColours[0] }, "\(dots)")
        #expect(dots.map(\.filled) == [false, true], "train hollow, test filled")
        #expect(dots[0].y < dots[1].y, "the train loss (300) above the test loss (250)")
        #expect(svg.contains(">one epoch: a dot each,</text>") && svg.contains(">filled test, hollow train</text>"))
        // Every note fits the 188 pixels right of the plot, 26 characters (one of 36 was cut off).
        let notes = svg.split(separator: "\n").filter { $0.contains("fill=\"#555\">") }
        #expect(notes.count == 3 && notes.allSatisfy { $0.split(separator: ">")[1].count <= 26 + "</text".count }, "\(notes)")
        let epochLabels = svg.split(separator: "\n").filter { $0.contains("text-anchor=\"middle\">") && $0.contains("y=\"390.0\"") }
        #expect(epochLabels.count == (runs.count == 1 ? 1 : 5) && epochLabels[0].hasSuffix(">\(runs.count == 1 ? 3 : 1)</text>"),
                "\(epochLabels)")
    }
    #expect(!lossCurveSVG([(label: "a", losses: losses(2, start: 300))]).contains("<circle"))
}

/// The epoch axis marks where the curves start as well as its round epochs, unless a round one
/// is within half a step of the start.
@Test func theEpochAxisMarksTheFirstEpochAndTheRoundOnes() {
    #expect(epochTicks(first: 1, last: 30) == [1, 10, 20, 30])
    #expect(epochTicks(first: 1, last: 10) == [1, 2, 4, 6, 8, 10])
    #expect(epochTicks(first: 1, last: 3) == [1, 2, 3])
    #expect(epochTicks(first: 4, last: 50) == [4, 10, 20, 30, 40, 50])
    #expect(epochTicks(first: 7, last: 8) == [7, 8])
    #expect(epochTicks(first: 9, last: 100) == [9, 20, 40, 60, 80, 100])
    #expect(epochTicks(first: 15, last: 100) == [20, 40, 60, 80, 100], "20 is within half a step of 15")
    let svg = lossCurveSVG([(label: "a", losses: [EpochLosses(epoch: 1, train: 300, test: 310),
                                                  EpochLosses(epoch: 30, train: 200, test: 210)])])
    #expect(svg.contains("<text x=\"64.0\" y=\"390.0\" text-anchor=\"middle\">1</text>"), "epoch 1 labelled at the left edge")
}

/// An `--objective iwae` run's train series is its negative importance-weighted bound: its legend
/// entry says "(iwae)", the axis is just the loss and a note says which series is which. A chart
/// of ELBO runs alone keeps its "negative ELBO" axis and no such note.
@Test func importanceWeightedRunsAreMarked() throws {
    let long = "an-exceedingly-long-run-name"
    let runs = [(label: "elbo", losses: losses(3, start: 300)), (label: long, losses: losses(3, start: 290))]
    let svg = lossCurveSVG(runs, marks: [1: [.iwae]])
    #expect(svg.contains(">loss (nats per image)</text>") && !svg.contains("negative ELBO (nats"), "\(svg)")
    #expect(svg.contains("<title>elbo</title>elbo</text>"))
    // 20 characters shown: "…", the label's last 12 and " (iwae)".
    #expect(svg.contains("<title>\(long) (iwae)</title>…ong-run-name (iwae)</text>"), "\(svg)")
    #expect(svg.contains(">train of (iwae) runs:</text>") && svg.contains(">negative IWAE bound</text>"))
    let elbo = lossCurveSVG(runs)
    #expect(elbo.contains(">negative ELBO (nats per image)</text>") && !elbo.contains("iwae"), "\(elbo)")
}

/// A dynamically binarised run's losses are of binary images and a conditional run's bound
/// -log p(x|y): beside other runs their entries say so, with a note each (of at most 26
/// characters), and the axis stays the negative ELBO. Marks follow a run's configuration, in
/// legend order.
@Test func binarisedAndConditionalRunsAreMarked() throws {
    let runs = [(label: "grey", losses: losses(3, start: 300)), (label: "bin", losses: losses(3, start: 290)),
                (label: "cond", losses: losses(3, start: 280))]
    let svg = lossCurveSVG(runs, marks: [1: [.binary], 2: [.conditional]])
    #expect(svg.contains("<title>grey</title>grey</text>") && svg.contains("<title>bin (binary)</title>bin (binary)</text>")
            && svg.contains("<title>cond (|y)</title>cond (|y)</text>"), "\(svg)")
    #expect(svg.contains(">negative ELBO (nats per image)</text>"))
    let notes = svg.split(separator: "\n").filter { $0.contains("fill=\"#555\">") }.map { $0.split(separator: ">")[1].dropLast("</text".count) }
    #expect(notes == ["solid: test, dashed: train", "(binary): of binarised", "images, not grey levels", "(|y): -log p(x|y) bounds,",
                      "given each image's class"], "\(notes)")
    #expect(notes.allSatisfy { $0.count <= 26 })
    var run = RunConfig(model: VAEConfig(hidden: [8], latentDim: 2), epochs: 1, batchSize: 10, learningRate: 1e-3, seed: 0,
                        preset: "test", trainImages: 10, testImages: 10)
    #expect(LossCurveMark.of(run).isEmpty)
    run.binarization = .dynamic
    run.objective = .iwae
    #expect(LossCurveMark.of(run) == [.iwae, .binary])
    run.model.conditional = true
    #expect(LossCurveMark.of(run) == [.iwae, .binary, .conditional])
    // All three marks take 21 characters, more than the 20 of an entry: the label is its "…" alone.
    let allMarks = lossCurveSVG(runs, marks: [0: LossCurveMark.allCases])
    #expect(allMarks.contains("<title>grey (iwae) (binary) (|y)</title>… (iwae) (binary) (|y)</text>"), "\(allMarks)")
}

/// vae-render reads each run's objective from its last checkpoint, else its resume state: an iwae
/// run compared with an ELBO run is marked, the ELBO run is not, a damaged state is refused, and a
/// folder of metrics alone is taken as ELBO.
@Test func theLossCurveCommandMarksImportanceWeightedRuns() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let iwae = folder + "/iw", elbo = folder + "/plain"
    for (run, flags) in [(iwae, ["--objective", "iwae", "--train-k", "2"]), (elbo, [])] {
        let trained = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", run, "--epochs", "2",
                                                "--hidden", "8", "--latent-dim", "2", "--prior", "normal", "--iwae-k", "0"] + flags)
        #expect(trained.status == 0, "\(trained.stderr)")
    }
    let out = folder + "/out"
    for (runDir, compare, marked) in [(elbo, iwae, "iw"), (iwae, elbo, "iw")] {
        let result = try runTool("vae-render", ["--loss-curve", "--run-dir", runDir, "--compare", compare, "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let svg = String(decoding: try readFile(out + "/loss.svg"), as: UTF8.self)
        #expect(svg.contains("<title>\(marked) (iwae)</title>") && svg.contains("<title>plain</title>"), "\(svg)")
    }
    // The same run through a link is refused as the same run.
    try FileManager.default.createSymbolicLink(atPath: folder + "/link", withDestinationPath: elbo)
    let linked = try runTool("vae-render", ["--loss-curve", "--run-dir", elbo, "--compare", folder + "/link", "--out", out])
    #expect(linked.status == 64 && linked.stderr.contains("--compare \(folder)/link is on the loss curve already"), "\(linked.stderr)")
    // Two runs of one name in different folders are labelled by their paths.
    let twin = folder + "/other/plain"
    try FileManager.default.createDirectory(atPath: folder + "/other", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: elbo, toPath: twin)
    let twins = try runTool("vae-render", ["--loss-curve", "--run-dir", elbo, "--compare", twin, "--out", out])
    #expect(twins.status == 0, "\(twins.stderr)")
    let twinsSVG = String(decoding: try readFile(out + "/loss.svg"), as: UTF8.self)
    #expect(twinsSVG.contains("<title>\(elbo)</title>") && twinsSVG.contains("<title>\(twin)</title>"), "\(twinsSVG)")
    // Without checkpoints the resume state tells, and a damaged one is named rather than taken
    // for a folder of metrics alone; without either, the run is taken as ELBO.
    try FileManager.default.removeItem(atPath: iwae + "/checkpoints")
    let statePath = RunDirectory(iwae).statePath, state = try readFile(statePath)
    write(Array(state.dropLast()), to: statePath)
    let damaged = try runTool("vae-render", ["--loss-curve", "--run-dir", elbo, "--compare", iwae, "--out", folder + "/out2"])
    #expect(damaged.status == 65 && damaged.stderr.hasPrefix("vae-render: \(statePath): "), "\(damaged.stderr)")
    #expect(!FileManager.default.fileExists(atPath: folder + "/out2"))
    write(state, to: statePath)
    for (removed, marked) in [(nil, true), (RunDirectory(iwae).statePath, false)] {
        if let removed { try FileManager.default.removeItem(atPath: removed) }
        let result = try runTool("vae-render", ["--loss-curve", "--run-dir", elbo, "--compare", iwae, "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let svg = String(decoding: try readFile(out + "/loss.svg"), as: UTF8.self)
        #expect(svg.contains("<title>iw (iwae)</title>") == marked, "\(svg)")
    }
}

/// Bernoulli and Gaussian runs are refused on one chart, naming both folders, with nothing
/// written, also when a run's checkpoints are gone; two Gaussian decoders (learned and fixed σ)
/// are densities of the same pixels and share it.
@Test func theLossCurveRefusesBernoulliBesideGaussianRuns() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let bernoulli = folder + "/bernoulli", learned = folder + "/learned", fixed = folder + "/fixed"
    for (run, likelihood) in [(bernoulli, "bernoulli"), (learned, "gaussian"), (fixed, "gaussian-fixed")] {
        let trained = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", run, "--epochs", "1",
                                                "--hidden", "8", "--latent-dim", "2", "--prior", "normal", "--iwae-k", "0",
                                                "--likelihood", likelihood])
        #expect(trained.status == 0, "\(trained.stderr)")
    }
    let out = folder + "/out"
    for (runDir, compare) in [(bernoulli, [learned]), (fixed, [learned, bernoulli])] {
        let refused = try runTool("vae-render", ["--loss-curve", "--run-dir", runDir, "--out", out]
                                  + compare.flatMap { ["--compare", $0] })
        let named = runDir == bernoulli ? "\(learned) is a gaussian run and \(bernoulli) a bernoulli one"
                                        : "\(bernoulli) is a bernoulli run and \(fixed) a gaussian-fixed one"
        #expect(refused.status == 64 && refused.stderr.hasPrefix("vae-render: \(named): ")
                && refused.stderr.hasSuffix("so their curves do not share an axis\n"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
    let gaussians = try runTool("vae-render", ["--loss-curve", "--run-dir", fixed, "--compare", learned, "--out", out])
    #expect(gaussians.status == 0, "\(gaussians.stderr)")
    let svg = String(decoding: try readFile(out + "/loss.svg"), as: UTF8.self)
    #expect(svg.contains("<title>fixed</title>") && svg.contains("<title>learned</title>"), "\(svg)")
    // Without its checkpoints a run is known by its resume state.
    try FileManager.default.removeItem(atPath: learned + "/checkpoints")
    let stateOnly = try runTool("vae-render", ["--loss-curve", "--run-dir", bernoulli, "--compare", learned, "--out", folder + "/out2"])
    #expect(stateOnly.status == 64 && stateOnly.stderr.contains("\(learned) is a gaussian run and \(bernoulli) a bernoulli one"),
            "\(stateOnly.stderr)")
}
