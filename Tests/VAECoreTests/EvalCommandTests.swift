import Foundation
import Testing
import TestSupport
import VAECore

/// --k 1 is an estimate of one importance sample, not none (0 is the value that skips it).
@Test func evalCommandEstimatesWithOneImportanceSample() throws {
    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    let result = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--k", "1"])
    let model = try readCheckpoint(checkpoint).model, test = try KMNIST.load(from: syntheticData).test
    let nll = try importanceWeightedNLL(model, test, k: 1, seed: 0)
    #expect(result.status == 0 && result.stdout.contains(String(format: "\nIWAE estimate of -log p(x) (k=1): %.2f nats/image\n", nll)),
            "\(result.stdout)\(result.stderr)")
}

/// vae-eval prints the two estimates that --samples, --k and --seed ask for: the same figures as
/// the library's with those values, which differ from the defaults' (checked, so that a flag
/// ignored shows).
@Test func evalCommandPrintsBothEstimates() throws {
    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    let result = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--samples", "3", "--k", "20", "--seed", "5"])
    #expect(result.status == 0, "\(result.stderr)")
    let model = try readCheckpoint(checkpoint).model, test = try KMNIST.load(from: syntheticData).test
    func elbo(samples: Int, seed: UInt64) -> String {
        let elbo = negativeELBO(model, test, samples: samples, seed: seed)
        return String(format: "%.2f nats/image (reconstruction %.2f + KL %.2f)", elbo.total, elbo.reconstruction, elbo.kl)
    }
    func iwae(k: Int, seed: UInt64) throws -> String {
        String(format: "%.2f nats/image", try importanceWeightedNLL(model, test, k: k, seed: seed))
    }
    let lines = result.stdout.split(separator: "\n").map(String.init)
    let elboFigures = elbo(samples: 3, seed: 5), iwaeFigures = try iwae(k: 20, seed: 5)
    #expect(lines.contains("negative ELBO (3 samples): " + elboFigures), "\(result.stdout) without \(elboFigures)")
    #expect(lines.contains("IWAE estimate of -log p(x) (k=20): " + iwaeFigures), "\(result.stdout) without \(iwaeFigures)")
    try #require(![elbo(samples: 3, seed: 0), elbo(samples: 1, seed: 5)].contains(elboFigures)
                 && ![try iwae(k: 20, seed: 0), try iwae(k: 10, seed: 5)].contains(iwaeFigures),
                 "the seed, the samples and k must change the figures for this test to see them used")
    let leading = { (figures: String) in Double(figures.prefix { $0 != " " })! }
    #expect(leading(iwaeFigures) < leading(elboFigures), "the IWAE estimate must be below the negative ELBO: \(result.stdout)")
}

/// vae-eval's figures are its standard output: output that cannot be written (here past a
/// file-size limit of 0, as on a full disk) is exit 73 with one line, not exit 0 and no figures.
@Test func evalCommandOutputThatCannotBeWrittenIsAnError() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    let result = try runToolWithFileSizeLimit("vae-eval", [checkpoint, "--data", syntheticData, "--k", "0"], blocks: 0,
                                              standardOutput: scratch + "/figures.txt")
    #expect(result.status == 73, "\(result.stderr)")
    #expect(result.stderr == "vae-eval: cannot write standard output: File too large\n")
}

/// A conditional model's bound is on the image given its class, and vae-train's estimate after
/// its last epoch and vae-eval's say so alike (vae-train said -log p(x)).
@Test func bothToolsNameTheConditionalLikelihood() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let trained = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", scratch + "/run", "--epochs", "1",
                                            "--hidden", "16", "--latent-dim", "2", "--conditional", "--iwae-k", "5"])
    #expect(trained.status == 0, "\(trained.stderr)")
    let checkpoint = RunDirectory(scratch + "/run").checkpoint(epoch: 1)
    let nll = try #require(try readCheckpoint(checkpoint).metrics.testIWAE).nll
    #expect(trained.stdout.contains("estimating -log p(x|y) after epoch 1, before its checkpoint")
            && trained.stdout.contains(String(format: "\ntest -log p(x|y) <= %.2f nats/image (IWAE, k=5)\n", nll)), "\(trained.stdout)")
    let result = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--k", "5"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("conditional on the class")
            && result.stdout.contains(String(format: "IWAE estimate of -log p(x|y) (k=5): %.2f nats/image", nll)), "\(result.stdout)")
}

/// A dynamically binarised run is scored on the binarised test images its training evaluated, not
/// on the grey ones.
@Test func evalCommandScoresADynamicallyBinarisedRunOnBinarisedImages() throws {
    let (run, scratch, checkpoint) = try trainOneEpoch(VAEConfig(hidden: [16], latentDim: 2), binarization: .dynamic)
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--k", "0"])
    #expect(result.status == 0, "\(result.stderr)")
    let test = try KMNIST.load(from: syntheticData).test
    let elbo = negativeELBO(try readCheckpoint(checkpoint).model, test.evaluationImages(for: run), samples: 1, seed: 0)
    let line = "negative ELBO (1 sample): "
        + String(format: "%.2f nats/image (reconstruction %.2f + KL %.2f)", elbo.total, elbo.reconstruction, elbo.kl)
    #expect(result.stdout.split(separator: "\n").contains { $0 == line }, "\(result.stdout) without \(line)")
}

@Test func evalCommandCountsTheActiveUnits() throws {
    let checkpoint = packageRoot + "/fixtures/runs/latent3/checkpoints/epoch-0003.safetensors"
    let result = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--k", "0"])
    #expect(result.status == 0, "\(result.stderr)")
    let activity = latentActivity(try readCheckpoint(checkpoint).model, try KMNIST.load(from: syntheticData).test)
    let line = "active units: \(activity.activeDimensions.count) of 3 (average KL above 0.01 nats; "
        + "\(activity.activeByMeanVariance) by Burda et al.'s variance of the mean above 0.01)"
    #expect(result.stdout.split(separator: "\n").contains { $0 == line }, "\(result.stdout)")
    // A dimension whose mean never moves but whose posterior is far from N(0, 1) is active by its
    // KL and not by the variance of its mean: the line gives the two counts apart.
    let edited = try readCheckpoint(checkpoint), head = edited.model.layout.head, p = edited.model.parameters.pointer
    for row in [0, 3] {
        (p + head.weightOffset + row * head.inputs).update(repeating: 0, count: head.inputs)
    }
    (p[head.biasOffset], p[head.biasOffset + 3]) = (0.5, -4)
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let editedPath = scratch + "/epoch-0003.safetensors"
    try writeCheckpoint(edited.model, run: edited.run, metrics: edited.metrics, to: editedPath)
    let editedActivity = latentActivity(edited.model, try KMNIST.load(from: syntheticData).test)
    #expect(editedActivity.activeDimensions.contains(0) && editedActivity.activeDimensions.count != editedActivity.activeByMeanVariance)
    let counted = try runTool("vae-eval", [editedPath, "--data", syntheticData, "--k", "0"])
    let editedLine = "active units: \(editedActivity.activeDimensions.count) of 3 (average KL above 0.01 nats; "
        + "\(editedActivity.activeByMeanVariance) by Burda et al.'s variance of the mean above 0.01)"
    #expect(counted.stdout.split(separator: "\n").contains { $0 == editedLine }, "\(counted.stdout)")
    // By default the IWAE estimate takes k = 1000 (vae-eval --help).
    let byDefault = try runTool("vae-eval", [checkpoint, "--data", syntheticData])
    #expect(byDefault.stdout.contains("IWAE estimate of -log p(x) (k=1000): "), "\(byDefault.stdout)")
}

@Test func evalCommandRefusesBadInput() throws {
    let bad = try runTool("vae-eval", ["/nonexistent.safetensors", "--data", syntheticData])
    #expect(bad.status == 66)
    #expect(bad.stderr.hasPrefix("vae-eval: cannot open /nonexistent.safetensors"))
    for k in ["-1", "5001"] {
        let flag = try runTool("vae-eval", ["x", "--k", k])
        #expect(flag.status == 64 && flag.stderr.hasPrefix("vae-eval: --k must be between 0 and 5000, got \(k)"), "\(flag.stderr)")
    }
    // A flag the chosen mode does not read is refused, not ignored.
    for (arguments, message) in [(["--quality", "--classifier", "c", "--k", "5"], "--samples and --k apply to the likelihood estimates"),
                                 (["--quality", "--classifier", "c", "--samples", "2"], "--samples and --k apply to the likelihood estimates"),
                                 (["--quality-samples", "500"], "--quality-samples applies to --quality"),
                                 (["--samples", "0"], "--samples must be between 1 and 1000, got 0"),
                                 (["--samples", "1001"], "--samples must be between 1 and 1000, got 1001"),
                                 (["--quality", "--classifier", "c", "--quality-samples", "128"],
                                  "--quality-samples must be between 129 and 1000000, got 128"),
                                 (["--quality", "--classifier", "c", "--quality-samples", "1000001"],
                                  "--quality-samples must be between 129 and 1000000, got 1000001"),
                                 (["--temperature", "1"], "--temperature applies to --quality"),
                                 (["--quality", "--classifier", "c", "--temperature", "0"], "--temperature must be above 0 and at most 10, got 0.0"),
                                 (["--quality", "--classifier", "c", "--temperature", "1", "--temperature", "1.0"],
                                  "--temperature is given the same value twice"),
                                 (["--images", "0"], "--images must be at least 1, got 0"),
                                 (["--quality", "--classifier", "c", "--images", "1"],
                                  "--images must be at least 2 with --quality, which takes the test images' covariance, got 1")] {
        let refused = try runTool("vae-eval", ["x"] + arguments)
        #expect(refused.status == 64 && refused.stderr.hasPrefix("vae-eval: " + message), "\(arguments): \(refused.stderr)")
    }

    // The training split where the test split belongs is not the run's test set (the fixture runs record no MD5s).
    let swapped = temporaryFolder()
    defer { removeTemporaryFolder(swapped) }
    for kind in ["images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"] {
        try FileManager.default.copyItem(atPath: syntheticData + "/train-" + kind, toPath: swapped + "/train-" + kind)
        try FileManager.default.copyItem(atPath: syntheticData + "/train-" + kind, toPath: swapped + "/t10k-" + kind)
    }
    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    let other = try runTool("vae-eval", [checkpoint, "--data", swapped, "--k", "0"])
    #expect(other.status == 64 && other.stdout.isEmpty, "\(other.stdout)")
    #expect(other.stderr == "vae-eval: the run of \(checkpoint) was trained with 100 test images, but "
            + "\(swapped)/t10k-images-idx3-ubyte.gz holds 600; pass the --data folder the run was trained on\n")
    // Named by $KMNIST_DIR, which may be set unawares, the folder is said to come from there.
    let fromEnvironment = try runTool("vae-eval", [checkpoint, "--k", "0"], environment: ["KMNIST_DIR": swapped])
    #expect(fromEnvironment.status == 64 && fromEnvironment.stderr.hasSuffix("holds 600; pass the --data folder the run was "
            + "trained on ($KMNIST_DIR names \(swapped), which comes before the folder a run records)\n"), "\(fromEnvironment.stderr)")

    // More test images than there are is a mistake, not "all of them", in either mode.
    for mode in [["--k", "0"], ["--quality", "--classifier", checkpoint]] {
        let tooMany = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--images", "101"] + mode)
        #expect(tooMany.status == 64 && tooMany.stdout.isEmpty, "\(mode): \(tooMany.stdout)")
        #expect(tooMany.stderr == "vae-eval: --images 101: the test set has only 100 images\n", "\(mode): \(tooMany.stderr)")
    }
}

/// A run's folder, or its checkpoints folder with a slash or without, stands for the run's last
/// checkpoint, as vae-render and vae-sample take a run: the same output, the file named as under
/// the folder given.
@Test func evalTakesARunFolderForItsLastCheckpoint() throws {
    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    let runFolder = packageRoot + "/fixtures/runs/latent2"
    let byFile = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--k", "0"])
    try #require(byFile.status == 0, "\(byFile.stderr)")
    for folder in [runFolder, runFolder + "/", runFolder + "/checkpoints", runFolder + "/checkpoints/"] {
        let byFolder = try runTool("vae-eval", [folder, "--data", syntheticData, "--k", "0"])
        #expect(byFolder.status == 0 && byFolder.stdout == byFile.stdout, "\(folder): \(byFolder.stdout)\(byFolder.stderr)")
    }
    let relative = try runTool("vae-eval", ["fixtures/runs/latent2/checkpoints", "--data", syntheticData, "--k", "0"],
                               workingDirectory: packageRoot)
    #expect(relative.stdout.hasPrefix("vae-eval: fixtures/runs/latent2/checkpoints/epoch-0003.safetensors (epoch 3, "), "\(relative.stdout)")
    // A folder of checkpoints under another name, a copy or a link, gives its own last.
    let elsewhere = temporaryFolder()
    defer { removeTemporaryFolder(elsewhere) }
    try FileManager.default.copyItem(atPath: runFolder + "/checkpoints", toPath: elsewhere + "/copy")
    try FileManager.default.createSymbolicLink(atPath: elsewhere + "/link", withDestinationPath: runFolder + "/checkpoints")
    for folder in ["copy", "link", "link/"] {
        let result = try runTool("vae-eval", [folder, "--data", syntheticData, "--k", "0"], workingDirectory: elsewhere)
        let name = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        #expect(result.status == 0 && result.stdout.hasPrefix("vae-eval: \(name)/epoch-0003.safetensors (epoch 3, "),
                "\(folder): \(result.stdout)\(result.stderr)")
    }
    // A run folder with no checkpoint yet says so, as vae-render and vae-sample do (66).
    let empty = temporaryFolder()
    defer { removeTemporaryFolder(empty) }
    try FileManager.default.createDirectory(atPath: empty + "/checkpoints", withIntermediateDirectories: true)
    let untrained = try runTool("vae-eval", [empty, "--data", syntheticData])
    #expect(untrained.status == 66 && untrained.stderr.hasPrefix("vae-eval: \(empty)/checkpoints holds no checkpoints (epoch-NNNN.safetensors)"),
            "\(untrained.stderr)")
}

/// Every tool that computes takes the shared `--threads` option, with the same range and message.
/// (The files named are placeholders: flags are checked before any file is opened. In a folder of
/// its own, so that a tool that let the flag through would write nothing into the package.)
@Test(arguments: [("vae-train", []), ("vae-eval", ["x"]), ("vae-bench", []), ("vae-sample", ["--run-dir", "x", "--count", "1", "--out", "x.idx"]),
                  ("vae-classifier", ["--out", "x.safetensors"])])
func threadsOutOfRangeIsRefusedByEveryTool(tool: String, arguments: [String]) throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    for threads in ["0", "257"] {
        let result = try runTool(tool, arguments + ["--threads", threads], workingDirectory: folder)
        #expect(result.status == 64, "\(tool) --threads \(threads): \(result.stderr)")
        #expect(result.stderr.contains("--threads must be between 1 and 256, got \(threads)"), "\(tool): \(result.stderr)")
        #expect(result.stdout.isEmpty)
    }
    let help = try runTool(tool, ["--help"])
    #expect(help.stdout.contains("--threads <n>") && help.stdout.contains("Threads to compute on"), "\(tool) --help: \(help.stdout)")
}

/// `--data`'s help names the folder a run recorded as a fallback only in the tools that read or
/// continue a run; vae-bench and vae-classifier read none.
@Test(arguments: [("vae-train", true), ("vae-render", true), ("vae-eval", true), ("vae-sample", true),
                  ("vae-bench", false), ("vae-classifier", false)])
func dataHelpNamesTheRunsFolderOnlyWhereARunIsRead(tool: String, readsARun: Bool) throws {
    let help = try runTool(tool, ["--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    let fallback = readsARun ? "$KMNIST_DIR; else the folder the run was trained on, when it records one; else ./data/kmnist)"
                             : "$KMNIST_DIR, else ./data/kmnist)"
    #expect(help.contains("--data <dir> Folder with the KMNIST IDX files, .gz or raw, the .gz read where both are there (default: " + fallback), "\(tool): \(help)")
}

/// The seven executables of the package.
private let everyTool = ["vae-train", "vae-render", "vae-sample", "vae-eval", "vae-classifier", "vae-bench", "vae-fixtures"]

/// `--help` is a report like any other: text that cannot be written (here past a file-size limit
/// of 0, as on a full disk) is exit 73 with one line, not exit 0 and no help.
@Test(arguments: everyTool)
func helpThatCannotBeWrittenIsAnError(tool: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runToolWithFileSizeLimit(tool, ["--help"], blocks: 0, standardOutput: scratch + "/help.txt")
    #expect(result.status == 73, "\(tool): \(result.stderr)")
    #expect(result.stderr == "\(tool): cannot write standard output: File too large\n")
    let written = try runToolWithFileSizeLimit(tool, ["--help"], blocks: 100, standardOutput: scratch + "/help.txt")
    #expect(written.status == 0 && written.stderr.isEmpty, "\(tool): \(written.stderr)")
    #expect(try String(decoding: readFile(scratch + "/help.txt"), as: UTF8.self).hasPrefix("OVERVIEW: "))
}

/// `--version` names the build alike in every tool: the project's version, the file formats, the
/// vector instructions the core was compiled for (this machine's widest, since every build here
/// is `-target-cpu native`) and OpenBLAS with the kernels it chose.
@Test func everyToolPrintsTheSameVersion() throws {
    #if arch(x86_64)
    let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
    let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }!.split(separator: " ").map(String.init))
    let vector = flags.contains("avx512f") ? "AVX-512" : flags.contains("avx2") ? "AVX2" : flags.contains("avx") ? "AVX" : "SSE2"
    #else
    let vector = "NEON"
    #endif
    var outputs: Set<String> = []
    for tool in everyTool {
        let result = try runTool(tool, ["--version"])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(tool): \(result.stderr)")
        outputs.insert(result.stdout)
        #expect(try runTool(tool, ["--help"]).stdout.contains("--version"), "\(tool) --help")
    }
    #expect(outputs.count == 1, "\(outputs)")
    let lines = outputs.first!.split(separator: "\n").map(String.init)
    try #require(lines.count == 4, "\(lines)")
    #expect(lines[0] == "kmnist-vae \(projectVersion)")
    #expect(projectVersion.wholeMatch(of: /[0-9]+\.[0-9]+\.[0-9]+/) != nil)
    #expect(lines[1] == "files: \(checkpointFormat), \(stateFormat), \(classifierFormat)")
    #expect(lines[2] == "core compiled for \(vector)")
    // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... , kernels Cooperlake": the kernels are one name.
    let kernels = lines[3].components(separatedBy: ", kernels ")
    #expect(lines[3].hasPrefix("OpenBLAS 0.") && kernels.count == 2 && !kernels[1].isEmpty && !kernels[1].contains(" "),
            "\(lines[3])")
}

/// An error whose line cannot be written (standard error on a full disk) still ends with the
/// error's own exit code: FileHandle's write would stop the process with SIGILL, exit 132.
@Test(arguments: [("vae-train", "--foo", Int32(64)), ("vae-eval", "/nonexistent/checkpoint.safetensors", 66)])
func anErrorThatCannotBeReportedStillExitsWithItsCode(tool: String, argument: String, status: Int32) throws {
    let shell = try ChildProcess("/bin/bash", ["-c", "exec '\(try toolPath(tool))' \(argument) 2>/dev/full"])
    defer { shell.stop() }
    let result = try shell.finish()
    #expect(result.status == status, "\(tool) \(argument): exit \(result.status)")
}

/// One epoch of `model` on the synthetic data in a scratch folder (the caller removes it), for
/// vae-eval to read its checkpoint.
private func trainOneEpoch(_ model: VAEConfig, binarization: Binarization = .none) throws
    -> (run: RunConfig, scratch: String, checkpoint: String) {
    let data = try KMNIST.load(from: syntheticData)
    let run = RunConfig(model: model, epochs: 1, batchSize: 50, learningRate: 1e-3, seed: 0, preset: "default",
                        trainImages: data.train.count, testImages: data.test.count, binarization: binarization)
    let scratch = temporaryFolder()
    let directory = RunDirectory(scratch + "/run")
    do {
        try train(run, data: data, directory: directory, mode: .fresh)
    } catch {
        removeTemporaryFolder(scratch)
        throw error
    }
    return (run, scratch, directory.checkpoint(epoch: 1))
}

/// --quality's first line gives the classifier's test accuracy as vae-classifier printed it; a
/// classifier tested on other images than the run's test set (here inverted) is warned about,
/// since it scores anything and measures nothing of the run's data.
@Test func qualityShowsTheClassifiersAccuracyAndWarnsOfOtherTestImages() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let data = try KMNIST.load(from: syntheticData)
    let inverted = ImageSet(pixels: data.test.pixels.map { 255 - $0 }, labels: data.test.labels)
    try FileManager.default.createDirectory(atPath: folder + "/other", withIntermediateDirectories: false)
    writeSplit(data.train, split: "train", in: folder + "/other")
    writeSplit(inverted, split: "t10k", in: folder + "/other")
    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    for (name, dataFolder) in [("same", syntheticData), ("other", folder + "/other")] {
        let classifier = folder + "/\(name).safetensors"
        let trained = try runTool("vae-classifier", ["--data", dataFolder, "--epochs", "1", "--out", classifier])
        try #require(trained.status == 0, "\(trained.stderr)")
        let accuracy = try #require(trained.stdout.split(separator: "\n").last?.split(separator: " ")[2])
        let eval = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--quality", "--classifier", classifier,
                                            "--quality-samples", "129", "--temperature", "1"])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(eval.stdout.hasPrefix("vae-eval: \(checkpoint) (epoch 3, ") && eval.stdout.contains(
            "scored by \(classifier) (test accuracy \(accuracy)); Fréchet distances to the 100 test images"), "\(eval.stdout)")
        #expect(eval.stderr == (name == "same" ? "" : "vae-eval: warning: \(classifier) was tested on other images than the run's "
                                + "test set (md5 \(inverted.md5), the run's \(data.test.md5)): its scores say little about this run's images\n"))
    }
}

/// --images N scores the first N test images: the figures printed are those of that prefix, in process.
@Test func evalOfTheFirstImagesScoresThoseImages() throws {
    let checkpoint = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0003.safetensors"
    let result = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--images", "40", "--samples", "2", "--k", "5", "--seed", "3"])
    #expect(result.status == 0, "\(result.stderr)")
    let loaded = try readCheckpoint(checkpoint)
    let test = try KMNIST.load(from: syntheticData).test.evaluationImages(for: loaded.run).prefix(40)
    let elbo = negativeELBO(loaded.model, test, samples: 2, seed: 3), nll = try importanceWeightedNLL(loaded.model, test, k: 5, seed: 3)
    for line in ["on 40 test images\n",
                 String(format: "negative ELBO (2 samples): %.2f nats/image (reconstruction %.2f + KL %.2f)\n", elbo.total,
                        elbo.reconstruction, elbo.kl),
                 String(format: "IWAE estimate of -log p(x) (k=5): %.2f nats/image\n", nll)] {
        #expect(result.stdout.contains(line), "\(line) in \(result.stdout)")
    }
    let one = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--images", "1", "--k", "0"])
    #expect(one.status == 0 && one.stdout.contains(" on 1 test image\n"), "\(one.stdout)")
}
