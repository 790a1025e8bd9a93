import ArgumentParser
import Foundation
import VAECommandLine
import VAECore

struct VAETrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-train",
        abstract: "Train a variational autoencoder on Kuzushiji-MNIST, saving a checkpoint every epoch.",
        discussion: """
            Reads the four KMNIST IDX files (.gz or raw; the .gz where both are there) from --data, else $KMNIST_DIR, else ./data/kmnist, \
            downloading and md5-checking any that are missing unless --no-download is given. A --resume without \
            --data or $KMNIST_DIR reads the folder the run was trained on (recorded in <run-dir>/data-folder), \
            and downloads only the files missing there; a run that records no folder needs --data.

            Every epoch writes <run-dir>/checkpoints/epoch-NNNN.safetensors (weights, configuration, \
            losses), adds a line to <run-dir>/metrics.jsonl (rewritten whole) and updates <run-dir>/state.safetensors, \
            which --resume continues from. Losses are in nats per image: the negative ELBO (with --objective iwae, the \
            training loss is the negative importance-weighted bound). A run that diverges records it in <run-dir>/diverged \
            and cannot be resumed: a resume would repeat the same steps.

            Exit codes: 0 done, 64 bad flags, a run folder in the way, data that does not match the resumed \
            run or a resume of a run that diverged, 65 bad data, 66 missing data, run folder or resume state, 70 training diverged (or the final estimate is not finite), 73 cannot write, 75 another trainer is \
            writing the run folder (it holds <run-dir>/.lock), 130 interrupted (Ctrl-C; resume with --resume), \
            143 stopped by SIGTERM (the same way).

            Then render the animations with: vae-render --all --run-dir <run-dir>
            """,
        version: versionDescription())

    @Option(help: ArgumentHelp("Starting values for the model and optimizer; explicit flags override them (default: conv with --arch conv, else default).",
                               valueName: "name"))
    var preset: Preset?

    @Option(help: ArgumentHelp("Network: mlp (fully connected layers) or conv (two 3x3 stride-2 convolutions with 32 and 64 channels before the --hidden layers, mirrored by transposed convolutions in the decoder; not with --likelihood gaussian) (default: conv for --preset conv, else mlp).",
                               valueName: "name"))
    var arch: Architecture?

    @OptionGroup var dataOptions: RunDataOptions

    @Flag(help: "Never download: fail with a message naming the missing files instead.")
    var noDownload = false

    @Option(name: .customLong("download-url"),
            help: ArgumentHelp("Where to download missing KMNIST files from (http, https or file URL of a mirror; default: \(KMNIST.officialURL)).",
                               valueName: "url"))
    var downloadURLGiven: String?
    var downloadURL: String { downloadURLGiven ?? KMNIST.officialURL }

    @Option(help: ArgumentHelp("Folder for checkpoints, metrics and resume state (default: runs/<preset>).", valueName: "dir"))
    var runDir: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Number of passes over the training set (at least 1; default: \(defaultEpochs); with --resume, the run's own).",
                                                        valueName: "n"))
    var epochs: Int?
    static let defaultEpochs = 30

    @Option(parsing: .unconditional, help: ArgumentHelp("Images per optimizer step (\(rangeHelp(RunConfig.batchSizeRange)); default: 128).", valueName: "n"))
    var batchSize: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Adam learning rate (default: 1e-3).", valueName: "rate"))
    var lr: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Dimensions of the latent code z (\(rangeHelp(RunConfig.latentDimRange)); default: 32, or 20 for pytorch-example).",
                                                        valueName: "n"))
    var latentDim: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Encoder hidden widths, input side first (for conv, after the convolutions), comma-separated, each \(rangeHelp(RunConfig.widthRange)); the decoder mirrors them (default: 1024, 400 for pytorch-example, 512 for conv; \"none\" for no hidden layer).",
                               valueName: "widths"))
    var hidden: HiddenWidths?

    @Option(help: ArgumentHelp("Decoder likelihood p(x|z): bernoulli (logits, binary cross-entropy), gaussian (learned mean and per-pixel variance, log-variance clamped to [-7, 2]) or gaussian-fixed (learned mean, fixed --sigma).",
                               valueName: "name"))
    var likelihood: Likelihood?

    @Option(parsing: .unconditional, help: ArgumentHelp("Standard deviation of the gaussian-fixed likelihood, 1.1e-19 to 9.2e18 (default: 0.1).", valueName: "sigma"))
    var sigma: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Weight of the KL term in the training objective (beta-VAE); reported losses stay the plain negative ELBO (default: 1; only 1 with --objective iwae, which has no KL term).",
                                                        valueName: "beta"))
    var beta: Double?

    @Option(name: .customLong("kl-warmup"), parsing: .unconditional, help: ArgumentHelp("Epochs over which the KL weight ramps linearly from 0 to --beta (default: 0; only 0 with --objective iwae).",
                                                                                        valueName: "epochs"))
    var klWarmup: Int?

    @Option(help: ArgumentHelp("none: train on grey levels; dynamic: resample every training batch as Bernoulli(pixel) and binarise the test set once with a fixed seed, which makes the Bernoulli NLL a true likelihood (default: none).",
                               valueName: "mode"))
    var binarize: Binarization?

    @Flag(help: "Class-conditional VAE: the label's one-hot joins the encoder's and the decoder's input, and the loss bounds -log p(x|y). Not with --prior vamp or --objective iwae.")
    var conditional = false

    @Option(help: ArgumentHelp("The prior p(z): normal (N(0, I), the KL term in closed form) or vamp (VampPrior: the mixture of the encoder's posteriors at --pseudo-inputs learned pseudo-inputs, which start as training images; the KL term is estimated at the sampled z) (default: vamp for the default preset, normal for the other presets and with --conditional).",
                               valueName: "name"))
    var prior: Prior?

    @Option(parsing: .unconditional, help: ArgumentHelp("Pseudo-inputs of --prior vamp, the mixture's components (\(rangeHelp(RunConfig.pseudoInputRange)); default: \(defaultPseudoInputs)).",
                                                        valueName: "k"))
    var pseudoInputs: Int?

    @Option(help: ArgumentHelp("Training loss: elbo (the negative ELBO, one z per image) or iwae (the importance-weighted bound with --train-k draws of z per image, tighter than the ELBO; the test loss each epoch stays the negative ELBO) (default: elbo).",
                               valueName: "name"))
    var objective: Objective?

    @Option(name: .customLong("train-k"), parsing: .unconditional,
            help: ArgumentHelp("Draws of z per image in the --objective iwae bound; each is decoded, so an epoch's decoder work grows k-fold (\(rangeHelp(RunConfig.trainSampleRange)); default: \(defaultTrainSamples)).",
                               valueName: "k"))
    var trainK: Int?

    @Option(name: .customLong("augment-shift"), parsing: .unconditional,
            help: ArgumentHelp("Shift each training image by up to this many pixels in x and y, drawn afresh for every batch, so that the model cannot learn the few training images by heart; the test images are never shifted (\(rangeHelp(RunConfig.augmentShiftRange)); default: 0).",
                               valueName: "pixels"))
    var augmentShift: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed for initialisation, shuffling and noise; the same seed gives identical checkpoints on one machine, for any --threads (0 to 2^64-1; default: 0).",
                                                        valueName: "n"))
    var seed: UInt64?

    @Option(name: .customLong("iwae-k"), parsing: .unconditional,
            help: ArgumentHelp("Importance samples per test image for an estimate of -log p(x) after the last epoch, recorded with it (\(rangeHelp(importanceSampleRange))); 0 skips it. Large k take long (k=1000 takes minutes); vae-eval gives the same estimate for any checkpoint. The run does not keep it: give it again with --resume (an interrupted run's message shows how).",
                               valueName: "k"))
    var iwaeK: Int = 0

    @OptionGroup var compute: ThreadOptions

    @Flag(help: "Replace the run already in the run folder: its checkpoints, metrics and resume state.")
    var overwrite = false

    @Option(help: ArgumentHelp("Continue the run in this folder from its last complete epoch, on the data it was trained on; only --epochs, --iwae-k and --threads may change, and --data to where that data is now (other flags may repeat the run's values).",
                               valueName: "run-dir"))
    var resume: String?

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        try checkRange("--batch-size", batchSize, in: RunConfig.batchSizeRange)
        try checkRange("--latent-dim", latentDim, in: RunConfig.latentDimRange)
        for width in hidden?.widths ?? [] { try checkRange("--hidden", width, in: RunConfig.widthRange) }
        if let layers = hidden?.widths.count, layers > RunConfig.maximumHiddenLayers {
            throw ValidationError("--hidden may name at most \(RunConfig.maximumHiddenLayers) layers, got \(layers)")
        }
        if let lr, !RunConfig.isValidLearningRate(lr) { throw ValidationError("--lr must be a positive number a Float can hold, got \(lr)") }
        for (flag, value) in [("--run-dir", runDir), ("--resume", resume)] where value?.isEmpty == true {
            throw ValidationError("\(flag) must name a folder")
        }
        try checkNotADash(runDir, flag: "--run-dir", naming: "folder")
        if !["http://", "https://", "file://"].contains(where: downloadURL.hasPrefix) {
            throw ValidationError("--download-url must be an http, https or file URL, got \(downloadURL.isEmpty ? "an empty string" : downloadURL)")
        }
        if noDownload && downloadURLGiven != nil { throw ValidationError("--download-url names where to download from, and --no-download forbids it") }
        // A resumed run's likelihood is in its state: without --likelihood, --sigma is checked
        // against it in train().
        if let sigma {
            guard chosenLikelihood == .gaussianFixed || (resume != nil && likelihood == nil) else {
                throw ValidationError("--sigma applies only to --likelihood gaussian-fixed")
            }
            guard RunConfig.isValidSigma(sigma) else {
                throw ValidationError("--sigma must be a positive number from 1.1e-19 to 9.2e18 (its square and the square's inverse "
                                      + "must be normal Floats), got \(sigma)")
            }
        }
        if !(arch ?? chosenPreset.arch).supports(chosenLikelihood) {
            throw ValidationError("--likelihood \(chosenLikelihood.rawValue) needs --arch mlp: the conv decoder has one output per pixel "
                                  + "(bernoulli and gaussian-fixed work with conv)")
        }
        if let beta, !RunConfig.isValidKLWeight(beta) {
            throw ValidationError("--beta must be 0 or a positive number a Float can hold, got \(beta)")
        }
        if let klWarmup, klWarmup < 0 { throw ValidationError("--kl-warmup must be at least 0, got \(klWarmup)") }
        // A resumed run's prior and objective are in its state; the flags are checked against it.
        if let pseudoInputs {
            guard chosenPrior == .vamp || resume != nil else { throw ValidationError("--pseudo-inputs applies to --prior vamp") }
            try checkRange("--pseudo-inputs", pseudoInputs, in: RunConfig.pseudoInputRange)
        }
        if chosenPrior == .vamp && conditional { throw ValidationError("--prior vamp cannot be combined with --conditional") }
        if let trainK {
            guard chosenObjective == .iwae || resume != nil else { throw ValidationError("--train-k applies to --objective iwae") }
            try checkRange("--train-k", trainK, in: RunConfig.trainSampleRange)
        }
        if chosenObjective == .iwae {
            if conditional { throw ValidationError("--objective iwae cannot be combined with --conditional") }
            // Their neutral values change nothing: a script that always passes them may add --objective iwae.
            if beta.map({ $0 != 1 }) == true || klWarmup.map({ $0 != 0 }) == true {
                throw ValidationError("--beta and --kl-warmup weight the ELBO's KL term; --objective iwae has none "
                                      + "(it takes only --beta 1 and --kl-warmup 0, which change nothing)")
            }
        }
        try checkRange("--augment-shift", augmentShift, in: RunConfig.augmentShiftRange)
        try checkRange("--iwae-k", iwaeK, in: importanceSampleRange)
        if resume != nil {
            if overwrite { throw ValidationError("--resume and --overwrite contradict each other") }
            // The same folder spelled another way, or through a link, is no contradiction.
            if let runDir, absolutePath(runDir) != absolutePath(resume!) && !sameFile(runDir, resume!) {
                throw ValidationError("--run-dir and --resume name different folders")
            }
        } else {
            if let problem = RunConfig.tooManyParameters(requested(chosenPreset, trainImages: 0, testImages: 0).model) {
                throw ValidationError(problem)
            }
        }
    }

    /// --preset, else the conv preset for --arch conv, so that its defaults suit a convolutional encoder.
    private var chosenPreset: Preset {
        preset ?? (arch == .conv ? .conv : .standard)
    }

    private var chosenLikelihood: Likelihood { likelihood ?? .bernoulli }
    /// A conditional run has no VampPrior, so --conditional alone keeps N(0, I).
    private var chosenPrior: Prior { prior ?? (conditional ? .normal : chosenPreset.prior) }
    private var chosenObjective: Objective { objective ?? .elbo }

    /// The flags of `RunConfig.fields` given on the command line; a resumed run checks them
    /// against its stored configuration.
    private var explicitFlags: Set<String> {
        let given: [(String, Bool)] = [
            ("--preset", preset != nil), ("--arch", arch != nil), ("--batch-size", batchSize != nil), ("--lr", lr != nil),
            ("--latent-dim", latentDim != nil), ("--hidden", hidden != nil), ("--likelihood", likelihood != nil),
            ("--sigma", sigma != nil), ("--beta", beta != nil), ("--kl-warmup", klWarmup != nil),
            ("--binarize", binarize != nil), ("--seed", seed != nil), ("--conditional", conditional), ("--prior", prior != nil),
            ("--pseudo-inputs", pseudoInputs != nil), ("--objective", objective != nil), ("--train-k", trainK != nil),
            ("--augment-shift", augmentShift != nil), ("--epochs", epochs != nil),
        ]
        return Set(given.filter(\.1).map(\.0))
    }

    func run() throws {
        try reportingErrors(train)
    }

    /// The run the flags ask for, with the preset's values where no flag was given; when resuming
    /// `stored`, its likelihood, prior and objective where no flag names them, so that --sigma,
    /// --pseudo-inputs or --train-k alone is compared with the stored run's.
    private func requested(_ preset: Preset, trainImages: Int, testImages: Int, resuming stored: RunConfig? = nil) -> RunConfig {
        RunConfig(model: VAEConfig(arch: arch ?? preset.arch, hidden: hidden?.widths ?? preset.hidden,
                                   latentDim: latentDim ?? preset.latentDim,
                                   likelihood: likelihood ?? stored?.model.likelihood ?? .bernoulli, sigma: sigma.map(Float.init) ?? 0.1,
                                   conditional: conditional, prior: stored.map { prior ?? $0.model.prior } ?? chosenPrior,
                                   pseudoInputs: pseudoInputs ?? defaultPseudoInputs),
                  epochs: epochs ?? VAETrain.defaultEpochs, batchSize: batchSize ?? preset.batchSize, learningRate: lr ?? preset.learningRate,
                  seed: seed ?? 0, preset: preset.rawValue, trainImages: trainImages, testImages: testImages,
                  beta: beta ?? 1, klWarmupEpochs: klWarmup ?? 0, binarization: binarize ?? .none,
                  objective: objective ?? stored?.objective ?? .elbo, trainSamples: trainK ?? defaultTrainSamples,
                  augmentShift: augmentShift ?? 0)
    }

    private func train() throws {
        compute.apply()
        let preset = chosenPreset
        let directory = RunDirectory(resume ?? runDir ?? "runs/\(preset.rawValue)")
        // A folder that exists may be another trainer's: its lock comes before anything else, so
        // that a second writer is refused at once. A new folder is made only once the data has
        // loaded, so that bad data leaves none behind.
        if resume != nil { try directory.checkResumable() }
        // Before the lock, whose file a folder that is no run's should not get, even with
        // --overwrite: that replaces a run, and leaves what else a run's folder holds (scores, renders).
        if resume == nil && !directory.holdsARun { try directory.checkHoldsOnlyRunFiles() }
        let existingFolderLock = FileManager.default.fileExists(atPath: directory.path) ? try RunLock(directory) : nil
        // A run the folder holds is not replaced without --overwrite: refused before any download.
        if resume == nil && !overwrite { try directory.checkHoldsNoRun() }
        // Checked before the data is fetched, so that a flag that contradicts the run costs no download.
        let resumePoint = resume != nil ? try self.resumePoint(of: directory, preset: preset) : nil
        if let resumePoint, resumePoint.run.epochs == resumePoint.epoch {
            // --iwae-k estimates after the last epoch trained, and there is none to train.
            let estimate = iwaeK > 0 ? "; vae-eval --k \(iwaeK) \(shellPath(directory.checkpoint(epoch: resumePoint.epoch))) estimates "
                + resumePoint.run.model.negativeLogLikelihood : ""
            let epochs = resumePoint.epoch == 1 ? "its 1 epoch" : "all \(resumePoint.epoch) epochs"
            // Still, a metrics line cut or deleted by hand is rebuilt, and a killed writer's temporary
            // files are removed, as a resume that trains does.
            directory.removeLeftoverTemporaryFiles()
            let missingLines = try directory.epochsMissingFromMetrics(through: resumePoint.epoch)
            if !missingLines.isEmpty {
                try directory.writeMetrics(try directory.metricsLines(through: resumePoint.epoch, of: resumePoint.run))
            }
            let done = missingLines.isEmpty ? "nothing to do"
                : "rebuilt the metrics.jsonl \(missingLines.count == 1 ? "line" : "lines") of \(epochList(missingLines)) from "
                    + (missingLines.count == 1 ? "its checkpoint" : "their checkpoints") + ", and nothing is left to train"
            print("vae-train: \(directory.path) has completed \(epochs); \(done) "
                  + "(--epochs N with N above \(resumePoint.epoch) trains it further\(estimate))")
            return
        }
        let resumed = resumePoint?.run, resumedAfter = resumePoint?.epoch ?? 0

        // The model and epochs are known before the data: a run too large for the disk costs no download.
        let planned = resumed ?? requested(preset, trainImages: 0, testImages: 0)
        try directory.checkRoom(for: planned, after: resumedAfter, replacing: resumed == nil && overwrite && directory.holdsARun)

        // A resumed run reads the data it was trained on, as the other tools that read a run do.
        let folder = resume != nil ? try dataOptions.folder(resuming: directory) : dataOptions.folder
        try KMNIST.checkMissingDataCanBeFetched(folder, resuming: resumed)
        if !noDownload {
            try KMNIST.download(missingFrom: folder, baseURL: downloadURL, stored: reportStoredDownload) { name, received, total in
                reportDownload(name: name, received: received, total: total)
            }
        }
        let dataset = try KMNIST.load(from: folder)
        var run = resumed ?? requested(preset, trainImages: dataset.train.count, testImages: dataset.test.count)
        if resumed == nil { (run.trainMD5, run.testMD5) = (dataset.train.md5, dataset.test.md5) }
        try checkData(dataset, from: folder, for: run, directory: directory)
        let lock = try existingFolderLock ?? RunLock(directory)
        let mode: StartMode = resumed != nil ? .resume : overwrite ? .overwrite : .fresh
        // Said once VAECore.train has checked the run folder (a resume's checkpoints and metrics),
        // just before the first epoch: a run refused there was never started.
        func announce() {
            let destination = resumed == nil ? "into \(directory.path)" : "resuming \(directory.path) at epoch \(resumedAfter + 1)"
            print("vae-train: \(run.summary), \(count: ComputeThreads.shared.count, "thread"), \(destination)")
            fflush(nil)
            for warning in startWarnings(run, trainImages: dataset.train.count, resumePoint: resumePoint, directory: directory) {
                writeToStandardError("vae-train: warning: \(warning)\n")
            }
        }
        try trainReporting(run, data: dataset, dataFolder: folder, directory: directory, lock: lock, mode: mode, announce: announce)
    }

    /// Trains the run that `train` prepared, with a progress bar on a terminal and a line per
    /// epoch, stopping between batches on Ctrl-C or SIGTERM with the command that continues it.
    private func trainReporting(_ run: RunConfig, data dataset: KMNIST, dataFolder folder: String, directory: RunDirectory,
                                lock: RunLock, mode: StartMode, announce: () -> Void) throws {
        stopBetweenBatchesOnSignals()
        let bar = ProgressBar.onTerminal()
        // Until the new run's first epoch is written, the old run stays: what stops training before then says so.
        let replacesARun = mode == .overwrite && directory.holdsARun
        let kept = "\(directory.path) still holds the run --overwrite was to replace, as it was"
        var epochsWritten = 0, estimating = false
        // The mean of the epochs written so far, each with its evaluation and checkpoint, from the
        // first epoch's start: the bar's time left in the run.
        var started = DispatchTime.now().uptimeNanoseconds
        var secondsPerEpoch: Double?
        do {
            try VAECore.train(run, data: dataset, dataFolder: folder, directory: directory, lock: lock, mode: mode, finalIWAESamples: iwaeK,
                              started: { announce(); started = DispatchTime.now().uptimeNanoseconds },
                              shouldStop: { stopRequested != nil },
                              progress: { bar.update($0, epochs: run.epochs, secondsPerEpoch: secondsPerEpoch, finalEstimate: iwaeK > 0) },
                              finalEvaluationProgress: { done in
                                  estimating = true
                                  if done == 1 {
                                      bar.clear()
                                      // The epoch's own line waits for its checkpoint, which waits for the estimate.
                                      print("estimating \(run.model.negativeLogLikelihood) after epoch \(run.epochs), before its checkpoint: the "
                                            + "\(dataset.test.count) test images with \(iwaeK) importance samples each")
                                      fflush(nil)
                                  }
                                  bar.update(label: "IWAE", done: done, total: dataset.test.count)
                              },
                              epochFinished: { metrics in
                                  epochsWritten += 1
                                  secondsPerEpoch = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 / Double(epochsWritten)
                                  bar.clear()
                                  print(epochLine(metrics, epochs: run.epochs))
                                  if let iwae = metrics.testIWAE {
                                      print(String(format: "test %@ <= %.2f nats/image (IWAE, k=%d)", run.model.negativeLogLikelihood, iwae.nll, iwae.k))
                                  }
                                  fflush(nil)
                              })
        } catch let error as VAEError where error.kind == .failed && replacesARun && epochsWritten == 0 {
            bar.clear()
            throw VAEError(error.kind, "\(error.message); \(kept)")
        } catch let error as VAEError where error.kind == .interrupted {
            bar.clear()
            throw stopped(error, directory: directory, keptRun: replacesARun && epochsWritten == 0 ? kept : nil, estimating: estimating)
        }
        bar.clear()
        print("vae-train: done; render the animations with: vae-render --all --run-dir \(shellPath(directory.path))")
    }

    /// The error of a run stopped by Ctrl-C or SIGTERM: that the run --overwrite was to replace
    /// is kept (`keptRun`), or how far the run got and the command that continues it.
    private func stopped(_ error: VAEError, directory: RunDirectory, keptRun: String?, estimating: Bool) -> VAEError {
        let terminated = stopRequested == SIGTERM
        let kind: VAEError.Kind = terminated ? .terminated : .interrupted
        let stopped = "\(error.message)\(terminated ? " (SIGTERM)" : "")"
        if let keptRun { return VAEError(kind, "\(stopped); \(keptRun)") }
        // The last epoch's checkpoint waits for the estimate, so that the run's last metrics line records it.
        let waiting = estimating ? " (the last epoch's checkpoint waits for the estimate: a resume trains that epoch again, "
            + "to the same weights)" : ""
        let done = (directory.checkpointEpochs().last.map { "checkpoints up to epoch \($0) are complete" } ?? "no epoch was completed")
            + waiting
        // The run does not keep --iwae-k: a resume without it would end without the estimate.
        let resume = "vae-train --resume \(shellPath(directory.path))" + (iwaeK > 0 ? " --iwae-k \(iwaeK)" : "")
        return VAEError(kind, "\(stopped); \(done). Continue with: \(resume)")
    }

    /// Where a resume continues: the stored run with the flags given (checked against it), and
    /// the epoch of its state; the checkpoints missing up to that epoch, and those past it that
    /// the trainer removes, for the warnings.
    private struct ResumePoint {
        let run: RunConfig, epoch: Int, missingCheckpoints: [Int], laterCheckpoints: [Int]
    }

    private func resumePoint(of directory: RunDirectory, preset: Preset) throws -> ResumePoint {
        let state = try directory.readState()
        // validate() let these through: only the state knows the run's likelihood, prior and objective.
        if sigma != nil && likelihood == nil && state.run.model.likelihood != .gaussianFixed {
            throw VAEError(.usage, "--sigma applies only to --likelihood gaussian-fixed, and \(directory.path) has likelihood "
                           + state.run.model.likelihood.rawValue)
        }
        if pseudoInputs != nil && state.run.model.prior != .vamp {
            throw VAEError(.usage, "--pseudo-inputs applies to --prior vamp, and \(directory.path) has prior \(state.run.model.prior.rawValue)")
        }
        if trainK != nil && state.run.objective != .iwae {
            throw VAEError(.usage, "--train-k applies to --objective iwae, and \(directory.path) has objective \(state.run.objective.rawValue)")
        }
        let run = try state.run.resumed(with: requested(preset, trainImages: 0, testImages: 0, resuming: state.run),
                                        explicitFlags: explicitFlags, statePath: directory.statePath)
        if run.epochs < state.epoch {
            throw VAEError(.usage, "--epochs \(run.epochs): \(directory.path) has already completed \(count: state.epoch, "epoch")")
        }
        let kept = Set(directory.checkpointEpochs())
        return ResumePoint(run: run, epoch: state.epoch,
                           missingCheckpoints: stride(from: 1, through: state.epoch, by: 1).filter { !kept.contains($0) },
                           laterCheckpoints: kept.filter { $0 > state.epoch }.sorted())
    }

    /// Runs that train, but not as their flags suggest.
    private func startWarnings(_ run: RunConfig, trainImages: Int, resumePoint: ResumePoint?, directory: RunDirectory) -> [String] {
        var warnings: [String] = []
        if run.batchSize > trainImages {
            warnings.append("--batch-size \(run.batchSize) is more than the \(trainImages) training images: each epoch is one step "
                            + "over all of them")
        }
        if let missing = resumePoint?.missingCheckpoints, !missing.isEmpty {
            warnings.append("\(directory.path) holds no checkpoint of \(epochList(missing)) (deleted?), which a resume cannot make "
                            + "again: the GIFs will have no frame of \(missing.count == 1 ? "it" : "them")")
        }
        if let resumePoint, !resumePoint.laterCheckpoints.isEmpty {
            // train() removed them: nothing of this run's can lie past its state.
            let later = resumePoint.laterCheckpoints
            warnings.append("removed the checkpoint\(later.count == 1 ? "" : "s") of \(epochList(later)), past the state's epoch "
                            + "\(resumePoint.epoch) (left by a run stopped before writing its state, or while --overwrite replaced an older run)")
        }
        if run.beta == 0 && run.klWarmupEpochs > 0 {
            warnings.append("--kl-warmup \(run.klWarmupEpochs) ramps the KL weight up to --beta 0: it stays 0 throughout")
        } else if run.klWarmupEpochs > run.epochs {
            let end = String(format: "%.3g", Double(run.epochs) / Double(run.klWarmupEpochs))
            warnings.append("--kl-warmup \(run.klWarmupEpochs) is longer than the run's \(count: run.epochs, "epoch"): the KL weight "
                            + "ends at \(end) of --beta")
        }
        return warnings
    }
}

func epochLine(_ m: EpochMetrics, epochs: Int) -> String {
    func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
    return "\(epochCaption(m.epoch, of: epochs))  train \(f(m.train.total))  test \(f(m.test.total)) "
        + "(recon \(f(m.test.reconstruction)) + kl \(f(m.test.kl)))  \(f(m.seconds)) s  \(Int(m.imagesPerSecond.rounded())) img/s"
}

/// On a terminal, a line redrawn as a file's data arrives.
func reportDownload(name: String, received: Int, total: Int?) {
    guard isatty(STDERR_FILENO) != 0 else { return }
    let megabytes = String(format: "%.1f", Double(received) / 1e6)
    let of = total.map { String(format: " of %.1f MB (%d%%)", Double($0) / 1e6, received * 100 / max($0, 1)) } ?? " MB"
    writeToStandardError("\rdownloading \(name): \(megabytes)\(of)   \(received == total ? "\n" : "")")
}

/// In a log, one line for each file once it has passed its md5 and is saved: a file that fails
/// it is the one line of its error, not a line saying it was downloaded and then that error.
func reportStoredDownload(name: String, bytes: Int) {
    guard isatty(STDERR_FILENO) == 0 else { return }
    writeToStandardError("vae-train: downloaded \(name), \(bytes) bytes, md5 checked\n")
}

/// Comma-separated hidden widths, e.g. "512,256"; "none" for no hidden layer.
struct HiddenWidths: ExpressibleByArgument {
    let widths: [Int]

    init?(argument: String) {
        if argument == "none" {
            widths = []
            return
        }
        // Any integers: validate() names the widths' range.
        guard let widths = commaSeparated(argument, { Int($0) }) else { return nil }
        self.widths = widths
    }
}

extension Preset: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension Likelihood: ExpressibleByArgument {}
extension Binarization: ExpressibleByArgument {}
extension Objective: ExpressibleByArgument {}

VAETrain.mainCheckingOutput()
