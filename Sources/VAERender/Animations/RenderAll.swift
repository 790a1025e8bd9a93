import Foundation
import VAECore

public enum Animation: String, Sendable, CaseIterable {
    case interpolation, sampling, reconstruction

    public var fileName: String { rawValue + ".gif" }

    /// Whether the animation shows every checkpoint, or only the final model.
    public var replaysEveryCheckpoint: Bool { self != .interpolation }
}

/// What to render, from which run and data; a nil option set skips that animation.
public struct RenderRequest: Sendable {
    public var runDirectory: String
    public var dataFolder: String
    public var interpolation: InterpolationOptions?
    public var sampling: SamplingOptions?
    public var reconstruction: ReconstructionOptions?
    public var style: FrameStyle

    public init(runDirectory: String, dataFolder: String, interpolation: InterpolationOptions? = nil,
                sampling: SamplingOptions? = nil, reconstruction: ReconstructionOptions? = nil, style: FrameStyle = FrameStyle()) {
        self.runDirectory = runDirectory
        self.dataFolder = dataFolder
        self.interpolation = interpolation
        self.sampling = sampling
        self.reconstruction = reconstruction
        self.style = style
    }
}

/// One encoded GIF, in memory.
public struct RenderedGIF: Sendable {
    public let animation: Animation
    public let bytes: [UInt8]
    public let frameCount: Int
    public let width: Int
    public let height: Int
}

/// Renders the requested animations of a run into memory, in `Animation` order. Every checkpoint
/// is read and checked before anything is returned, so a bad one costs no file.
///
/// The interpolation needs only the final checkpoint; the sampling and reconstruction
/// animations replay every checkpoint once, one at a time.
public func renderAnimations(_ request: RenderRequest) throws -> [RenderedGIF] {
    try renderAnimations(request, replay: try RunReplay(runDirectory: request.runDirectory))
}

/// `renderAnimations` on a run already opened: the checkpoints `replay` found when it opened.
public func renderAnimations(_ request: RenderRequest, replay: RunReplay) throws -> [RenderedGIF] {
    let (test, testPath) = try loadTestImages(from: request.dataFolder)
    try replay.checkTestSet(test, source: testPath)
    let codec = LatentCodec(config: replay.run.model)
    let style = request.style
    let planned = replay.run.epochs, lastEpoch = replay.final.epoch

    // Set up everything that can refuse the request before the slow part.
    let interpolation = try request.interpolation.map { try InterpolationAnimation(options: $0, style: style, test: test) }
    let reconstruction = try request.reconstruction.map {
        try ReconstructionAnimation(options: $0, style: style, test: test, plannedEpochs: planned, lastEpoch: lastEpoch)
    }
    for (animation, layout) in [(Animation.interpolation, interpolation?.layout), (.reconstruction, reconstruction?.layout)] {
        try checkFrameSize(layout, of: animation)
    }
    let sampling = try request.sampling.map { options in
        let training = options.sampler?.needsTrainingImages == true
            ? try loadTrainingImages(from: request.dataFolder, for: replay.run) : nil
        return try SamplingAnimation(options: options, style: style, final: replay.final.model, test: test, training: training,
                                     codec: codec, plannedEpochs: planned, lastEpoch: lastEpoch)
    }
    try checkFrameSize(sampling?.layout, of: .sampling)

    var frames: [Animation: [GIFFrame]] = [:]
    if let interpolation {
        frames[.interpolation] = interpolation.frames(model: replay.final.model, test: test, codec: codec)
    }
    if sampling != nil || reconstruction != nil {
        try replay.forEachCheckpoint { checkpoint, position in
            let isLast = position == replay.epochs.count - 1
            if let sampling {
                frames[.sampling, default: []].append(sampling.frame(checkpoint, isLast: isLast, codec: codec))
            }
            if let reconstruction {
                frames[.reconstruction, default: []].append(
                    reconstruction.frame(checkpoint, isLast: isLast, test: test, codec: codec))
            }
        }
    }

    return try Animation.allCases.compactMap { animation in
        guard let animationFrames = frames[animation], let first = animationFrames.first else { return nil }
        let bytes: [UInt8]
        do {
            bytes = try encodeGIF(animationFrames, loopCount: 0, tolerance: request.style.tolerance)
        } catch let error as GIFError {
            throw VAEError(.failed, "cannot encode \(animation.fileName): \(error.message)")
        }
        return RenderedGIF(animation: animation, bytes: bytes, frameCount: animationFrames.count,
                           width: first.canvas.width, height: first.canvas.height)
    }
}

/// Refuses frames larger than `maxGIFSide`, which would take gigabytes to render.
private func checkFrameSize(_ layout: TileLayout?, of animation: Animation) throws {
    guard let layout, max(layout.width, layout.height) > maxGIFSide else { return }
    throw VAEError(.usage, "\(animation.fileName) would be \(layout.width)x\(layout.height) pixels, more than "
                   + "\(maxGIFSide) per side; lower --scale or show fewer images")
}

/// Writes each GIF into `folder` (created if needed) atomically; returns the paths written.
public func writeAnimations(_ gifs: [RenderedGIF], to folder: String) throws -> [String] {
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
        throw VAEError(.cannotWrite, "cannot create the output folder \(folder): \(error.localizedDescription)")
    }
    return try gifs.map { gif in
        let path = (folder as NSString).appendingPathComponent(gif.animation.fileName)
        try writeFileAtomically(gif.bytes, to: path)
        return path
    }
}
