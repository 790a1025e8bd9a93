import ArgumentParser
import Foundation
import VAEBench
import VAECommandLine
import VAECore

/// What --images accepts.
private let imageRange = 1...1_000_000

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-bench",
        abstract: "Time training epochs and split them into sgemm and everything else.",
        discussion: """
            For each configuration, tiles the KMNIST training images to --images (60,000 by default, the \
            size of the official training split) and trains --epochs epochs with nothing written. Reports \
            the median over the epochs after the first: seconds per epoch, images per second, the time \
            measured inside sgemm (each product split among the threads) and outside it, the time of the \
            same sgemm calls alone (replayed after every training step and left out of its time), \
            the peak resident memory, and the lowest and highest time a cache line took to go from one \
            thread to another and back, measured before the epochs and after each: several times the \
            machine's lowest means the system placed the two processors far apart, and the epochs are \
            slower for it (docs/performance.md; a thread the system set aside for a moment shows as well, \
            as a highest of milliseconds). epoch/sgemm divides the epoch's time by its time inside sgemm, \
            epoch/sgemm-only by its products' time alone: how much the epoch costs beyond its products at \
            their own speed. --passes and --products split the time further. On a terminal, a line says \
            which epoch is being timed. scripts/benchmark runs this beside the JAX and PyTorch anchors.

            Exit codes: 0 done, 64 bad flags, 65 bad data, 66 missing data, 70 training diverged, 73 the \
            timings cannot be written; Ctrl-C or SIGTERM stops it with nothing half-written (the shell shows 130 or 143).
            """,
        version: versionDescription())

    @Option(help: ArgumentHelp("Configurations to time, comma-separated, from \(Preset.allCases.map(\.rawValue).joined(separator: ", ")): "
                               + "each preset's network with --prior, so default times vae-train's default model only with --prior vamp.",
                               valueName: "presets"))
    var presets = PresetList(presets: [.pytorchExample, .standard, .conv])

    @Option(help: ArgumentHelp("The prior of every configuration: normal (N(0, I), as the JAX and PyTorch anchors train) or vamp (the VampPrior of vae-train's default model, \(defaultPseudoInputs) pseudo-inputs encoded with every batch).",
                               valueName: "name"))
    var prior: Prior = .normal

    @OptionGroup var dataOptions: DataOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Training images per epoch (the local images repeated), \(rangeHelp(imageRange)); at least \(defaultPseudoInputs) with --prior vamp.", valueName: "n"))
    var images: Int = 60_000

    @Option(parsing: .unconditional, help: ArgumentHelp("Epochs per configuration, at least 2: the first is a warm-up and is not counted.", valueName: "n"))
    var epochs: Int = 4

    @Option(parsing: .unconditional, help: ArgumentHelp("Images per step in every configuration (\(rangeHelp(RunConfig.batchSizeRange)); default: each preset's, 128).", valueName: "n"))
    var batchSize: Int?

    @Flag(help: "Also time the parts of a step outside sgemm (loading, noise, the forward and backward passes outside their products, the loss, a VampPrior's log-density, Adam), each replayed alone after every step, and the step's hand-offs to the compute threads as empty jobs, then how long the epoch's products would take at the speed of 512x512 products on every thread at once; printed under each configuration's row.")
    var passes = false

    @Flag(help: "Also time each product of a step (named by its shape in a full batch's step: NT 128x400x784 is A·Bᵀ with m = 128, n = 400, k = 784), replayed alone as for sgemm-only, and give its speed beside that of 512x512 products on every thread at once; printed under each configuration's row.")
    var products = false

    @OptionGroup var compute: ThreadOptions

    func validate() throws {
        guard epochs >= 2 else { throw ValidationError("--epochs must be at least 2: the first one is a warm-up") }
        try checkRange("--images", images, in: imageRange)
        try checkRange("--batch-size", batchSize, in: RunConfig.batchSizeRange)
        if prior == .vamp && images < defaultPseudoInputs {
            throw ValidationError("--prior vamp needs --images of at least \(defaultPseudoInputs): its pseudo-inputs start as training images")
        }
        if let unknown = presets.names.first(where: { Preset(rawValue: $0) == nil }) {
            throw ValidationError("--presets: no preset named '\(unknown)' (\(Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let repeated = presets.names.enumerated().first(where: { presets.names[..<$0.offset].contains($0.element) })?.element {
            throw ValidationError("--presets names \(repeated) twice")
        }
    }

    func run() throws {
        compute.apply()
        try reportingErrors {
            // Nothing is evaluated, so the test split is neither read nor needed.
            let (train, _) = try KMNIST.loadSplit(.training, from: dataOptions.folder, advice: "download the KMNIST files "
                + "from \(KMNIST.officialURL) or point --data or KMNIST_DIR at a folder that has them")
            try benchmark(KMNIST(train: train.tiled(to: images), test: ImageSet(pixels: [], labels: [])))
        }
    }

    /// Times every preset on `dataset`, one row each, printed as it is measured.
    func benchmark(_ dataset: KMNIST) throws {
        let environment = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"].map { name in
            "\(name)=\(ProcessInfo.processInfo.environment[name] ?? "(unset)")"
        }.joined(separator: " ")
        let runs = presets.presets.map { preset in
            RunConfig(model: VAEConfig(arch: preset.arch, hidden: preset.hidden, latentDim: preset.latentDim, prior: prior,
                                       pseudoInputs: defaultPseudoInputs),
                      epochs: epochs, batchSize: batchSize ?? preset.batchSize, learningRate: preset.learningRate, seed: 0,
                      preset: preset.rawValue, trainImages: dataset.train.count, testImages: dataset.test.count)
        }
        // Before the first row: a batch too large for memory is refused as vae-train refuses it.
        for run in runs { try checkMemory(for: run, trainImages: dataset.train.count) }
        let priorName = prior == .vamp ? "VampPrior with \(defaultPseudoInputs) pseudo-inputs" : "N(0, I) prior"
        let batch = batchSize.map { ", batches of \(min($0, images))" } ?? ""
        print("vae-bench: \(count: images, "image") per epoch\(batch), \(priorName), \(epochs == 2 ? "epoch 2" : "median of epochs 2-\(epochs)"), "
              + "\(count: ComputeThreads.shared.count, "thread"), \(environment)")
        print("machine: \(processorDescription()); core compiled for \(compiledVectorExtension()); \(openBLASDescription())")
        print("config           s/epoch    img/s   sgemm s  other s  epoch/sgemm  sgemm-only s  epoch/sgemm-only  peak RSS"
              + "  round trip ns (lowest, highest)")
        for (preset, run) in zip(presets.presets, runs) {
            let roundTripBefore = coreToCoreRoundTrip()
            resetPeakResident()
            let bar = ProgressBar.onTerminal()
            let allTimings = try benchmarkTraining(run, data: dataset, epochs: epochs, passes: passes, products: products) { epoch in
                bar.show("\(preset.rawValue): epoch \(epoch)/\(epochs)" + (epoch == 1 ? " (a warm-up, not counted)" : ""))
            }
            bar.clear()
            let timings = allTimings.dropFirst()
            let peak = peakResidentBytes()
            let sgemmOnly = median(timings.map(\.sgemmOnlySeconds))
            let seconds = median(timings.map(\.seconds)), sgemm = median(timings.map(\.sgemmSeconds))
            let other = median(timings.map(\.otherSeconds))
            // Padded here: Foundation on Linux ignores the width of %@.
            let name = preset.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
            // Before the epochs and after each: where the system had put the two threads (see coreToCoreRoundTrip).
            let measured = ([roundTripBefore] + allTimings.map(\.roundTripAfter)).compactMap { $0 }
            let roundTrips = [measured.min(), measured.max()].map { $0.map { String(format: "%5.0f", $0) } ?? "    –" }
            print(name + String(format: " %8.3f %8.0f %9.3f %8.3f %12.2f %13.3f %17.2f %6.0f MB",
                                seconds, Double(images) / seconds, sgemm, other, seconds / sgemm, sgemmOnly,
                                seconds / sgemmOnly, Double(peak ?? 0) / 1e6) + "  " + roundTrips.joined(separator: " "))
            // A part of the step, or a product: its time an epoch, against the products replayed alone.
            func printPart(_ name: String, _ seconds: Double, _ note: String = "") {
                print("  " + name + String(repeating: " ", count: max(1, 24 - name.count))
                      + String(format: "%7.3f s/epoch  %5.1f%% of sgemm-only", seconds, 100 * seconds / sgemmOnly) + note)
            }
            let squareSpeed = median(timings.compactMap(\.squareProductSpeed))
            let sgemmFlops = timings.first!.sgemmFlops
            if passes {
                for (index, pass) in timings.first!.passes.enumerated() {
                    printPart(pass.name, median(timings.map { $0.passes[index].seconds }))
                }
                printPart("products at \(SquareProducts.size)³ speed", sgemmFlops / squareSpeed,
                          String(format: " (%.2f MFLOP an image; square products %.1f GFLOP/s)",
                                 sgemmFlops / Double(images) / 1e6, squareSpeed / 1e9))
            }
            if products {
                for (index, product) in timings.first!.products.enumerated() {
                    let seconds = median(timings.map { $0.products[index].seconds })
                    let speed = product.flops / seconds
                    printPart(product.name, seconds, String(format: " (%.1f GFLOP/s, %.0f%% of square products')",
                                                            speed / 1e9, 100 * speed / squareSpeed))
                }
            }
            fflush(nil)
        }
    }
}

/// Comma-separated preset names, e.g. "default,conv".
struct PresetList: ExpressibleByArgument {
    /// As given; `BenchCommand.validate()` refuses a name that is no preset, naming it and the presets.
    let names: [String]
    var presets: [Preset] { names.compactMap(Preset.init(rawValue:)) }

    init(presets: [Preset]) {
        names = presets.map(\.rawValue)
    }

    init?(argument: String) {
        names = commaSeparated(argument) { $0 }!  // every item is a name; validate() refuses those of no preset
    }

    var defaultValueDescription: String { names.joined(separator: ",") }
}

func median<C: Collection>(_ values: C) -> Double where C.Element == Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

BenchCommand.mainCheckingOutput()
