import Foundation
import Testing
import TestSupport
import VAECore
@testable import VAERender
import VAETesting

/// fixtures/ of the repository: the synthetic dataset (read through `syntheticData`), the tiny
/// runs and the golden GIFs.
let fixturesFolder = packageRoot + "/fixtures"

func fixtureRun(_ name: String) -> String { fixturesFolder + "/runs/" + name }

/// A copy of fixture run `name` in a temporary folder, with only the checkpoints of `epochs`
/// (all of them when nil), for tests that damage or rearrange a run; the test removes it
/// (`removeTemporaryFolder(copy.path)`).
func copyOfFixtureRun(_ name: String, epochs: [Int]? = nil, function: String = #function) throws -> RunDirectory {
    let source = RunDirectory(fixtureRun(name))
    let copy = RunDirectory(temporaryFolder(function) + "/" + name)
    do {
        try FileManager.default.createDirectory(atPath: copy.checkpointsFolder, withIntermediateDirectories: true)
        for epoch in epochs ?? source.checkpointEpochs() {
            try FileManager.default.copyItem(atPath: source.checkpoint(epoch: epoch), toPath: copy.checkpoint(epoch: epoch))
        }
    } catch {
        removeTemporaryFolder(copy.path)
        throw error
    }
    return copy
}

/// A fixture run read back, with the synthetic test set and a codec for its configuration.
struct LoadedFixture {
    let replay: RunReplay
    let test: ImageSet
    let codec: LatentCodec

    init(_ name: String) throws {
        replay = try RunReplay(runDirectory: fixtureRun(name))
        test = try KMNIST.loadTestImages(from: syntheticData).images
        codec = LatentCodec(config: replay.run.model)
    }

    var checkpoints: [Checkpoint] {
        var all: [Checkpoint] = []
        try! replay.forEachCheckpoint { checkpoint, _ in all.append(checkpoint) }
        return all
    }
}

/// The two final-checkpoint sweeps, which hand out their frames one at a time.
protocol FrameSweep {
    func forEachFrame(model: VAEModel, test: ImageSet, codec: LatentCodec, _ body: (GIFFrame) throws -> Void) rethrows
}

extension InterpolationAnimation: FrameSweep {}
extension TraversalAnimation: FrameSweep {}

extension FrameSweep {
    /// Every frame `forEachFrame` hands out, in order, for tests that look at several at once.
    func frames(model: VAEModel, test: ImageSet, codec: LatentCodec) -> [GIFFrame] {
        var frames: [GIFFrame] = []
        forEachFrame(model: model, test: test, codec: codec) { frames.append($0) }
        return frames
    }
}

/// The pixels of one tile, row by row.
func tile(of canvas: Canvas, layout: TileLayout, column: Int, row: Int) -> [UInt8] {
    let (x, y) = layout.tileOrigin(column: column, row: row)
    return (y..<y + layout.tileSide).flatMap { canvas.pixels[$0 * canvas.width + x..<$0 * canvas.width + x + layout.tileSide] }
}

/// Expects `actual` to be `expected`'s size with identical pixels, reporting the first
/// difference by its index in the pixels (row by row) instead of printing both canvases.
func expectIdentical(_ actual: Canvas, _ expected: Canvas, _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.width == expected.width && actual.height == expected.height else {
        Issue.record("\(what): a \(actual.width)x\(actual.height) canvas, expected \(expected.width)x\(expected.height)",
                     sourceLocation: sourceLocation)
        return
    }
    expectIdentical(actual.pixels, expected.pixels, "\(what) (pixels row by row, \(actual.width) to a row)",
                    sourceLocation: sourceLocation)
}

func fileNames(in folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}

extension Palette {
    /// The grey an index is perceived as: its level for ramp entries, Rec.601 luma for the accent.
    static func luminance(index: UInt8) -> UInt8 {
        let offset = Int(index) * 3
        return rec601Luma(red: rgb[offset], green: rgb[offset + 1], blue: rgb[offset + 2])
    }
}

extension Canvas {
    mutating func drawGrayImage(_ intensities: [Float], width: Int, height: Int, x: Int, y: Int, scale: Int) {
        intensities.withUnsafeBufferPointer { intensities in
            drawGrayImage(intensities, width: width, height: height, x: x, y: y, scale: scale)
        }
    }
}

/// The crossfade of `pairs` of the test images (`crossfade`, which
/// `crossfadeMixesEachPairStepMajor` checks by hand), for the tests of the quality table's rows.
func crossfadedInBetween(_ pairs: [ImagePair], steps: Int, test: ImageSet) -> [Float] {
    crossfade(test.intensities, pairs: pairs, steps: steps)
}

/// The mean top-class probability `scorer` gives `images`, as the quality table's confidence column.
func meanConfidence(_ scorer: Classifier, _ images: [Float]) -> Double {
    let probabilities = scorer.predict(images).probabilities, classes = Classifier.classes
    let count = probabilities.count / classes
    var sum = 0.0
    for r in 0..<count { sum += Double(probabilities[r * classes..<(r + 1) * classes].max()!) }
    return sum / Double(count)
}
