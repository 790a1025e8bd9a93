import ArgumentParser
import Foundation
import VAECommandLine
import VAECore
import VAERender

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-render",
        abstract: "Replay a training run's checkpoints into five animated GIFs.",
        discussion: """
            vae-render never trains and never downloads: it reads <run-dir>/checkpoints/epoch-NNNN.safetensors \
            and the KMNIST test files (t10k-*) from --data, else $KMNIST_DIR, else the folder the run was \
            trained on (recorded in <run-dir>/data-folder), else ./data/kmnist; the fitted samplers (gmm, \
            gmm-diagonal, two-stage) read the training files (train-*) there too.

            interpolation.gif (final checkpoint): pairs of test characters are encoded to their latent \
            means and the points between them decoded, on the great circle through the two means \
            (--no-spherical: the straight line), one pair per column with A above and B below. \
            The animation goes from A to B and back, holding at both ends. Default pairs: the first test \
            character of each class to the first of the next class.

            sampling.gif (every checkpoint): one fixed set of latent points decoded by each epoch's \
            model, one frame per epoch, captioned with the epoch's test loss (the negative ELBO in nats per \
            image, from its checkpoint). By default the points are drawn once (--seed) from the final \
            model's learned VampPrior for a VampPrior run (the default model), else from a Gaussian \
            mixture fitted by EM to the final model's encoded training means (which needs the run's \
            training files too), its component count chosen on held-out images; either's covariances \
            are scaled by --temperature squared. --sampler prior draws z ~ N(0, I) instead. --sampler \
            plane shows a grid: with a 2-D latent it spans the N(0, I) \
            prior at its 5% to 95% quantiles on both axes; with more dimensions the plane of the two \
            leading principal directions of the final model's encoded test means, centred on their mean, \
            at the same quantiles of their spread. Columns follow the first axis left to right, rows the \
            second bottom to top; a 1-D latent's grid is one sweep of z1 over those quantiles, in reading \
            order.

            A conditional run (vae-train --conditional) decodes every point with a label: sampling.gif \
            has one row per class and grid²/10 columns (rounded up). With gmm, gmm-diagonal and two-stage each \
            row's points come from a sampler fitted to that class's encoded training means, with prior \
            from N(0, I); with plane each column is one z ~ N(0, I) (from --seed) shared by every row, so a \
            column shows one style in every class. The interpolation's default pairs are the first two \
            test characters of each class, and a path is decoded with A's label; reconstructions use the \
            true labels.

            reconstruction.gif (every checkpoint): fixed test characters (default: the first two of \
            each class) above their reconstructions by each epoch's model, decoded from the encoder's mean, \
            captioned with the test set's reconstruction term (-E log p(x|z), nats per image, from the checkpoint).

            latent-map.gif (every checkpoint): the first --map-images test characters encoded by each \
            epoch's model, one dot per character in its class's colour (Tableau 10; the legend shows each \
            class's first test character in its colour). Every frame uses one projection and one axis \
            range: the two leading principal directions of the final model's means of these characters \
            (the coordinates themselves for a 2-D latent; for a 1-D latent, z1 across and each class in the \
            row beside its legend character), and a range covering 99% of them. Dots are \
            drawn in test-set order, later over earlier. Top right, "5-NN": the share of these characters \
            whose 5 nearest others, by their means in all the latent dimensions (not the plane), are \
            mostly of their class (the nearer one breaks a tie); the final model's is on the GIF's line. \
            The map is stored exactly (--tolerance does not apply to it).

            traversal.gif (final checkpoint): the active latent dimensions, those whose KL from N(0, 1) \
            averaged over the test set exceeds 0.01 nats, highest first, up to --dims, one per row, with \
            each row's dimension and KL in its first tile (with none active, as after posterior collapse, \
            the one row of the highest KL, under "0/N active, KL in nats"). For the first test character of each of the \
            first four classes, each row moves that one coordinate from the character's mean up to 2 \
            standard deviations above it, down to 2 below and back (of the coordinate over the encoded test \
            set: its means' variance plus its average posterior variance) while the others stay at the mean; \
            all rows move in step, holding at both ends. The first frame shows the means themselves, and holds too.

            Every GIF loops forever. A sweep shows each frame for --delay and holds its two ends (and the traversal its first frame) for --hold; \
            the GIFs of every epoch give each doubling of the epochs trained the same time (--doubling), so \
            the first epochs, where the model changes most, show longest, and hold the last epoch. After \
            the first frame, only what changed is stored (see --tolerance), which keeps each GIF of a \
            30-epoch run under 1 MB; for a longer run, --frames N shows N of its epochs. The files are written only after \
            everything has rendered, as one set (each in full before any replaces its old file), so a bad checkpoint \
            or a full disk leaves no partial GIF. On \
            success, one line per GIF: path, frames, the epochs they show, size, bytes, and the figure \
            behind it: the last epoch's test loss for sampling.gif (after what its sampler was fitted as, \
            such as a mixture's component count, chosen on held-out images), its reconstruction term for \
            reconstruction.gif, the final 5-NN accuracy for latent-map.gif, and for traversal.gif how many \
            dimensions are active and the KL of its rows (interpolation.gif's is vae-eval --quality's, \
            which needs the classifier). On a terminal, a line on stderr says meanwhile what it is doing \
            (fitting the sampler, the frames drawn, the checkpoints replayed). A run that is still training \
            can be rendered: vae-render takes the checkpoints complete when it starts.

            loss.svg (--loss-curve): train (dashed) and test (solid) loss per epoch from \
            <run-dir>/metrics.jsonl (the negative ELBO; the train loss of an --objective iwae run, marked (iwae) in \
            the legend, is its negative importance-weighted bound; a --binarize dynamic run's, marked (binary), is \
            of binarised images, and a --conditional run's, marked (|y), bounds -log p(x|y)), up to the last \
            checkpoint when animations are rendered too, with the runs named by --compare drawn beside it \
            (Gaussian runs only beside Gaussian ones). An epoch missing from a metrics.jsonl is drawn from its \
            checkpoint, and the loss.svg line says which.

            Exit codes: 0 done, 64 bad flags or data that does not match the run, 65 a corrupt \
            checkpoint or data file, or checkpoints of different configurations, 66 missing run or \
            data, 70 a sampler's fit or a GIF's encoding failed, 73 cannot write; Ctrl-C or SIGTERM \
            stops it with nothing half-written (the shell shows 130 or 143).
            """,
        version: versionDescription())

    @OptionGroup(title: "What to render (at least one)")
    var selection: Selection

    @OptionGroup(title: "Run and output")
    var locations: Locations

    @OptionGroup(title: "Interpolation options")
    var interpolationFlags: InterpolationFlags

    @OptionGroup(title: "Sampling options")
    var samplingFlags: SamplingFlags

    @OptionGroup(title: "Reconstruction options")
    var reconstructionFlags: ReconstructionFlags

    @OptionGroup(title: "Latent map options")
    var latentMapFlags: LatentMapFlags

    @OptionGroup(title: "Traversal options")
    var traversalFlags: TraversalFlags

    @OptionGroup(title: "Frame options")
    var frameFlags: FrameFlags

    func validate() throws {
        // Before the request for something to render, which --compare alone would otherwise get.
        if !selection.compare.isEmpty && !selection.lossCurve {
            throw ValidationError("--compare adds runs to the loss curve; pass --loss-curve as well")
        }
        guard selection.anyAnimation || selection.lossCurve else {
            throw ValidationError("say what to render: --all, or any of --interpolation, --sampling, --reconstruction, --latent-map, "
                                  + "--traversal, --loss-curve")
        }
        if selection.compare.contains("") { throw ValidationError("--compare must name a run folder") }
        if selection.compare.count >= lossCurveColours.count {
            throw ValidationError("--compare takes at most \(lossCurveColours.count - 1) runs: the loss curve tells "
                                  + "\(lossCurveColours.count) runs apart by colour")
        }
        // The same run twice, by two spellings or through a link, would draw one curve exactly over the other.
        let curves = ([locations.runDir] + selection.compare).map(absolutePath)
        if let repeated = selection.compare.indices.first(where: { index in
            curves[..<(index + 1)].contains { $0 == curves[index + 1] || sameFile($0, curves[index + 1]) }
        }) {
            throw ValidationError("--compare \(selection.compare[repeated]) is on the loss curve already (as --run-dir or an earlier --compare)")
        }
        try interpolationFlags.validate(enabled: selection.includes(.interpolation))
        try samplingFlags.validate(enabled: selection.includes(.sampling))
        try reconstructionFlags.validate(enabled: selection.includes(.reconstruction))
        try latentMapFlags.validate(enabled: selection.includes(.latentMap))
        try traversalFlags.validate(enabled: selection.includes(.traversal))
        try frameFlags.validate(gifs: selection.anyAnimation,
                                approximate: Animation.allCases.contains { $0 != .latentMap && selection.includes($0) },
                                everyEpoch: Animation.allCases.contains { $0.replaysEveryCheckpoint && selection.includes($0) })
        if !selection.anyAnimation && locations.dataOptions.data != nil {
            throw ValidationError("--data applies to the GIFs, not the loss curve, which reads only the runs; add an animation or --all")
        }
    }

    /// The animations asked for, and the data folder they read (the loss curve reads none).
    private func renderRequest() throws -> RenderRequest {
        RenderRequest(
            runDirectory: locations.runDir, dataFolder: try locations.dataOptions.folder(readingRun: RunDirectory(locations.runDir)),
            interpolation: selection.includes(.interpolation) ? interpolationFlags.options : nil,
            sampling: selection.includes(.sampling) ? samplingFlags.options : nil,
            reconstruction: selection.includes(.reconstruction) ? reconstructionFlags.options : nil,
            latentMap: selection.includes(.latentMap) ? latentMapFlags.options : nil,
            traversal: selection.includes(.traversal) ? traversalFlags.options : nil,
            style: frameFlags.style)
    }

    func run() throws {
        try reportingErrors {
            let request = selection.anyAnimation ? try renderRequest() : nil
            let fileNames = Animation.allCases.filter(selection.includes).map(\.fileName)
                + (selection.lossCurve ? [lossCurveFileName] : [])
            try checkOutputs(fileNames, in: locations.out)
            // Everything is read and rendered before the first file is written. A run still
            // training is rendered as far as it was when it was opened.
            let replay = selection.anyAnimation ? try RunReplay(runDirectory: locations.runDir, frames: frameFlags.frames) : nil
            // The plane's points are fixed; only a conditional run draws its columns' z from --seed.
            if let replay, samplingFlags.seed != nil, request?.sampling?.source == .plane, !replay.run.model.conditional {
                throw VAEError(.usage, "--seed applies to a sampler, or to --sampler plane of a conditional run, and "
                               + "\(RunDirectory(locations.runDir).path) is not conditional")
            }
            // Read with the checkpoints, and cut at the last of them: the chart ends where the
            // GIFs do, however far a run still training gets while they render.
            let lossCurve = selection.lossCurve ? try lossCurveSVG(runFolders: [locations.runDir] + selection.compare,
                                                                              throughEpoch: replay?.final.epoch) : nil
            let bar = ProgressBar.onTerminal()
            defer { bar.clear() }
            let gifs = try replay.map { replay in
                try renderAnimations(request!, replay: replay) { step in
                    switch step {
                    case .fitting(let kind): bar.showFitting(kind)
                    case .frames(let animation, let done, let total):
                        bar.update(label: animation.fileName, done: done, total: total, unit: "frames")
                    case .checkpoints(let done, let total): bar.update(label: "replaying", done: done, total: total, unit: "checkpoints")
                    }
                }
            } ?? []
            bar.clear()
            let files = gifs.map { (name: $0.animation.fileName, bytes: $0.bytes) }
                + (lossCurve.map { [(name: lossCurveFileName, bytes: Array($0.svg.utf8))] } ?? [])
            // A Ctrl-C during the write stops the tool once the set is written and said so.
            try writeOutputs(files, to: locations.out) { paths in
                for (gif, path) in zip(gifs, paths) {
                    let epochs = replay!.epochsFound(finalOnly: !gif.animation.replaysEveryCheckpoint)
                    print("\(path): \(count: gif.frameCount, "frame") (\(epochs)), \(gif.width)x\(gif.height), \(gif.bytes.count) bytes"
                          + (gif.note.map { "; " + $0 } ?? ""))
                }
                if let lossCurve {
                    // Said, since only a resume writes the lines back.
                    let fromCheckpoints = lossCurve.fromCheckpoints.map { run in
                        "; \(run.folder)/metrics.jsonl lacks \(epochList(run.epochs)), drawn from "
                            + (run.epochs.count == 1 ? "its checkpoint" : "their checkpoints")
                            + " (vae-train --resume \(shellPath(run.folder)) writes the lines back)"
                    }
                    print("\(paths.last!): \(count: 1 + selection.compare.count, "run"), \(lossCurve.svg.utf8.count) bytes"
                          + fromCheckpoints.joined())
                }
                fflush(nil)
            }
        }
    }
}

private let lossCurveFileName = "loss.svg"

RenderCommand.mainCheckingOutput()
