import Foundation
import Testing
import TestSupport
@testable import VAECommandLine
@testable import VAECore

/// Runs a tool on a terminal: util-linux `script` (Debian's essential bsdutils) gives it a pseudo
/// terminal and copies everything the tool writes there to its own output. `script` starts the
/// tool in a session of its own; `stop()` finds it there too.
private func runOnTerminal(_ tool: String, _ arguments: [String], columns: Int? = nil) throws -> (status: Int32, output: String) {
    let command = (columns.map { "stty cols \($0) && " } ?? "") + ([try toolPath(tool)] + arguments).map { "'\($0)'" }.joined(separator: " ")
    let terminal = try ChildProcess("/usr/bin/script", ["-qec", command, "/dev/null"], mergingStandardError: true)
    defer { terminal.stop() }
    let result = try terminal.finish()
    return (result.status, result.stdout)
}

/// Whether `script` can make a pseudo-terminal here: in a chroot whose /dev/pts is not mounted it
/// cannot, and prints "failed to create pseudo-terminal". Only that skips the tests below; any
/// other failure of the probe (no `script` at all) lets them run and fail, naming it.
private let pseudoTerminalAvailable: Bool = {
    guard let probe = try? ChildProcess("/usr/bin/script", ["-qec", "true", "/dev/null"], mergingStandardError: true) else { return true }
    defer { probe.stop() }
    guard let result = try? probe.finish() else { return true }
    return !result.stdout.contains("failed to create pseudo-terminal")
}()

/// On a terminal, vae-train draws a bar for every epoch (600 images: 5 batches of up to 128), with
/// the time left in the run before the last epoch, and both vae-train and vae-eval count the
/// importance-weighted estimate's images with their rate and the time left. Each redraw starts
/// with a carriage return and an erase-line, so the display stays on one line.
@Test(.enabled(if: pseudoTerminalAvailable, "needs a pseudo-terminal, and none can be made here (is /dev/pts mounted?)"))
func progressIsDrawnOnATerminal() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let train = try runOnTerminal("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder,
                                                "--epochs", "2", "--hidden", "16", "--latent-dim", "2", "--iwae-k", "5"])
    #expect(train.status == 0, "\(train.output)")
    #expect(train.output.range(of: #"\r\x{1B}\[2Kepoch 1/2 █+ 5/5  loss [0-9.]+  [0-9]+ img/s  ETA 0:00, run 0:0[0-9] \+ IWAE\r"#,
                               options: .regularExpression) != nil, "\(train.output)")
    #expect(train.output.range(of: #"\r\x{1B}\[2Kepoch 2/2 █+ 5/5  loss [0-9.]+  [0-9]+ img/s  ETA 0:00\r"#,
                               options: .regularExpression) != nil, "\(train.output)")
    #expect(train.output.contains("\r\u{1B}[2KIWAE: 100/100 images  "), "\(train.output)")
    #expect(train.output.range(of: #"images/s  ETA 0:00"#) != nil, "\(train.output)")

    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    let eval = try runOnTerminal("vae-eval", [checkpoint, "--data", syntheticData, "--k", "5"])
    #expect(eval.status == 0, "\(eval.output)")
    #expect(eval.output.contains("\r\u{1B}[2KIWAE: 100/100 images  "), "\(eval.output)")
    #expect(eval.output.contains("IWAE estimate of -log p(x) (k=5)"), "\(eval.output)")
}

/// On a terminal too narrow for the whole bar, every redraw still fits one row: the bar narrows
/// or goes, then whole fields (`theTrainingBarsTimeLeftAndRate`), and a count is cut at the edge. A
/// line that wrapped left its first row behind at every redraw (the erase reaches only the cursor's row).
@Test(.enabled(if: pseudoTerminalAvailable, "needs a pseudo-terminal, and none can be made here (is /dev/pts mounted?)"))
func progressFitsANarrowTerminal() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let train = try runOnTerminal("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder, "--epochs", "12",
                                                "--batch-size", "10", "--hidden", "8", "--latent-dim", "2", "--iwae-k", "5"], columns: 50)
    #expect(train.status == 0, "\(train.output)")
    // Each redraw: what follows an erase-line up to the next carriage return (a log line ends in a newline instead).
    let redraws = train.output.components(separatedBy: "\u{1B}[2K").dropFirst().map { $0.prefix { $0 != "\r" && $0 != "\n" } }
    let bars = redraws.filter { $0.hasPrefix("epoch ") && $0.contains("loss") }, counts = redraws.filter { $0.hasPrefix("IWAE: ") }
    try #require(!bars.isEmpty && !counts.isEmpty, "\(train.output)")
    #expect((bars + counts).allSatisfy { $0.count <= 49 }, "\((bars + counts).filter { $0.count > 49 })")
    // 50 columns leave no room for the bar, nor for the rate beside the loss and the time left.
    #expect(bars.last!.hasPrefix("epoch 12/12 60/60  loss ") && bars.last!.hasSuffix("  ETA 0:00") && !bars.last!.contains("img/s"),
            "\(bars.suffix(3))")
}

/// On a terminal, vae-bench says which configuration's epoch it is timing, the first as a warm-up,
/// and erases the line before the configuration's row (drawn before each epoch's clocks start).
@Test(.enabled(if: pseudoTerminalAvailable, "needs a pseudo-terminal, and none can be made here (is /dev/pts mounted?)"))
func benchProgressIsDrawnOnATerminal() throws {
    let bench = try runOnTerminal("vae-bench", ["--presets", "pytorch-example", "--data", syntheticData, "--images", "600",
                                                "--epochs", "3", "--threads", "1"])
    #expect(bench.status == 0, "\(bench.output)")
    for part in ["\r\u{1B}[2Kpytorch-example: epoch 1/3 (a warm-up, not counted)", "\r\u{1B}[2Kpytorch-example: epoch 3/3\r\u{1B}[2Kpytorch-example "] {
        #expect(bench.output.contains(part), "\(part) in \(bench.output)")
    }
}

/// On a terminal, vae-render says what it is doing: fitting the sampler (this N(0, I) run's
/// gmm), the frames of each animation of the final model, and the checkpoints replayed (the
/// fixture run has three), each redraw on one line; the line is erased before the report. Off
/// a terminal it writes nothing to stderr (`aRenderPrintsOneLinePerGIFAndNothingElse`).
@Test(.enabled(if: pseudoTerminalAvailable, "needs a pseudo-terminal, and none can be made here (is /dev/pts mounted?)"))
func renderProgressIsDrawnOnATerminal() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let render = try runOnTerminal("vae-render", ["--all", "--run-dir", packageRoot + "/fixtures/runs/latent2", "--data", syntheticData,
                                                  "--out", folder])
    #expect(render.status == 0, "\(render.output)")
    for part in ["\r\u{1B}[2Kfitting the gmm sampler to the encoded training images",
                 "\r\u{1B}[2Kinterpolation.gif: 32/32 frames  ", "\r\u{1B}[2Ktraversal.gif: 16/16 frames  ",
                 "\r\u{1B}[2Kreplaying: 3/3 checkpoints  ", "\r\u{1B}[2K\(folder)/interpolation.gif: 32 frames"] {
        #expect(render.output.contains(part), "\(part) in \(render.output)")
    }
}

/// On a terminal, vae-eval --quality says which sampler it is fitting (the two-stage fit trains a
/// second VAE, for seconds on KMNIST) and erases the line before the table's next row.
@Test(.enabled(if: pseudoTerminalAvailable, "needs a pseudo-terminal, and none can be made here (is /dev/pts mounted?)"))
func qualityProgressIsDrawnOnATerminal() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let classifier = try runTool("vae-classifier", ["--data", syntheticData, "--epochs", "1", "--out", folder + "/classifier.safetensors"])
    try #require(classifier.status == 0, "\(classifier.stderr)")
    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    let eval = try runOnTerminal("vae-eval", [checkpoint, "--data", syntheticData, "--quality", "--classifier",
                                              folder + "/classifier.safetensors", "--quality-samples", "200"])
    #expect(eval.status == 0, "\(eval.output)")
    for kind in ["gmm", "gmm-diagonal", "two-stage"] {
        let fitting = "\r\u{1B}[2Kfitting the \(kind) sampler to the encoded training images\r\u{1B}[2K| \(kind) samples, "
        #expect(eval.output.contains(fitting), "\(fitting) in \(eval.output)")
    }
    #expect(!eval.output.contains("fitting the prior") && !eval.output.contains("fitting the vamp"))
}

/// The bar's time left: the batches to go at the pace of those done, as m:ss, or h:mm:ss from an
/// hour up, then the run's: the epochs to come at the mean of those written, else at this one's
/// pace; its rate counts the images seen.
@Test func theTrainingBarsTimeLeftAndRate() {
    let progress = TrainingProgress(epoch: 2, batch: 10, batches: 40, imagesSeen: 1280, runningLoss: 212.3, seconds: 5)
    // 15 s left of this epoch, then 28 epochs of 20 s each at its pace.
    let numbers = "10/40  loss 212.30  256 img/s  ETA 0:15, run 9:35"
    let bar = ProgressBar(enabled: false)
    // The epoch padded as in the epoch's log line ("epoch  2/30  train ...").
    #expect(bar.trainingStatus(progress, epochs: 30, secondsPerEpoch: nil, finalEstimate: false, columns: 80)
            == "epoch  2/30 " + String(repeating: "█", count: 4) + String(repeating: "·", count: 13) + " " + numbers)
    // Narrower, the bar gives way first (69 usable columns less 11 + 1 + 1 + 49 leave it 7 cells), below 4 cells wholly.
    #expect(bar.trainingStatus(progress, epochs: 30, secondsPerEpoch: nil, finalEstimate: false, columns: 70) == "epoch  2/30 █······ " + numbers)
    #expect(bar.trainingStatus(progress, epochs: 30, secondsPerEpoch: nil, finalEstimate: false, columns: 67) == "epoch  2/30 █··· " + numbers)
    #expect(bar.trainingStatus(progress, epochs: 30, secondsPerEpoch: nil, finalEstimate: false, columns: 66) == "epoch  2/30 " + numbers)
    #expect(bar.trainingStatus(progress, epochs: 30, secondsPerEpoch: nil, finalEstimate: false, columns: 62) == "epoch  2/30 " + numbers)
    // Narrower still, whole fields go rather than a number cut short: the run's time left, the
    // rate, then the epoch's time left (the line must stay short of the last column).
    let narrower = [(61, "10/40  loss 212.30  256 img/s  ETA 0:15"), (52, "10/40  loss 212.30  256 img/s  ETA 0:15"),
                    (51, "10/40  loss 212.30  ETA 0:15"), (41, "10/40  loss 212.30  ETA 0:15"), (40, "10/40  loss 212.30"),
                    (12, "10/40  loss 212.30")]
    for (columns, shown) in narrower {
        #expect(bar.trainingStatus(progress, epochs: 30, secondsPerEpoch: nil, finalEstimate: false, columns: columns)
                == "epoch  2/30 " + shown, "\(columns) columns")
    }
    // Epochs written took 25 s each with their evaluation and checkpoint: 15 + 28 x 25 s.
    #expect(bar.trainingStatus(progress, epochs: 30, secondsPerEpoch: 25, finalEstimate: false, columns: 63)
            == "epoch  2/30 10/40  loss 212.30  256 img/s  ETA 0:15, run 11:55")
    // A final importance-weighted estimate is said to follow, its time unknown.
    #expect(bar.trainingStatus(progress, epochs: 30, secondsPerEpoch: 25, finalEstimate: true, columns: 70)
            == "epoch  2/30 10/40  loss 212.30  256 img/s  ETA 0:15, run 11:55 + IWAE")
    // In the last epoch the run's time left is the epoch's.
    var last = progress
    last.epoch = 30
    #expect(bar.trainingStatus(last, epochs: 30, secondsPerEpoch: 25, finalEstimate: false, columns: 52)
            == "epoch 30/30 10/40  loss 212.30  256 img/s  ETA 0:15")
    // A count (the IWAE estimate's images): the rate since it started, the rest at that rate.
    let count = ProgressBar(enabled: false)
    #expect(count.countStatus(label: "IWAE", done: 0, total: 100, unit: "images", doneAtStart: 0, seconds: 0) == "IWAE: 0/100 images")
    #expect(count.countStatus(label: "IWAE", done: 50, total: 100, unit: "images", doneAtStart: 0, seconds: 2)
            == "IWAE: 50/100 images  25 images/s  ETA 0:02")
    #expect(count.countStatus(label: "IWAE", done: 70, total: 100, unit: "images", doneAtStart: 40, seconds: 3)
            == "IWAE: 70/100 images  10 images/s  ETA 0:03")
    // Below 10 a second, with a decimal: "0 checkpoints/s" said a replay had stalled.
    #expect(count.countStatus(label: "replaying", done: 3, total: 12, unit: "checkpoints", doneAtStart: 1, seconds: 4)
            == "replaying: 3/12 checkpoints  0.5 checkpoints/s  ETA 0:18")
    #expect(count.countStatus(label: "IWAE", done: 60, total: 100, unit: "images", doneAtStart: 40, seconds: 2.5)
            == "IWAE: 60/100 images  8.0 images/s  ETA 0:05")
    // From where the decimal would round up to 10 on: "10", never "10.0".
    #expect(count.countStatus(label: "IWAE", done: 60, total: 100, unit: "images", doneAtStart: 40, seconds: 2.01)
            == "IWAE: 60/100 images  10 images/s  ETA 0:04")
    #expect(fitted("epoch  2/30 " + numbers, columns: 40) == "epoch  2/30 10/40  loss 212.30  256 img")
    #expect(fitted("abc", columns: 4) == "abc" && fitted("abcd", columns: 4) == "abc")
    #expect([59.4, 59.6, 3599, 3600, 3725, 36000].map(formatDuration) == ["0:59", "1:00", "59:59", "1:00:00", "1:02:05", "10:00:00"])
}
