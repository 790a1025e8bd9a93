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
            model, one frame per epoch. By default the points are drawn once (--seed) from the final \
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
            each class) above their reconstructions by each epoch's model, decoded from the encoder's mean.

            latent-map.gif (every checkpoint): the first --map-images test characters encoded by each \
            epoch's model, one dot per character in its class's colour (Tableau 10; the legend shows each \
            class's first test character in its colour). Every frame uses one projection and one axis \
            range: the two leading principal directions of the final model's means of these characters \
            (the coordinates themselves for a 2-D latent; for a 1-D latent, z1 across and each class in the \
            row beside its legend character), and a range covering 99% of them. Dots are \
            drawn in test-set order, later over earlier. The map is stored exactly (--tolerance does not \
            apply to its colours).

            traversal.gif (final checkpoint): the active latent dimensions, those whose KL from N(0, 1) \
            averaged over the test set exceeds 0.01 nats, highest first, up to --dims, one per row, with \
            each row's dimension and KL in its first tile (with none active, as after posterior collapse, \
            the one row of the highest KL, under "0/N active"). For the first test character of each of the \
            first four classes, each row moves that one coordinate from 2 standard deviations below the \
            character's mean to 2 above (of the coordinate over the encoded test set: its means' variance \
            plus its average posterior variance) while the others stay at the mean; all rows move in step, \
            there and back, holding at both ends.

            Every GIF loops forever, shows each frame for --delay and holds its ends (the first and last epochs, a sweep's two ends) for --hold; after \
            the first frame, only what changed is stored (see --tolerance), which keeps each GIF of a \
            30-epoch run under 1 MB. The files are written only after \
            everything has rendered, as one set (each in full before any replaces its old file), so a bad checkpoint \
            or a full disk leaves no partial GIF. On \
            success, one line per GIF: path, frames, the epochs they show, size, bytes, and for sampling.gif \
            drawn from a sampler what it was fitted as (a mixture's component count, chosen on held-out \
            images). On a terminal, a line on stderr says meanwhile what it is doing (fitting the sampler, \
            the frames drawn, the checkpoints replayed). A run that is \
            still training can be rendered: vae-render takes the checkpoints complete when it starts.

            loss.svg (--loss-curve): train (dashed) and test (solid) loss per epoch from \
            <run-dir>/metrics.jsonl (the negative ELBO; the train loss of an --objective iwae run, marked (iwae) in \
            the legend, is its negative importance-weighted bound), up to the last checkpoint when animations are rendered too, with the runs \
            named by --compare drawn beside it.

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
                                approximate: Animation.allCases.contains { $0 != .latentMap && selection.includes($0) })
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
            let replay = selection.anyAnimation ? try RunReplay(runDirectory: locations.runDir) : nil
            // The plane's points are fixed; only a conditional run draws its columns' z from --seed.
            if let replay, samplingFlags.seed != nil, request?.sampling?.source == .plane, !replay.run.model.conditional {
                throw VAEError(.usage, "--seed applies to a sampler, or to --sampler plane of a conditional run, and "
                               + "\(RunDirectory(locations.runDir).path) is not conditional")
            }
            // Read with the checkpoints, and cut at the last of them: the chart ends where the
            // GIFs do, however far a run still training gets while they render.
            let lossCurve = selection.lossCurve ? try lossCurveSVG(runFolders: [locations.runDir] + selection.compare,
                                                                              throughEpoch: replay?.final.epoch) : nil
            let bar = ProgressBar(enabled: isatty(STDERR_FILENO) != 0)
            defer { bar.clear() }
            let gifs = try replay.map { replay in
                try renderAnimations(request!, replay: replay) { step in
                    switch step {
                    case .fitting(let kind): bar.show("fitting the \(kind.rawValue) sampler to the encoded training images")
                    case .frames(let animation, let done, let total):
                        bar.update(label: animation.fileName, done: done, total: total, unit: "frames")
                    case .checkpoints(let done, let total): bar.update(label: "replaying", done: done, total: total, unit: "checkpoints")
                    }
                }
            } ?? []
            bar.clear()
            let files = gifs.map { (name: $0.animation.fileName, bytes: $0.bytes) }
                + (lossCurve.map { [(name: lossCurveFileName, bytes: Array($0.utf8))] } ?? [])
            // A Ctrl-C during the write stops the tool once the set is written and said so.
            try writeOutputs(files, to: locations.out) { paths in
                for (gif, path) in zip(gifs, paths) {
                    let epochs = replay!.epochsFound(finalOnly: !gif.animation.replaysEveryCheckpoint)
                    print("\(path): \(count: gif.frameCount, "frame") (\(epochs)), \(gif.width)x\(gif.height), \(gif.bytes.count) bytes"
                          + (gif.sampler.map { "; z ~ \($0)" } ?? ""))
                }
                if let lossCurve {
                    print("\(paths.last!): \(count: 1 + selection.compare.count, "run"), \(lossCurve.utf8.count) bytes")
                }
                fflush(nil)
            }
        }
    }
}

private let lossCurveFileName = "loss.svg"

struct Selection: ParsableArguments {
    @Flag(help: "Render all five animations.")
    var all = false

    @Flag(help: "Render interpolation.gif: the final model morphing between pairs of test characters.")
    var interpolation = false

    @Flag(help: "Render sampling.gif: a fixed set of latent points decoded by every epoch's model.")
    var sampling = false

    @Flag(help: "Render reconstruction.gif: test characters and every epoch's reconstructions of them.")
    var reconstruction = false

    @Flag(help: "Render latent-map.gif: test characters as dots in class colours on one fixed plane, encoded by every epoch's model.")
    var latentMap = false

    @Flag(help: "Render traversal.gif: the final model's active latent dimensions, each swept 2 standard deviations either side of test characters' means.")
    var traversal = false

    @Flag(help: "Write loss.svg: train (dashed) and test (solid) loss per epoch from the run's metrics.jsonl.")
    var lossCurve = false

    @Option(help: ArgumentHelp("Another run folder whose losses (its metrics.jsonl; its last checkpoint, if any, says whether it trained on the iwae bound) join the loss curve (repeatable).", valueName: "dir"))
    var compare: [String] = []

    var anyAnimation: Bool { Animation.allCases.contains(where: includes) }

    func includes(_ animation: Animation) -> Bool {
        switch animation {
        case .interpolation: return all || interpolation
        case .sampling: return all || sampling
        case .reconstruction: return all || reconstruction
        case .latentMap: return all || latentMap
        case .traversal: return all || traversal
        }
    }
}

struct Locations: ParsableArguments {
    @Option(help: ArgumentHelp("The run folder vae-train wrote; its checkpoints/ are replayed.", valueName: "dir"))
    var runDir: String

    @Option(help: ArgumentHelp("Folder for the GIFs and loss.svg, created if needed.", valueName: "dir"))
    var out: String = "output"

    @OptionGroup var dataOptions: RunDataOptions

    func validate() throws {
        if runDir.isEmpty { throw ValidationError("--run-dir must name a folder") }
        if out.isEmpty { throw ValidationError("--out must name a folder") }
        try checkNotADash(out, flag: "--out", naming: "folder")
    }
}

/// What the numeric flags accept, for their checks and their help.
private let stepsRange = 1...1000, gridRange = 1...64, mapImagesRange = 1...100_000, dimsRange = 1...256, scaleRange = 1...16
/// Browsers show delays of 0 and 1 centiseconds as 10, which would make 1 slower than 2; a GIF
/// stores a delay in 16 bits.
private let frameTimeRange = 2...65535
private let toleranceRange = 0...Int(Palette.maxGray)

struct InterpolationFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Test-image index pairs to interpolate between, e.g. 0:7,12:3 (default: the first image of each class to the first of the next class; for a conditional run, the first two of each class).",
                               valueName: "a:b,..."))
    var pairs: PairList?

    @Flag(inversion: .prefixedNo, help: "Travel on the great circle between the two latent means (slerp; the default), or with --no-spherical on the straight line, whose midpoints are blurrier (vae-eval --quality scores both).")
    var spherical: Bool?

    @Option(parsing: .unconditional, help: ArgumentHelp("Steps from A to B; the animation shows steps + 1 points each way (\(rangeHelp(stepsRange)); default: \(InterpolationOptions().steps)).",
                                                        valueName: "n"))
    var steps: Int?

    var options: InterpolationOptions {
        var options = InterpolationOptions(pairs: pairs?.pairs)
        if let spherical { options.spherical = spherical }
        if let steps { options.steps = steps }
        return options
    }

    func validate(enabled: Bool) throws {
        try checkRange("--steps", steps, in: stepsRange)
        let path = spherical.map { $0 ? "--spherical" : "--no-spherical" } ?? ""
        if !enabled, let flag = [("--pairs", pairs != nil), (path, spherical != nil), ("--steps", steps != nil)].first(where: \.1) {
            throw ValidationError("\(flag.0) applies to the interpolation; add --interpolation or --all")
        }
    }
}

struct SamplingFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("The sampling frame shows an n x n grid (\(rangeHelp(gridRange)); default: \(SamplingOptions().grid)); for a conditional run, a row per class of n²/10 columns, rounded up.",
                                                        valueName: "n"))
    var grid: Int?

    @Option(help: ArgumentHelp("Where the sampling frame's points come from: gmm (a Gaussian mixture fitted to the final model's encoded training means), gmm-diagonal (the same with diagonal covariances), two-stage (a second VAE fitted to those means), vamp (a VampPrior run's own prior), prior (z ~ N(0, I)) or plane (a grid on the prior's quantiles or the test means' principal plane, see above; for a conditional run one z ~ N(0, I) per column) (default: vamp for a VampPrior run, as the default model is, else gmm).",
                               valueName: "name"))
    var sampler: SamplerName?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the sampler's fit and draw, or of the columns' z for --sampler plane of a conditional run (0 to 2^64-1; default: \(SamplingOptions().seed)).", valueName: "n"))
    var seed: UInt64?

    @Option(parsing: .unconditional, help: ArgumentHelp("Spreads the samples: the GMM and vamp samplers' covariances are scaled by its square, the two-stage sampler's two draws (its N(0, I) point and its decoder's noise) by it (above 0 and at most \(Int(maximumSamplingTemperature)); default: \(SamplingOptions().temperature)).",
                                                        valueName: "t"))
    var temperature: Double?

    var options: SamplingOptions {
        var options = SamplingOptions()
        if let grid { options.grid = grid }
        if let sampler { options.source = sampler.source }
        if let seed { options.seed = seed }
        if let temperature { options.temperature = temperature }
        return options
    }

    func validate(enabled: Bool) throws {
        try checkRange("--grid", grid, in: gridRange)
        try checkTemperature(temperature, sampler: sampler?.name ?? "",
                             takesTemperature: sampler.map { $0.source != .plane && $0.source != .sampler(.prior) } ?? true)
        if !enabled, let flag = [("--grid", grid != nil), ("--sampler", sampler != nil), ("--seed", seed != nil),
                                 ("--temperature", temperature != nil)].first(where: \.1) {
            throw ValidationError("\(flag.0) applies to the sampling animation; add --sampling or --all")
        }
    }
}

/// A sampler's name, or "plane" for the principal-plane grid.
struct SamplerName: ExpressibleByArgument, Equatable {
    let source: SamplingSource
    /// As given on the command line, for messages.
    let name: String

    init?(argument: String) {
        name = argument
        if argument == "plane" {
            source = .plane
        } else if let kind = SamplerKind(rawValue: argument) {
            source = .sampler(kind)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { SamplerKind.allCases.map(\.rawValue) + ["plane"] }
}

struct ReconstructionFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Test-image indices to reconstruct, e.g. 0,5,9 (default: the first two of each class).",
                               valueName: "i,..."))
    var indices: IndexList?

    var options: ReconstructionOptions {
        ReconstructionOptions(indices: indices?.indices)
    }

    func validate(enabled: Bool) throws {
        if !enabled && indices != nil {
            throw ValidationError("--indices applies to the reconstruction; add --reconstruction or --all")
        }
    }
}

struct LatentMapFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("The latent map shows the first n test characters (\(rangeHelp(mapImagesRange)); default: \(LatentMapOptions.defaultImages), or the whole test set if it is smaller).",
                                                        valueName: "n"))
    var mapImages: Int?

    var options: LatentMapOptions {
        LatentMapOptions(images: mapImages ?? LatentMapOptions.defaultImages)
    }

    func validate(enabled: Bool) throws {
        try checkRange("--map-images", mapImages, in: mapImagesRange)
        if !enabled && mapImages != nil {
            throw ValidationError("--map-images applies to the latent map; add --latent-map or --all")
        }
    }
}

struct TraversalFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("The traversal shows at most n active latent dimensions, one per row (\(rangeHelp(dimsRange)); default: \(TraversalOptions.defaultDims)).",
                                                        valueName: "n"))
    var dims: Int?

    var options: TraversalOptions {
        TraversalOptions(dims: dims ?? TraversalOptions.defaultDims)
    }

    func validate(enabled: Bool) throws {
        try checkRange("--dims", dims, in: dimsRange)
        if !enabled && dims != nil {
            throw ValidationError("--dims applies to the traversal; add --traversal or --all")
        }
    }
}

struct FrameFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Each image pixel becomes an n x n block, n from \(rangeHelp(scaleRange)); captions scale with it (default: \(FrameStyle().scale)).",
                                                        valueName: "n"))
    var scale: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Centiseconds per frame, \(rangeHelp(frameTimeRange)) (default: \(FrameStyle().delay)).", valueName: "cs"))
    var delay: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Centiseconds the ends stay (the first and last epochs, a sweep's two ends), \(rangeHelp(frameTimeRange)) (default: \(FrameStyle().hold)).",
                                                        valueName: "cs"))
    var hold: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Grey levels (\(rangeHelp(toleranceRange))) a pixel may lag behind its true value before a later frame redraws it; 0 makes every frame exact (default: \(FrameStyle().tolerance); not the latent map, which is always exact).",
                                                        valueName: "levels"))
    var tolerance: Int?

    var style: FrameStyle {
        let defaults = FrameStyle()
        return FrameStyle(scale: scale ?? defaults.scale, delay: delay ?? defaults.delay, hold: hold ?? defaults.hold,
                          tolerance: tolerance ?? defaults.tolerance)
    }

    /// `gifs`: whether any GIF is asked for; `approximate`: any but the latent map, which is stored exactly.
    func validate(gifs: Bool, approximate: Bool) throws {
        try checkRange("--scale", scale, in: scaleRange)
        try checkRange("--delay", delay, in: frameTimeRange, unit: "centiseconds")
        try checkRange("--hold", hold, in: frameTimeRange, unit: "centiseconds")
        try checkRange("--tolerance", tolerance, in: toleranceRange, unit: "grey levels")
        if !gifs, let flag = [("--scale", scale), ("--delay", delay), ("--hold", hold), ("--tolerance", tolerance)].first(where: { $0.1 != nil }) {
            throw ValidationError("\(flag.0) applies to the GIFs, not the loss curve; add an animation or --all")
        }
        if gifs && !approximate && tolerance != nil {
            throw ValidationError("--tolerance does not apply to the latent map, which is stored exactly")
        }
    }
}

/// "a:b,c:d": pairs of non-negative image indices.
struct PairList: ExpressibleByArgument {
    let pairs: [ImagePair]

    init?(argument: String) {
        let pairs = commaSeparated(argument) { item -> ImagePair? in
            let ends = item.split(separator: ":", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard ends.count == 2, let a = ends[0], let b = ends[1], a >= 0, b >= 0 else { return nil }
            return ImagePair(a: a, b: b)
        }
        guard let pairs else { return nil }
        self.pairs = pairs
    }
}

/// "i,j,...": non-negative image indices.
struct IndexList: ExpressibleByArgument {
    let indices: [Int]

    init?(argument: String) {
        guard let indices = commaSeparated(argument, { Int($0).flatMap { $0 >= 0 ? $0 : nil } }) else { return nil }
        self.indices = indices
    }
}

RenderCommand.mainCheckingOutput()
