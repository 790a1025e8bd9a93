import Foundation
import Testing
import TestSupport
import VAECore

/// vae-bench times the conv configuration like the others, including the sgemm-only replay of
/// the products a training step recorded.
@Test func benchCommandTimesTheConvConfiguration() throws {
    let result = try runTool("vae-bench", ["--presets", "conv", "--data", syntheticData,
                                           "--images", "200", "--epochs", "2", "--threads", "1"])
    #expect(result.status == 0, "\(result.stderr)")
    let row = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("conv ") }, "\(result.stdout)")
    // s/epoch, img/s, sgemm s, other s, epoch/sgemm, sgemm-only s, epoch/sgemm-only, peak RSS (MB), and the two
    // threads' lowest and highest round trip (whatever --threads says; none with one processor).
    let numbers = row.split(separator: " ").compactMap { Double($0) }
    #expect(numbers.count == (ProcessInfo.processInfo.activeProcessorCount >= 2 ? 10 : 8) && numbers.allSatisfy { $0 > 0 }, "\(row)")
    if numbers.count == 10 { #expect(numbers[8] <= numbers[9], "\(row)") }
}

/// A name in --presets that is no preset is refused before any work, naming it and the presets;
/// so is an empty one, as from a stray comma. Spaces around a name are not part of it.
@Test(arguments: [("pytorch-example,deafult", "deafult"), ("conv,", ""), ("conv, deafult ", "deafult")])
func benchRefusesAPresetThatDoesNotExist(list: String, unknown: String) throws {
    let result = try runTool("vae-bench", ["--presets", list, "--data", "/nonexistent"])
    #expect(result.status == 64)
    #expect(result.stderr == "vae-bench: --presets: no preset named '\(unknown)' (default, pytorch-example, conv) "
            + "(see vae-bench --help)\n", "\(result.stderr)")
    #expect(result.stdout.isEmpty)
}

/// A preset named twice would be timed twice, in a table that reads as two configurations.
@Test func benchRefusesAPresetNamedTwice() throws {
    let result = try runTool("vae-bench", ["--presets", "default, conv,default", "--data", "/nonexistent"])
    #expect(result.status == 64 && result.stdout.isEmpty)
    #expect(result.stderr == "vae-bench: --presets names default twice (see vae-bench --help)\n", "\(result.stderr)")
}

/// vae-bench finishes when its two threads share one processor (`taskset -c 0`): each hand-over
/// of its round trip between two spinning threads then waits for the system to switch threads, a
/// few milliseconds, so it is the round trip's limit of 20 ms a run that ends it, as on a busy
/// machine. Without the limit, 20,000 hand-overs a run would take minutes and the run would be
/// stopped at the tests' time limit. (The round trips it prints are not checked: a time, and once,
/// with the machine busy, `taskset` did not hold the threads to one processor.)
@Test func benchCommandFinishesWhenItsThreadsShareOneProcessor() throws {
    // The first processor this process may use: a container or a pinned CI job may not have 0.
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8).split(separator: "\n")
    let allowed = try #require(status.first { $0.hasPrefix("Cpus_allowed_list:") }).dropFirst("Cpus_allowed_list:".count)
    let processor = String(allowed.drop { $0 == " " || $0 == "\t" }.prefix { $0.isNumber })
    let bench = try ChildProcess("/usr/bin/taskset", ["-c", processor, try toolPath("vae-bench"), "--presets", "pytorch-example",
                                                      "--data", syntheticData, "--images", "100", "--epochs", "2", "--threads", "1"])
    defer { bench.stop() }
    let result = try bench.finish()
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.split(separator: "\n").contains { $0.hasPrefix("pytorch-example ") }, "\(result.stdout)")
}

/// A row's figures agree with each other: with one counted epoch (--epochs 2) the medians are
/// that epoch's own figures, so images/s, the time outside sgemm and both ratios follow from the
/// seconds to within the printed rounding, and the time inside sgemm is part of the epoch's.
@Test func benchCommandRowAddsUp() throws {
    let images = 3000
    let result = try runTool("vae-bench", ["--presets", "pytorch-example", "--data", syntheticData,
                                           "--images", "\(images)", "--epochs", "2", "--threads", "2"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.hasPrefix("vae-bench: \(images) images per epoch, N(0, I) prior, epoch 2, 2 threads, "), "\(result.stdout)")
    let row = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("pytorch-example ") }, "\(result.stdout)")
    let numbers = row.split(separator: " ").compactMap { Double($0) }
    try #require(numbers.count >= 8, "\(row)")
    let (seconds, imagesPerSecond, sgemm, other) = (numbers[0], numbers[1], numbers[2], numbers[3])
    let (epochOverSgemm, sgemmOnly, epochOverSgemmOnly) = (numbers[4], numbers[5], numbers[6])
    // Printed to 0.001 s, 1 image/s and 0.01: each check allows the rounding of what it combines.
    let secondsRange = (seconds - 0.0005)...(seconds + 0.0005)
    // Required: a range below would be empty (a trap) around a time printed as 0.000.
    try #require(seconds > 0.01 && sgemm > 0.001 && sgemmOnly > 0.001, "\(row)")
    #expect((Double(images) / secondsRange.upperBound - 0.5)...(Double(images) / secondsRange.lowerBound + 0.5) ~= imagesPerSecond, "\(row)")
    #expect(abs(sgemm + other - seconds) <= 0.0015 && sgemm < seconds, "\(row)")
    func ratioRange(_ denominator: Double) -> ClosedRange<Double> {
        (secondsRange.lowerBound / (denominator + 0.0005) - 0.005)...(secondsRange.upperBound / (denominator - 0.0005) + 0.005)
    }
    #expect(ratioRange(sgemm) ~= epochOverSgemm && ratioRange(sgemmOnly) ~= epochOverSgemmOnly, "\(row)")
}

/// A training step allocates nothing: with every heap allocation counted (Tests/Preload/
/// allocation-counter.c preloaded), vae-bench makes fewer than one more per two added steps for
/// 20 batches an epoch than for 4, in each configuration and with the VampPrior of vae-train's
/// default model (at least 500 images, its pseudo-inputs), and in batches of 1,024 (the loss's
/// 196 chunk sums took 1.5 KB from the heap), sgemm-only replays included, so one
/// allocation in a step (96 more with three configurations, 32 with one) fails it. Two threads,
/// so that every split job is handed to a helper. Swift seeds its hashing at random in every
/// process, which moved the count of identical runs by up to about 50 (Dictionary and Set growth
/// in start-up code); with deterministic hashing identical runs count the same. OpenBLAS's own
/// allocations (its AVX-512 small-matrix kernels malloc on every call) are counted apart and
/// left out.
@Test(arguments: [("pytorch-example,default,conv", "normal", 128), ("default", "vamp", 128), ("pytorch-example", "normal", 1024)])
func trainingStepsAllocateNothing(presets: String, prior: String, batch: Int) throws {
    let counter = try preloadLibrary("allocation-counter")
    func allocations(images: Int) throws -> (outside: Int, inside: Int) {
        let result = try runTool("vae-bench", ["--presets", presets, "--prior", prior, "--data", syntheticData, "--batch-size", "\(batch)",
                                               "--images", "\(images)", "--epochs", "2", "--threads", "2"],
                                 environment: ["LD_PRELOAD": counter, "SWIFT_DETERMINISTIC_HASHING": "1"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stderr.split(separator: "\n").last { $0.hasPrefix("heap allocations: ") }, "\(result.stderr)")
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        try #require(numbers.count == 2, "\(line)")
        return (numbers[0], numbers[1])
    }
    let fourBatches = try allocations(images: 4 * batch), twentyBatches = try allocations(images: 20 * batch)
    let addedSteps = presets.split(separator: ",").count * 2 * 16
    #expect(fourBatches.outside > 0, "the counter counts")
    let added = twentyBatches.outside - fourBatches.outside
    let openBLAS = "OpenBLAS's own: \(fourBatches.inside), then \(twentyBatches.inside)"
    #expect(added < addedSteps / 2, "\(added) allocations in \(addedSteps) more training steps (\(openBLAS))")
}

/// --passes prints, under a configuration's row, the time of each part of a step outside sgemm,
/// replayed alone, then the time of the epoch's products at the speed of square ones, with their
/// floating-point operations per image (784-400-20: 1,640,000 multiply-adds, two operations each,
/// whatever the batch; the 300 images make two steps of 128 and one of 44); the header names the
/// processor and OpenBLAS's kernels.
@Test func benchCommandTimesThePartsOfAStepOutsideSgemm() throws {
    let result = try runTool("vae-bench", ["--presets", "pytorch-example", "--data", syntheticData,
                                           "--images", "300", "--epochs", "2", "--threads", "2", "--passes"])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    #expect(lines.contains { $0.hasPrefix("machine: ") && $0.contains("; core compiled for \(compiledVectorExtension()); OpenBLAS")
                                && $0.contains("kernels ") }, "\(result.stdout)")
    let row = try #require(lines.firstIndex { $0.hasPrefix("pytorch-example ") }, "\(result.stdout)")
    let passes = Array(lines[(row + 1)...])
    let names = ["load batch", "noise", "forward outside sgemm", "of which the loss", "backward outside sgemm", "Adam", "hand-offs (",
                 "products at 512³ speed"]
    try #require(passes.count == names.count, "\(result.stdout)")
    for (line, name) in zip(passes, names) {
        #expect(line.trimmingCharacters(in: .whitespaces).hasPrefix(name), "\(line)")
        let seconds = line.split(separator: " ").compactMap { Double($0) }.first
        #expect(seconds.map { $0 >= 0 } == true, "\(line)")
    }
    #expect(passes.last!.contains(" s/epoch ") && passes.last!.contains("% of sgemm-only (3.28 MFLOP an image; square products "),
            "\(passes.last!)")
}

/// --prior vamp times a configuration with vae-train's VampPrior: its 500 pseudo-inputs go
/// through the encoder with every batch, forward and back to their own gradient, and the mixture
/// of their posteriors is scored at every z, which --passes times apart. 784-400-20 on 600 images
/// (four steps of 128 and one of 88): per image 1,640,000 multiply-adds as without it; per step
/// 500 · 988,800 for the pseudo-inputs (329,600 forward, as many for the weight gradients, 16,000 +
/// 313,600 for the input gradients); per image 3 · 500 · 40 for the mixture (z², z against every
/// component, forward and two backward). Two operations each: 11.64 MFLOP an image.
@Test func benchCommandTimesTheVampPrior() throws {
    let result = try runTool("vae-bench", ["--presets", "pytorch-example", "--prior", "vamp", "--data", syntheticData,
                                           "--images", "600", "--epochs", "2", "--threads", "2", "--passes"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.hasPrefix("vae-bench: 600 images per epoch, VampPrior with 500 pseudo-inputs, "), "\(result.stdout)")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    let row = try #require(lines.firstIndex { $0.hasPrefix("pytorch-example ") }, "\(result.stdout)")
    let names = Array(lines[(row + 1)...]).map { $0.trimmingCharacters(in: .whitespaces).components(separatedBy: "  ").first! }
    #expect(names == ["load batch", "noise", "forward outside sgemm", "of which the loss", "of which the prior",
                      "backward outside sgemm", "Adam", "hand-offs (15 a step)", "products at 512³ speed"], "\(result.stdout)")
    #expect(lines.last!.contains("(11.64 MFLOP an image; "), "\(lines.last!)")
}

/// Fewer training images than the VampPrior's pseudo-inputs, which start as training images, are
/// refused before any work.
@Test func benchRefusesTheVampPriorOnTooFewImages() throws {
    let result = try runTool("vae-bench", ["--prior", "vamp", "--images", "499", "--data", "/nonexistent"])
    #expect(result.status == 64)
    #expect(result.stderr == "vae-bench: --prior vamp needs --images of at least 500: its pseudo-inputs start as training images "
            + "(see vae-bench --help)\n", "\(result.stderr)")
}

/// --products prints, under a configuration's row, each product of a step by its shape in a full
/// batch's step, in the order the step makes them (784-400-20: the four layers forward, then
/// backward from the last, each weight gradient and then the input gradient below it, none for
/// the first layer). The products are the sgemm-only replay, timed one by one, so with one
/// counted epoch their times add up to its sgemm-only figure, to within the printed rounding.
@Test func benchCommandTimesEachProduct() throws {
    let result = try runTool("vae-bench", ["--presets", "pytorch-example", "--data", syntheticData,
                                           "--images", "1000", "--epochs", "2", "--threads", "2", "--products"])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    let row = try #require(lines.firstIndex { $0.hasPrefix("pytorch-example ") }, "\(result.stdout)")
    let sgemmOnly = try #require(lines[row].split(separator: " ").compactMap { Double($0) }.dropFirst(5).first, "\(lines[row])")
    let products = Array(lines[(row + 1)...])
    let shapes = ["NT 128x400x784", "NT 128x40x400", "NT 128x400x20", "NT 128x784x400",
                  "TN 784x400x128", "NN 128x400x784", "TN 400x20x128", "NN 128x20x400", "TN 40x400x128", "NN 128x400x40",
                  "TN 400x784x128"]
    try #require(products.count == shapes.count, "\(result.stdout)")
    var total = 0.0
    for (index, (line, shape)) in zip(products, shapes).enumerated() {
        let fields = line.split(separator: " ")
        #expect(line.hasPrefix("  \(index + 1). \(shape) ") && line.contains("% of square products')"), "\(line)")
        let seconds = try #require(fields.firstIndex(of: "s/epoch").flatMap { Double(fields[$0 - 1]) }, "\(line)")
        total += seconds
    }
    #expect(abs(total - sgemmOnly) <= 0.0005 * Double(shapes.count + 1) + 0.0005, "products \(total) s, sgemm-only \(sgemmOnly) s")
}

/// vae-bench reports like the other tools: timings that cannot be written (here past a file-size
/// limit of 0, as on a full disk) are exit 73 with one line, not exit 0 and no figures.
@Test func benchCommandOutputThatCannotBeWrittenIsAnError() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runToolWithFileSizeLimit("vae-bench", ["--presets", "pytorch-example", "--data", syntheticData,
                                                            "--images", "100", "--epochs", "2", "--threads", "1"],
                                              blocks: 0, standardOutput: scratch + "/timings.txt")
    #expect(result.status == 73, "\(result.stderr)")
    #expect(result.stderr == "vae-bench: cannot write standard output: File too large\n")
}

/// vae-bench reads the training split alone (it evaluates nothing): it runs from a folder without
/// the test files, and names the training file a folder lacks.
@Test func benchCommandReadsTheTrainingSplitAlone() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        try FileManager.default.createSymbolicLink(atPath: folder + "/" + name, withDestinationPath: syntheticData + "/" + name)
    }
    let result = try runTool("vae-bench", ["--presets", "pytorch-example", "--data", folder,
                                           "--images", "100", "--epochs", "2", "--threads", "1"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("\npytorch-example "), "\(result.stdout)")
    try FileManager.default.removeItem(atPath: folder + "/train-labels-idx1-ubyte.gz")
    let missing = try runTool("vae-bench", ["--presets", "pytorch-example", "--data", folder, "--images", "100", "--epochs", "2"])
    #expect(missing.status == 66, "\(missing.stderr)")
    #expect(missing.stderr == "vae-bench: KMNIST training files missing in \(folder): train-labels-idx1-ubyte.gz; download the "
            + "KMNIST files from \(KMNIST.officialURL) or point --data or KMNIST_DIR at a folder that has them\n", "\(missing.stderr)")
    let nowhere = try runTool("vae-bench", ["--presets", "pytorch-example", "--data", folder + "/none", "--images", "1", "--epochs", "2"])
    #expect(nowhere.status == 66 && nowhere.stderr == "vae-bench: the data folder \(folder)/none does not exist; download the KMNIST "
            + "files from \(KMNIST.officialURL) or point --data or KMNIST_DIR at a folder that has them\n", "\(nowhere.stderr)")
}

/// --batch-size sets every configuration's batch, named in the header and in the products' shapes;
/// one whose activations would pass 4 GB is refused as vae-train refuses it, before any row.
@Test func benchCommandBatchSize() throws {
    let result = try runTool("vae-bench", ["--presets", "pytorch-example", "--data", syntheticData, "--batch-size", "100",
                                           "--images", "300", "--epochs", "2", "--threads", "1", "--products"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.hasPrefix("vae-bench: 300 images per epoch, batches of 100, N(0, I) prior, "), "\(result.stdout)")
    #expect(result.stdout.contains("\n  1. NT 100x400x784 "), "\(result.stdout)")
    let tooLarge = try runTool("vae-bench", ["--presets", "pytorch-example,conv", "--data", syntheticData, "--batch-size", "20000",
                                             "--images", "20000", "--epochs", "2"])
    #expect(tooLarge.status == 64, "\(tooLarge.stderr)")
    #expect(tooLarge.stdout.isEmpty && tooLarge.stderr == "vae-bench: a batch of 20000 images would take 4.2 GB for its activations, "
            + "more than the 4 GB a training run may take; choose a smaller --batch-size\n", "\(tooLarge.stderr)")
    let outOfRange = try runTool("vae-bench", ["--batch-size", "0", "--data", "/nonexistent"])
    #expect(outOfRange.status == 64 && outOfRange.stderr.hasPrefix("vae-bench: --batch-size must be between 1 and 1000000, got 0"),
            "\(outOfRange.stderr)")
}
