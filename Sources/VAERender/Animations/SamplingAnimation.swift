import Foundation
import VAECore

public struct SamplingOptions: Sendable, Equatable {
    /// The frame shows grid x grid decoded points.
    public var grid: Int
    /// Decode z ~ N(0, I) drawn with `seed` instead of a grid.
    public var random: Bool
    public var seed: UInt64

    public init(grid: Int = 5, random: Bool = false, seed: UInt64 = 0) {
        precondition(grid >= 1)
        self.grid = grid
        self.random = random
        self.seed = seed
    }
}

/// The grid spans the Gaussian quantiles from this to 1 minus this: the bulk of the
/// distribution, without reaching into its sparse tails.
let lowestGridQuantile = 0.05

/// Φ⁻¹ at `count` evenly spaced probabilities from 5% to 95%, ascending. The upper half
/// mirrors the lower one, so the grid is exactly symmetric and an odd count has exactly 0 in the middle.
public func gridCoordinates(count: Int) -> [Double] {
    let lowerHalf = (0..<count / 2).map { k in
        inverseNormalCDF(lowestGridQuantile + (0.5 - lowestGridQuantile) * 2 * Double(k) / Double(count - 1))
    }
    return lowerHalf + (count % 2 == 1 ? [0] : []) + lowerHalf.reversed().map { -$0 }
}

/// Where the sampling animation's latent points come from, fixed once for every epoch.
public enum LatentGrid: Sendable, Equatable {
    /// A 2-D latent: the plane at Gaussian quantiles of the N(0, I) prior. A 1-D latent: the line
    /// at grid² quantiles, in reading order.
    case priorQuantiles
    /// More than two dimensions: the plane of the two leading principal directions of the final
    /// model's encoded test means, through their mean, at the same quantiles of their spread.
    case principalPlane(PrincipalPlane)
    /// z ~ N(0, I) from a seed.
    case random(seed: UInt64)
    /// A conditional model: one class per row, top to bottom, and one z ~ N(0, I) from a seed per
    /// column, the same in every row, so that a column shows one style written as every class.
    case classRows(seed: UInt64)

    var subtitle: String {
        switch self {
        case .priorQuantiles: return "N(0,I) quantiles"
        case .principalPlane: return "PC1 x PC2"
        case .random: return "z ~ N(0,I)"
        case .classRows: return "row = class"
        }
    }
}

/// One fixed set of latent points decoded by every epoch's model, one frame per epoch, in a
/// grid whose columns run along the first latent axis (or principal direction) left to right
/// and whose rows run along the second one, highest at the top; for a conditional model, one
/// row per class.
public struct SamplingAnimation {
    public let grid: LatentGrid
    /// The latent points, row-major in reading order: grid², or grid per class for a conditional model.
    public let points: [Float]
    /// The class each point is decoded with, for a conditional model.
    public let labels: [UInt8]?
    public let layout: TileLayout
    public let plannedEpochs: Int

    /// `final` and `test` are only used for the principal plane.
    public init(options: SamplingOptions, style: FrameStyle, final: VAEModel, test: ImageSet,
                codec: LatentCodec, plannedEpochs: Int, lastEpoch: Int) throws {
        let side = options.grid, latent = codec.latent, classes = VAEConfig.classes
        // A conditional model's frame has about as many tiles as the grid: one row per class and
        // grid² / classes columns, rounded up (3 for the default 5x5), which keeps the GIF as small.
        let columns = codec.config.conditional ? (side * side + classes - 1) / classes : side
        labels = codec.config.conditional ? (0..<classes).flatMap { [UInt8](repeating: UInt8($0), count: columns) } : nil
        if codec.config.conditional {
            grid = .classRows(seed: options.seed)
            var random = Random(seed: options.seed)
            var styles = [Float](repeating: 0, count: columns * latent)
            styles.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
            points = Array((0..<classes).map { _ in styles }.joined())
        } else if options.random {
            grid = .random(seed: options.seed)
            var random = Random(seed: options.seed)
            var points = [Float](repeating: 0, count: side * side * latent)
            points.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
            self.points = points
        } else if latent <= 2 {
            grid = .priorQuantiles
            if latent == 1 {
                points = gridCoordinates(count: side * side).map(Float.init)
            } else {
                let coordinates = gridCoordinates(count: side)
                points = (0..<side).flatMap { row in
                    (0..<side).flatMap { column in [Float(coordinates[column]), Float(coordinates[side - 1 - row])] }
                }
            }
        } else {
            guard test.count > 0 else {
                throw VAEError(.usage, "the sampling plane comes from the encoded test set, which is empty; use --random")
            }
            let plane = PrincipalPlane(points: codec.encodeMeans(final, images: test), dimension: latent)
            grid = .principalPlane(plane)
            let coordinates = gridCoordinates(count: side)
            points = (0..<side).flatMap { row in
                (0..<side).flatMap { column in plane.point(coordinates[column], coordinates[side - 1 - row]) }
            }
        }
        self.plannedEpochs = plannedEpochs
        layout = TileLayout(columns: columns, rows: labels == nil ? side : classes, style: style,
                            widestCaption: epochCaption(max(plannedEpochs, lastEpoch), of: plannedEpochs))
    }

    public func frame(_ checkpoint: Checkpoint, isLast: Bool, codec: LatentCodec) -> GIFFrame {
        let decoded = codec.decodeMeans(checkpoint.model, z: points, labels: labels)
        var canvas = layout.blankFrame(caption: epochCaption(checkpoint.epoch, of: plannedEpochs), subtitle: grid.subtitle)
        for number in 0..<layout.columns * layout.rows {
            layout.draw(decoded, number: number, column: number % layout.columns, row: number / layout.columns, on: &canvas)
        }
        return GIFFrame(canvas: canvas, delayCentiseconds: isLast ? layout.style.hold : layout.style.delay)
    }
}

/// "epoch  7/30": the epoch padded to the width of the planned count, so the caption keeps its
/// place from frame to frame.
func epochCaption(_ epoch: Int, of planned: Int) -> String {
    let number = String(epoch)
    return "epoch " + String(repeating: " ", count: max(0, String(planned).count - number.count)) + number + "/\(planned)"
}
