import ArgumentParser
import Foundation
import VAECommandLine
import VAECore
import VAERender

/// What --samples accepts.
private let elboSampleRange = 1...1000

struct VAEEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-eval",
        abstract: "Estimate how well a checkpoint models the KMNIST test set, in nats per image.",
        discussion: """
            Prints the negative ELBO averaged over --samples z draws per image, and the importance-weighted \
            estimate of -log p(x) with --k samples per image (Burda et al. 2016), which tightens towards the \
            true negative log-likelihood as k grows. Lower is better for both.

            It also counts the active units: the latent dimensions whose KL from N(0, 1), averaged \
            over the test images, exceeds 0.01 nats, and, beside it, those whose encoder mean varies \
            across the images by more than 0.01 (the criterion of Burda et al.).

            --quality --classifier FILE prints instead how character-like the checkpoint's images are to the \
            classifier vae-classifier trained: mean top-class probability, the share above 0.9, the entropy \
            of the predicted-class histogram (ln 10 = 2.30 is every class equally often) and the Fréchet \
            distances of the classifier's 128 penultimate features to the test images' and to the training \
            images' (lower is closer), for the test images and the training images themselves (each set \
            compared with itself half to half), reconstructions of the test images from the encoder means, \
            --quality-samples draws from each sampler (at each --temperature), the sampling GIF's own \
            cells as this checkpoint decodes them, and for the interpolation GIF its in-between images and \
            the midpoints of --quality-samples random pairs of test images, each on the straight and the \
            spherical path and as the two images' pixels crossfaded (what a path off the characters looks \
            like). The training images' FD to the test images is about what a perfect model of them would \
            score there. The GIFs' own cells and in-between images (a few dozen and 150), and any row of 128 \
            images or fewer (--images 128 or fewer), show "–" for their distances: 128 features' covariance \
            needs many more images than that.

            Exit codes: 0 done, 64 bad flags or data that does not match the run, 65 a corrupt checkpoint or \
            data file, 66 missing files, 70 a sampler's fit failed (--quality), 73 standard output (the figures) cannot be written; \
            Ctrl-C or SIGTERM stops it (the shell shows 130 or 143).
            """,
        version: versionDescription())

    @Argument(help: ArgumentHelp("A checkpoint written by vae-train, or a run folder (or its checkpoints folder) for the run's last checkpoint.",
                                 valueName: "checkpoint"))
    var checkpoint: String

    @OptionGroup var dataOptions: RunDataOptions

    @Option(name: .customLong("samples"), parsing: .unconditional, help: ArgumentHelp("z draws per image for the negative ELBO (\(rangeHelp(elboSampleRange)); default: 1).", valueName: "n"))
    var samplesGiven: Int?
    var samples: Int { samplesGiven ?? 1 }

    @Option(name: .customLong("k"), parsing: .unconditional, help: "Importance samples per image for the -log p(x) estimate; 0 skips it. The default takes minutes over the whole test set (about 3 for the default model on two cores); --images or a smaller k are quicker (\(rangeHelp(importanceSampleRange)); default: 1000).")
    var importanceSamplesGiven: Int?
    var importanceSamples: Int { importanceSamplesGiven ?? 1000 }

    @Option(parsing: .unconditional, help: ArgumentHelp("Evaluate only the first n test images, 1 to the test set's count (at least 2 with --quality, which prints no distances for 128 or fewer) (default: all).", valueName: "n"))
    var images: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the z draws, and with --quality of every sampler's fit and draw, 0 to 2^64-1.", valueName: "n"))
    var seed: UInt64 = 0

    @Flag(help: "Score the images the checkpoint makes with --classifier instead of estimating likelihoods.")
    var quality = false

    @Option(help: ArgumentHelp("The classifier vae-classifier wrote, for --quality.", valueName: "file"))
    var classifier: String?

    @Option(name: .customLong("quality-samples"), parsing: .unconditional,
            help: ArgumentHelp("Samples drawn from each sampler for --quality (\(rangeHelp(VAEEval.qualitySampleRange)), more than the \(Classifier.featureCount) features the Fréchet distance compares; default: 10000).",
                               valueName: "n"))
    var qualitySamplesGiven: Int?
    var qualitySamples: Int { qualitySamplesGiven ?? 10_000 }
    static let qualitySampleRange = (Classifier.featureCount + 1)...1_000_000

    @Option(name: .customLong("temperature"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("For --quality, a temperature to score every sampler that takes one at (above 0 and at most \(Int(maximumSamplingTemperature))); repeat it for several (default: 1 and \(SamplingOptions().temperature), the GIF's).",
                               valueName: "t"))
    var temperaturesGiven: [Double] = []
    var temperatures: [Double] { temperaturesGiven.isEmpty ? [1, SamplingOptions().temperature] : temperaturesGiven }

    @OptionGroup var compute: ThreadOptions

    func validate() throws {
        if checkpoint.isEmpty { throw ValidationError("the checkpoint path is empty; name a checkpoint file") }
        if classifier?.isEmpty == true { throw ValidationError("--classifier must name a file") }
        if quality != (classifier != nil) { throw ValidationError("--quality and --classifier go together") }
        if quality && (samplesGiven != nil || importanceSamplesGiven != nil) {
            throw ValidationError("--samples and --k apply to the likelihood estimates, which --quality replaces")
        }
        if !quality && qualitySamplesGiven != nil { throw ValidationError("--quality-samples applies to --quality") }
        if !quality && !temperaturesGiven.isEmpty { throw ValidationError("--temperature applies to --quality") }
        for temperature in temperaturesGiven { try checkTemperature(temperature, sampler: "", takesTemperature: true) }
        if Set(temperaturesGiven).count < temperaturesGiven.count { throw ValidationError("--temperature is given the same value twice") }
        try checkRange("--quality-samples", qualitySamplesGiven, in: Self.qualitySampleRange)
        try checkRange("--samples", samples, in: elboSampleRange)
        try checkRange("--k", importanceSamples, in: importanceSampleRange)
        if let images, images < 1 { throw ValidationError("--images must be at least 1, got \(images)") }
        if let images, quality && images < 2 {
            throw ValidationError("--images must be at least 2 with --quality, which takes the test images' covariance, got \(images)")
        }
    }

    func run() throws {
        try reportingErrors(evaluate)
    }

    private func evaluate() throws {
        compute.apply()
        let file = try checkpointFile()
        let loaded = try readCheckpoint(file)
        let folder = try dataFolder(file)
        if quality { return try scoreQuality(loaded, file: file, folder: folder) }
        // Refused unless they are the run's test images: a folder of the same counts (MNIST's,
        // say) would otherwise be scored without a word.
        let test = try firstImages(try loaded.run.loadSplit(.test, from: folder, runName: "the run of \(file)")
            .evaluationImages(for: loaded.run))
        print("vae-eval: \(file) (epoch \(loaded.epoch), \(loaded.run.summary)) on \(count: test.count, "test image")")
        let elbo = negativeELBO(loaded.model, test, samples: samples, seed: seed)
        try checkFinite([elbo.total], width: 1, computedBy: loaded.model) { _ in "the negative ELBO" }
        print("negative ELBO (\(count: samples, "sample")): "
              + String(format: "%.2f nats/image (reconstruction %.2f + KL %.2f)", elbo.total, elbo.reconstruction, elbo.kl))
        let activity = latentActivity(loaded.model, test)
        print("active units: \(activity.activeDimensions.count) of \(loaded.model.config.latentDim) (average KL above "
              + "\(LatentActivity.threshold) nats; \(activity.activeByMeanVariance) by Burda et al.'s variance of the mean above "
              + "\(LatentActivity.threshold))")
        fflush(nil)
        guard importanceSamples > 0 else { return }
        let bar = ProgressBar.onTerminal()
        let nll = importanceWeightedNLL(loaded.model, test, k: importanceSamples, seed: seed) { done in
            bar.update(label: "IWAE", done: done, total: test.count)
        }
        bar.clear()
        try checkFinite([nll], width: 1, computedBy: loaded.model) { _ in "the IWAE estimate" }
        print(String(format: "IWAE estimate of %@ (k=%d): %.2f nats/image", loaded.run.model.negativeLogLikelihood, importanceSamples, nll))
    }

    /// The argument, or for a folder its last checkpoint: a folder of checkpoints (a run's
    /// checkpoints folder, a copy of one, a link to one) holds them itself, a run folder in its
    /// checkpoints/ (as vae-render and vae-sample read a run). The first line printed names it.
    private func checkpointFile() throws -> String {
        guard PathKind(checkpoint) == .folder else { return checkpoint }
        let folder = RunDirectory(checkpoint)
        if let last = RunDirectory.checkpointEpochs(inFolder: folder.path).last {
            return folder.path + "/" + RunDirectory.checkpointFileName(epoch: last)
        }
        // An empty checkpoints folder is its run's, which says what is missing.
        let run = RunDirectory(owningCheckpointsFolder: folder.path) ?? folder
        return run.checkpoint(epoch: try run.requiredCheckpointEpochs().last!)
    }

    /// A checkpoint in <run>/checkpoints/ belongs to the run folder above it, which knows its data.
    private func dataFolder(_ file: String) throws -> String {
        guard let run = RunDirectory(holdingCheckpoint: file) else { return dataOptions.folder }
        return try dataOptions.folder(readingRun: run)
    }

    /// The first --images test images: asking for more than there are is a mistake, not "all".
    private func firstImages(_ test: ImageSet) throws -> ImageSet {
        guard let images else { return test }
        guard images <= test.count else {
            throw VAEError(.usage, "--images \(images): the test set has only \(count: test.count, "image")")
        }
        return test.prefix(images)
    }

    /// The quality table, under a line naming the checkpoint, the classifier and the reference sets.
    private func scoreQuality(_ loaded: Checkpoint, file: String, folder: String) throws {
        let wholeTest = try loaded.run.loadSplit(.test, from: folder, runName: "the run of \(file)")
        let test = try firstImages(wholeTest)
        let (scorer, about) = try readClassifier(classifier!)
        guard test.count >= 2 else { throw VAEError(.usage, "--quality compares with the test images, and needs at least two") }
        let training = try loadTrainingImages(from: folder, for: loaded.run, use: "--quality scores the training images and "
                                              + "fits the samplers to them (point --data or KMNIST_DIR at the folder the run was trained on)")
        // A classifier of other data (a synthetic set, MNIST) scores anything, and means nothing here.
        if let tested = about["test_md5"], tested != wholeTest.md5 {
            writeToStandardError("vae-eval: warning: \(classifier!) was tested on other images than the run's test set "
                                 + "(md5 \(tested), the run's \(wholeTest.md5)): its scores say little about this run's images\n")
        }
        let accuracy = about["test_accuracy"].flatMap(Double.init).map { String(format: " (test accuracy %.2f%%)", 100 * $0) } ?? ""
        print("vae-eval: \(file) (epoch \(loaded.epoch), \(loaded.run.summary)), scored by \(classifier!)\(accuracy); "
              + "Fréchet distances to the \(test.count) test images and to the \(training.count) training images")
        let bar = ProgressBar.onTerminal()
        try writeQualityTable(loaded, scorer: scorer, test: test, training: training, samples: qualitySamples,
                              temperatures: temperatures, seed: seed,
                              fitting: { bar.showFitting($0) }) { line in
            bar.clear()
            print(line)
            fflush(nil)
        }
    }
}

VAEEval.mainCheckingOutput()
