import Foundation
import VAECore

public enum Animation: String, Sendable, CaseIterable {
    case interpolation, sampling, reconstruction
    case latentMap = "latent-map"
    case traversal

    public var fileName: String { rawValue + ".gif" }

    /// Whether the animation shows every checkpoint, or only the final model.
    public var replaysEveryCheckpoint: Bool { self != .interpolation && self != .traversal }

    /// The file's colour map: the class colours for the latent map, the shared greys otherwise.
    public var palette: [UInt8] { self == .latentMap ? Palette.latentMapRGB : Palette.rgb }
}

/// What to render, from which run and data; a nil option set skips that animation.
public struct RenderRequest: Sendable {
    public var runDirectory: String
    public var dataFolder: String
    public var interpolation: InterpolationOptions?
    public var sampling: SamplingOptions?
    public var reconstruction: ReconstructionOptions?
    public var latentMap: LatentMapOptions?
    public var traversal: TraversalOptions?
    public var style: FrameStyle

    public init(runDirectory: String, dataFolder: String, interpolation: InterpolationOptions? = nil,
                sampling: SamplingOptions? = nil, reconstruction: ReconstructionOptions? = nil, latentMap: LatentMapOptions? = nil,
                traversal: TraversalOptions? = nil, style: FrameStyle = FrameStyle()) {
        self.runDirectory = runDirectory
        self.dataFolder = dataFolder
        self.interpolation = interpolation
        self.sampling = sampling
        self.reconstruction = reconstruction
        self.latentMap = latentMap
        self.traversal = traversal
        self.style = style
    }

    /// The animations requested, in `Animation` order (that of `renderAnimations`'s GIFs).
    public var animations: [Animation] {
        Animation.allCases.filter { animation in
            switch animation {
            case .interpolation: return interpolation != nil
            case .sampling: return sampling != nil
            case .reconstruction: return reconstruction != nil
            case .latentMap: return latentMap != nil
            case .traversal: return traversal != nil
            }
        }
    }
}

/// One encoded GIF, in memory.
public struct RenderedGIF: Sendable {
    public let animation: Animation
    public let bytes: [UInt8]
    public let frameCount: Int
    public let width: Int
    public let height: Int
    /// What the GIF's line adds: the sampling GIF's sampler ("z ~ vamp: 500 components,
    /// temperature 1.15") and its last frame's test loss ("test loss 213.4 at epoch 30"), the
    /// reconstruction GIF's last reconstruction term ("test recon 177.9 at epoch 30"), the latent
    /// map's final accuracy ("5-NN accuracy 84.2% at epoch 30").
    public let note: String?
}

/// Renders the requested animations of a run into memory, in `Animation` order. Every checkpoint
/// is read and checked before anything is returned, so a bad one costs no file.
///
/// The interpolation and the traversal need only the final checkpoint; the sampling,
/// reconstruction and latent-map animations replay every checkpoint once, one at a time.
public func renderAnimations(_ request: RenderRequest) throws -> [RenderedGIF] {
    try renderAnimations(request, replay: try RunReplay(runDirectory: request.runDirectory))
}

/// How far `renderAnimations` has got, for a progress display.
public enum RenderProgress: Sendable, Equatable {
    /// Fitting the sampling animation's sampler to the final model's encoded training images.
    case fitting(SamplerKind)
    /// `done` of the `total` frames of an animation of the final model drawn.
    case frames(Animation, done: Int, total: Int)
    /// `done` of the run's `total` checkpoints replayed into the animations of every epoch.
    case checkpoints(done: Int, total: Int)
}

/// `renderAnimations` on a run already opened: the checkpoints `replay` found when it opened.
/// `progress` hears of each step as it ends (and of a fit as it starts).
public func renderAnimations(_ request: RenderRequest, replay: RunReplay,
                             progress: (RenderProgress) -> Void = { _ in }) throws -> [RenderedGIF] {
    let test = try replay.testImages(from: request.dataFolder)
    let codec = LatentCodec(config: replay.run.model)
    let style = request.style
    let planned = replay.run.epochs, lastEpoch = replay.final.epoch

    // Set up everything that can refuse the request before the slow part.
    let interpolation = try request.interpolation.map { options in
        // On a 1-D latent the two means lie on one line, and slerp keeps to it: say so in the caption.
        var options = options
        options.spherical = options.spherical && codec.latent > 1
        return try InterpolationAnimation(options: options, style: style, test: test, conditional: replay.run.model.conditional)
    }
    let reconstruction = try request.reconstruction.map {
        try ReconstructionAnimation(options: $0, style: style, test: test, plannedEpochs: planned, lastEpoch: lastEpoch)
    }
    let traversal = try request.traversal.map {
        // Each dimension's KL as vae-eval reports it: over the test images as the run sees them (binarized for a
        // dynamically binarized run).
        let activity = latentActivity(replay.final.model, test.evaluationImages(for: replay.run))
        return try TraversalAnimation(options: $0, style: style, activity: activity, test: test)
    }
    let samplingLayout = request.sampling.map {
        SamplingAnimation.layout($0, style: style, config: replay.run.model, plannedEpochs: planned, lastEpoch: lastEpoch)
    }
    for (animation, layout) in [(Animation.interpolation, interpolation?.layout), (.reconstruction, reconstruction?.layout),
                                (.traversal, traversal?.layout), (.sampling, samplingLayout)] {
        try checkFrameSize(layout, of: animation)
    }
    let sampling = try request.sampling.map { options in
        let kind = options.source.kind(for: replay.run.model)
        let training = kind?.needsTrainingImages == true ? try loadTrainingImages(from: request.dataFolder, for: replay.run) : nil
        if let kind, training != nil { progress(.fitting(kind)) }
        return try SamplingAnimation(options: options, style: style, final: replay.final.model, test: test, training: training,
                                     codec: codec, plannedEpochs: planned, lastEpoch: lastEpoch)
    }
    let latentMap = try request.latentMap.map {
        try LatentMapAnimation(options: $0, style: style, final: replay.final, test: test, codec: codec, plannedEpochs: planned)
    }
    try checkFrameSize(latentMap?.layout, of: .latentMap)

    var encoders = GIFEncoders(tolerance: style.tolerance)
    if let interpolation {
        var done = 0
        try interpolation.forEachFrame(model: replay.final.model, test: test, codec: codec) {
            try encoders.add($0, to: .interpolation)
            done += 1
            progress(.frames(.interpolation, done: done, total: interpolation.frameSteps.count))
        }
    }
    if let traversal {
        var done = 0
        try traversal.forEachFrame(model: replay.final.model, test: test, codec: codec) {
            try encoders.add($0, to: .traversal)
            done += 1
            progress(.frames(.traversal, done: done, total: traversal.frameSteps.count))
        }
    }
    if sampling != nil || reconstruction != nil || latentMap != nil {
        try replay.forEachCheckpoint { checkpoint, position in
            // A frame shows for its share of the epochs up to the next one shown; the last holds.
            let next = position + 1 < replay.epochs.count ? replay.epochs[position + 1] : nil
            if let sampling {
                try encoders.add(sampling.frame(checkpoint, nextEpoch: next, codec: codec), to: .sampling)
            }
            if let reconstruction {
                try encoders.add(reconstruction.frame(checkpoint, nextEpoch: next, test: test, codec: codec), to: .reconstruction)
            }
            if let latentMap {
                try encoders.add(latentMap.frame(checkpoint, nextEpoch: next, test: test, codec: codec), to: .latentMap)
            }
            progress(.checkpoints(done: position + 1, total: replay.epochs.count))
        }
    }

    let neighbours = LatentMapAnimation.neighbours
    let accuracy = latentMap.map { map in
        map.finalAccuracy.map { "\(neighbours)-NN accuracy " + String(format: "%.1f%%", 100 * $0) + " at epoch \(replay.final.epoch)" }
            ?? "no \(neighbours)-NN accuracy: it needs more than \(neighbours) characters on the map (--map-images)"
    }
    let samplingNote = sampling.map { sampling in
        (sampling.sampler.map { "z ~ \($0); " } ?? "") + EpochFigure.testLoss.finalNote(replay.final.metrics)
    }
    return try encoders.finish(notes: [.sampling: samplingNote,
                                       .reconstruction: reconstruction.map { _ in EpochFigure.reconstructionLoss.finalNote(replay.final.metrics) },
                                       .latentMap: accuracy, .traversal: traversal?.note].compactMapValues { $0 })
}

/// The GIF of each animation, encoded as its frames are drawn: an animation holds its GIF so far
/// and one frame.
private struct GIFEncoders {
    let tolerance: Int
    var encoders: [Animation: GIFEncoder] = [:]

    mutating func add(_ frame: GIFFrame, to animation: Animation) throws {
        try reportingEncoderErrors(of: animation) {
            if encoders[animation] == nil {
                // The latent map is stored exactly: its class colours always are, and its greys are
                // the labels, whose figures a later frame must redraw (at --tolerance 140 the last
                // frame kept epoch 1's 5-NN share). The other GIFs blur only their grey ramp.
                encoders[animation] = try GIFEncoder(width: frame.canvas.width, height: frame.canvas.height, loopCount: 0,
                                                     tolerance: animation == .latentMap ? 0 : tolerance, palette: animation.palette)
            }
            try encoders[animation]!.append(frame)
        }
    }

    /// The GIFs, in `Animation` order, with their `RenderedGIF.note`s.
    func finish(notes: [Animation: String]) throws -> [RenderedGIF] {
        try Animation.allCases.compactMap { animation in
            guard let encoder = encoders[animation] else { return nil }
            let bytes = try reportingEncoderErrors(of: animation) { try encoder.finish() }
            return RenderedGIF(animation: animation, bytes: bytes, frameCount: encoder.frameCount, width: encoder.width,
                               height: encoder.height, note: notes[animation])
        }
    }

    private func reportingEncoderErrors<Result>(of animation: Animation, _ body: () throws -> Result) throws -> Result {
        do { return try body() } catch let error as GIFError {
            throw VAEError(.failed, "cannot encode \(animation.fileName): \(error.message)")
        }
    }
}

/// Refuses frames larger than `maxGIFSide`, which would take gigabytes to render.
private func checkFrameSize(_ layout: TileLayout?, of animation: Animation) throws {
    guard let layout, max(layout.width, layout.height) > maxGIFSide else { return }
    throw VAEError(.usage, "\(animation.fileName) would be \(layout.width)x\(layout.height) pixels, more than "
                   + "\(maxGIFSide) per side; lower --scale or show fewer images")
}
