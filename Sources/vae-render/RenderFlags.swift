import ArgumentParser
import Foundation
import VAECommandLine
import VAECore
import VAERender

// vae-render's flags, in groups as --help shows them, each group checking its own values.

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

    @Option(help: ArgumentHelp("Another run folder (or its checkpoints folder) whose losses (its metrics.jsonl; its last checkpoint, if any, says whether it trained on the iwae bound) join the loss curve (repeatable).", valueName: "dir"),
            transform: RunDirectory.folderToRead)
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
    @Option(help: ArgumentHelp("The run folder vae-train wrote (or its checkpoints folder); its checkpoints/ are replayed.", valueName: "dir"),
            transform: RunDirectory.folderToRead)
    var runDir: String

    @Option(help: ArgumentHelp("Folder for the GIFs and loss.svg, created if needed.", valueName: "dir"))
    var out: String = "output"

    @OptionGroup var dataOptions: RunDataOptions

    func validate() throws {
        if runDir.isEmpty { throw ValidationError("--run-dir must name a folder") }
        if out.isEmpty { throw ValidationError("--out must name a folder") }
        try checkNotADash(out, flag: "--out", naming: "folder")
        // `--out anim.gif` would make a folder of that name, with the GIFs inside.
        try checkNotNamedAsAPicture(out, flag: "--out", writing: "the GIFs, as a folder of that name",
                                    naming: "--out names the folder that sampling.gif and the others are written into")
    }
}

/// What the numeric flags accept, for their checks and their help.
let stepsRange = 1...1000, gridRange = 1...64, mapImagesRange = 1...100_000, dimsRange = 1...256, scaleRange = 1...16
/// Browsers show delays of 0 and 1 centiseconds as 10, which would make 1 slower than 2; a GIF
/// stores a delay in 16 bits.
let frameTimeRange = 2...65535
/// 0 shows every epoch for --delay; no frame shows longer than --hold, whose limit this is.
let doublingRange = 0...65535
/// A first and a last epoch at least.
let framesRange = 2...100_000
let toleranceRange = 0...Int(Palette.maxGray)

struct InterpolationFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Test-image index pairs to interpolate between, e.g. 0:7,12:3 (default: the first image of each class to the first of the next class; for a conditional run, the first two of each class).",
                               valueName: "a:b,..."))
    var pairs: PairList?

    @Flag(inversion: .prefixedNo, help: "Travel on the great circle between the two latent means (slerp; the default), or with --no-spherical on the straight line, whose midpoints are blurrier (vae-eval --quality scores both).")
    var spherical: Bool?

    @Option(parsing: .unconditional, help: ArgumentHelp("Steps from A to B; the animation shows steps + 1 points each way, 2 x steps frames as the ends are shared (\(rangeHelp(stepsRange)); default: \(InterpolationOptions().steps)).",
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
        if let same = pairs?.pairs.first(where: { $0.a == $0.b }) {
            throw ValidationError("--pairs \(same.a):\(same.b) joins a test image to itself, a path of one point; name two images")
        }
        let path = spherical.map { $0 ? "--spherical" : "--no-spherical" } ?? ""
        try refuseUnless(enabled, [("--pairs", pairs != nil), (path, spherical != nil), ("--steps", steps != nil)],
                         applyTo: "the interpolation", add: "--interpolation or --all")
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
        try refuseUnless(enabled, [("--grid", grid != nil), ("--sampler", sampler != nil), ("--seed", seed != nil),
                                   ("--temperature", temperature != nil)],
                         applyTo: "the sampling animation", add: "--sampling or --all")
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
        if let indices = indices?.indices, let repeated = indices.enumerated().first(where: { indices[..<$0.offset].contains($0.element) }) {
            throw ValidationError("--indices names test image \(repeated.element) twice; each image is shown once")
        }
        try refuseUnless(enabled, [("--indices", indices != nil)], applyTo: "the reconstruction", add: "--reconstruction or --all")
    }
}

struct LatentMapFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("The latent map shows the first n test characters (\(rangeHelp(mapImagesRange)), at most the test set's count; default: \(LatentMapOptions.defaultImages), or the whole test set if it is smaller).",
                                                        valueName: "n"))
    var mapImages: Int?

    var options: LatentMapOptions {
        LatentMapOptions(images: mapImages)
    }

    func validate(enabled: Bool) throws {
        try checkRange("--map-images", mapImages, in: mapImagesRange)
        try refuseUnless(enabled, [("--map-images", mapImages != nil)], applyTo: "the latent map", add: "--latent-map or --all")
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
        try refuseUnless(enabled, [("--dims", dims != nil)], applyTo: "the traversal", add: "--traversal or --all")
    }
}

struct FrameFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Each image pixel becomes an n x n block, n from \(rangeHelp(scaleRange)); captions scale with it (default: \(FrameStyle().scale)).",
                                                        valueName: "n"))
    var scale: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Centiseconds per frame of a sweep (interpolation, traversal), and the least an epoch's frame shows, \(rangeHelp(frameTimeRange)) (default: \(FrameStyle().delay)).", valueName: "cs"))
    var delay: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Centiseconds the ends stay (the last epoch, a sweep's two ends, the traversal's first frame), and the most an epoch's frame shows, \(rangeHelp(frameTimeRange)) (default: \(FrameStyle().hold)).",
                                                        valueName: "cs"))
    var hold: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Centiseconds per doubling of the epochs trained, in the GIFs of every epoch: epoch e shows for cs x log2(next epoch shown / e), between --delay and --hold (by default, every epoch shown: 80, 47 and 33 cs for epochs 1, 2 and 3, 10 from epoch 11 on), \(rangeHelp(doublingRange)); 0 shows every epoch but the last for --delay (default: \(FrameStyle().doubling)).",
                                                        valueName: "cs"))
    var doubling: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Steps of the 254-grey ramp (\(rangeHelp(toleranceRange)); a step is 255/253 of a 0-255 grey level, so N steps are at most N + 1 levels) a pixel may lag behind its true value before a later frame redraws it; 0 makes every frame exact (default: \(FrameStyle().tolerance); not the latent map, which is always exact).",
                                                        valueName: "steps"))
    var tolerance: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("At most n frames in the GIFs of every epoch (sampling, reconstruction, latent map): the first and last epochs and, between them, epochs spread evenly in log time, as the frames are paced (of 30 epochs, 10 frames show 1, 2, 3, 4, 5, 7, 10, 14, 21 and 30), so that a long run's GIFs stay small and still show its first epochs, \(rangeHelp(framesRange)) (default: every checkpoint).",
                                                        valueName: "n"))
    var frames: Int?

    var style: FrameStyle {
        let defaults = FrameStyle()
        return FrameStyle(scale: scale ?? defaults.scale, delay: delay ?? defaults.delay, hold: hold ?? defaults.hold,
                          doubling: doubling ?? defaults.doubling, tolerance: tolerance ?? defaults.tolerance)
    }

    /// `gifs`: whether any GIF is asked for; `approximate`: any but the latent map, which is stored
    /// exactly; `everyEpoch`: any that replays every checkpoint.
    func validate(gifs: Bool, approximate: Bool, everyEpoch: Bool) throws {
        try checkRange("--frames", frames, in: framesRange)
        try checkRange("--scale", scale, in: scaleRange)
        try checkRange("--delay", delay, in: frameTimeRange, unit: "centiseconds")
        try checkRange("--hold", hold, in: frameTimeRange, unit: "centiseconds")
        try checkRange("--doubling", doubling, in: doublingRange, unit: "centiseconds")
        // The ends (and the last epoch) hold longest; a longer delay would show them shortest.
        if gifs && (delay != nil || hold != nil) && style.delay > style.hold {
            let byDefault = " (its default)"
            throw ValidationError("--delay \(style.delay)\(delay == nil ? byDefault : "") is longer than --hold \(style.hold)"
                                  + "\(hold == nil ? byDefault : ""); no frame may show longer than the ends hold")
        }
        try checkRange("--tolerance", tolerance, in: toleranceRange, unit: "grey steps")
        try refuseUnless(gifs, [("--scale", scale != nil), ("--delay", delay != nil), ("--hold", hold != nil), ("--tolerance", tolerance != nil)],
                         applyTo: "the GIFs, not the loss curve", add: "an animation or --all")
        if gifs && !approximate && tolerance != nil {
            throw ValidationError("--tolerance does not apply to the latent map, which is stored exactly")
        }
        try refuseUnless(everyEpoch, [("--frames", frames != nil), ("--doubling", doubling != nil)],
                         applyTo: "the GIFs of every epoch", add: "--sampling, --reconstruction, --latent-map or --all")
    }
}

/// Refuses the first of `flags` given (`given`) for what is not rendered (`rendered` false): a
/// flag that would change nothing is more likely a missing selection than meant.
private func refuseUnless(_ rendered: Bool, _ flags: [(name: String, given: Bool)], applyTo what: String, add selection: String) throws {
    if !rendered, let flag = flags.first(where: \.given) {
        throw ValidationError("\(flag.name) applies to \(what); add \(selection)")
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
