import ArgumentParser
import Foundation
import VAECommandLine
import VAECore

struct VAEEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-eval",
        abstract: "Estimate how well a checkpoint models the KMNIST test set, in nats per image.",
        discussion: """
            Prints the negative ELBO averaged over --samples z draws per image, and the importance-weighted \
            estimate of -log p(x) with --k samples per image (Burda et al. 2015), which tightens towards the \
            true negative log-likelihood as k grows. Lower is better for both.

            It also counts the active units: the latent dimensions whose KL from the prior, averaged \
            over the test images, exceeds 0.01 nats, and, beside it, those whose encoder mean varies \
            across the images by more than 0.01 (the criterion of Burda et al.).

            Exit codes: 0 done, 64 bad flags, 65 a corrupt checkpoint or data file, 66 missing files.
            """)

    @Argument(help: ArgumentHelp("A checkpoint written by vae-train.", valueName: "checkpoint"))
    var checkpoint: String

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "z draws per image for the negative ELBO.")
    var samples: Int = 1

    @Option(name: .customLong("k"), help: "Importance samples per image for the -log p(x) estimate; 0 skips it.")
    var importanceSamples: Int = 1000

    @Option(help: "Evaluate only the first n test images (default: all).")
    var images: Int?

    @Option(help: "Seed of the z draws.")
    var seed: UInt64 = 0

    @OptionGroup var compute: ThreadOptions

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1, got \(samples)") }
        guard (0...5000).contains(importanceSamples) else { throw ValidationError("--k must be between 0 and 5000, got \(importanceSamples)") }
        if let images, images < 1 { throw ValidationError("--images must be at least 1, got \(images)") }
    }

    func run() throws {
        try reportingErrors(evaluate)
    }

    private func evaluate() throws {
        compute.apply()
        let loaded = try readCheckpoint(checkpoint)
        // A checkpoint in <run>/checkpoints/ belongs to the run folder above it, which knows its data.
        let checkpointFolder = URL(fileURLWithPath: checkpoint).deletingLastPathComponent()
        let run = RunDirectory(checkpointFolder.deletingLastPathComponent().path)
        let folder = checkpointFolder.lastPathComponent == "checkpoints" ? try dataOptions.folder(readingRun: run) : dataOptions.folder
        let paths = KMNIST.locate(in: folder)
        guard let imagesPath = paths[2], let labelsPath = paths[3] else {
            throw VAEError(.missingInput, "KMNIST test files missing in \(folder): t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz")
        }
        var test = try ImageSet.load(images: imagesPath, labels: labelsPath)
        test = test.evaluationImages(for: loaded.run)
        if let images, images < test.count {
            test = ImageSet(pixels: Array(test.pixels[..<(images * VAEConfig.inputSize)]), labels: Array(test.labels[..<images]))
        }
        print("vae-eval: \(checkpoint) (epoch \(loaded.epoch), \(loaded.run.summary)) on \(test.count) test images")
        let elbo = negativeELBO(loaded.model, test, samples: samples, seed: seed)
        print(String(format: "negative ELBO (%d sample%@): %.2f nats/image (reconstruction %.2f + KL %.2f)",
                     samples, samples == 1 ? "" : "s", elbo.total, elbo.reconstruction, elbo.kl))
        let activity = latentActivity(loaded.model, test)
        print("active units: \(activity.activeDimensions.count) of \(loaded.model.config.latentDim) (average KL above "
              + "\(LatentActivity.threshold) nats; \(activity.activeByMeanVariance) by Burda et al.'s variance of the mean above "
              + "\(LatentActivity.threshold))")
        fflush(nil)
        guard importanceSamples > 0 else { return }
        let bar = ProgressBar(enabled: isatty(STDERR_FILENO) != 0)
        let nll = importanceWeightedNLL(loaded.model, test, k: importanceSamples, seed: seed) { done in
            bar.update(label: "IWAE", done: done, total: test.count)
        }
        bar.clear()
        // A conditional model's bounds are on the likelihood of the image given its class.
        let likelihood = loaded.run.model.conditional ? "-log p(x|y)" : "-log p(x)"
        print(String(format: "IWAE estimate of %@ (k=%d): %.2f nats/image", likelihood, importanceSamples, nll))
    }
}

VAEEval.main()
