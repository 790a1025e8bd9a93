import Foundation
import VAECore

public struct TraversalOptions: Sendable, Equatable {
    /// At most this many latent dimensions, one per row.
    public var dims: Int

    public static let defaultDims = 8

    public init(dims: Int = defaultDims) {
        precondition(dims >= 1)
        self.dims = dims
    }
}

/// The final model's active latent dimensions, one per row, highest average KL first (see
/// `LatentActivity`): in each row a few test characters are encoded to their means and one
/// coordinate is swept from the mean up to 2 standard deviations of the aggregate posterior
/// above it, down to 2 below and back to the mean, while the others stay put, all rows in step,
/// holding at both ends of the sweep. The first column names each row's dimension and its KL in
/// nats.
public struct TraversalAnimation {
    /// The first test character of each of the first few classes.
    public static let characters = 4
    /// The sweep reaches this far either side of the mean, in standard deviations of the aggregate
    /// posterior along the swept coordinate (`LatentActivity.aggregateSpread`), where 95% of
    /// a Gaussian's mass lies: further, the default model's strokes break up. In latent units,
    /// a VampPrior model spreads its images three times as wide as N(0, 1), so a sweep of fixed
    /// units would barely move a stroke there.
    public static let reach = 2.0
    /// Intervals from -reach to +reach: steps of 0.5 keep the motion readable at the default
    /// delay while the default run's GIF stays under 1 MB (more steps add frames, and bytes).
    public static let steps = 8

    /// The test images in the columns.
    public let indices: [Int]
    /// The latent dimensions in the rows, counting from 0.
    public let dimensions: [Int]
    public let activity: LatentActivity
    public let layout: TileLayout
    /// From the mean up, down to -reach and back: the first frame shows the means themselves.
    private let schedule = ThereAndBack(steps: TraversalAnimation.steps, startingAt: TraversalAnimation.steps / 2)
    /// The step (offset -reach + step · 2 reach / steps standard deviations) shown by each frame, in order.
    public var frameSteps: [Int] { schedule.frameSteps }

    /// `activity` is the final model's over the test set. With no active dimension the row of
    /// the highest KL is shown all the same, its label saying how little it carries.
    public init(options: TraversalOptions, style: FrameStyle, activity: LatentActivity, test: ImageSet) throws {
        let indices = Array(firstImagesOfEachClass(test.labels, perClass: 1).prefix(TraversalAnimation.characters))
        try checkTestIndices(indices, flag: "--traversal", testCount: test.count)
        self.indices = indices
        self.activity = activity
        let active = activity.activeDimensions
        let strongest = activity.klPerDimension.indices.max { activity.klPerDimension[$0] < activity.klPerDimension[$1] }!
        dimensions = active.isEmpty ? [strongest] : Array(active.prefix(options.dims))
        layout = TileLayout(columns: 1 + indices.count, rows: dimensions.count, style: style,
                            widestCaption: TraversalAnimation.caption(step: 0),
                            subtitle: "\(active.count)/\(activity.klPerDimension.count) active, KL in nats")
    }

    /// vae-render's line for the GIF: how many dimensions are active, and the KL of those shown,
    /// "32/32 dimensions active; the 8 rows' KL 7.31 to 3.61 nats" for the main job's run.
    public var note: String {
        let active = activity.activeDimensions.count, shown = dimensions.map { activity.klPerDimension[$0] }
        let range = [shown.max()!, shown.min()!].map(TraversalAnimation.natsLabel)
        let rows = shown.count == 1 ? "the row's KL \(range[0])" : "the \(shown.count) rows' KL \(range[0]) to \(range[1])"
        return "\(active)/\(activity.klPerDimension.count) dimensions active; \(rows) nats"
    }

    /// The offset from the mean at `step`, in standard deviations.
    public static func offset(step: Int) -> Double {
        -reach + 2 * reach * Double(step) / Double(steps)
    }

    /// The offset from the mean at `step` along `dimension`, in latent units. A spread that is not
    /// finite (an encoder whose log-variance overflows) gives none, rather than NaN at offset 0.
    public func latentOffset(step: Int, dimension: Int) -> Float {
        let spread = activity.aggregateSpread(of: dimension)
        return spread.isFinite ? Float(TraversalAnimation.offset(step: step) * spread) : 0
    }

    /// "mean - 0.50 sd": where the swept coordinate is, from the character's mean, with the sign
    /// apart so that it reads as an offset, not as a mean of -0.5.
    static func caption(step: Int) -> String {
        let offset = offset(step: step)
        return String(format: "mean %@ %.2f sd", offset < 0 ? "-" : "+", abs(offset))
    }

    /// Hands `body` the frames in order, each drawn as it is needed from the points decoded once.
    public func forEachFrame(model: VAEModel, test: ImageSet, codec: LatentCodec, _ body: (GIFFrame) throws -> Void) rethrows {
        let latent = codec.latent, steps = TraversalAnimation.steps
        let means = codec.encodeMeans(model, images: test, indices: indices)
        // Step-major, then row, then character: image number (step · rows + row) · characters + character.
        var points: [Float] = []
        points.reserveCapacity((steps + 1) * dimensions.count * indices.count * latent)
        for step in 0...steps {
            for dimension in dimensions {
                for character in indices.indices {
                    var point = Array(means[character * latent..<(character + 1) * latent])
                    point[dimension] += latentOffset(step: step, dimension: dimension)
                    points += point
                }
            }
        }
        // A conditional model draws each character with its own class throughout.
        let labels = codec.config.conditional
            ? Array(repeating: indices.map { test.labels[$0] }, count: (steps + 1) * dimensions.count).flatMap { $0 } : nil
        let decoded = codec.decodeMeans(model, z: points, labels: labels)

        try schedule.forEachFrame(style: layout.style, drawing: { step in
            var canvas = layout.blankFrame(caption: TraversalAnimation.caption(step: step))
            for (row, dimension) in dimensions.enumerated() {
                drawLabel(of: dimension, row: row, on: &canvas)
                for character in indices.indices {
                    layout.draw(decoded, number: (step * dimensions.count + row) * indices.count + character,
                                column: 1 + character, row: row, on: &canvas)
                }
            }
            return canvas
        }, body)
    }

    /// The row's first tile: the dimension counting from 1 ("z7"), and its KL below it (in nats,
    /// as the subtitle says once for every row), the two lines in the middle of the tile.
    private func drawLabel(of dimension: Int, row: Int, on canvas: inout Canvas) {
        let (x, y) = layout.tileOrigin(column: 0, row: row)
        let scale = layout.style.scale
        canvas.fillRect(x: x, y: y, width: layout.tileSide, height: layout.tileSide, index: FrameStyle.background)
        canvas.drawText("z\(dimension + 1)", x: x + scale, y: y + 5 * scale, scale: scale, index: Palette.accent)
        canvas.drawText(TraversalAnimation.natsLabel(activity.klPerDimension[dimension]), x: x + scale, y: y + 14 * scale,
                        scale: scale, index: FrameStyle.subtitleColor)
    }

    /// A KL in at most four characters, so that it fits its tile: "0.42", "12.3", "153", ">999";
    /// a dimension shown though none is active may round to just below 0, shown as "0.00"; NaN,
    /// which `max` would pass on as ">999", is "nan".
    public static func natsLabel(_ nats: Double) -> String {
        guard !nats.isNaN else { return "nan" }
        let nats = max(nats, 0)
        return nats < 999.5 ? String(format: nats < 9.995 ? "%.2f" : nats < 99.95 ? "%.1f" : "%.0f", nats) : ">999"
    }
}
