import Foundation
import VAECore

public struct LatentMapOptions: Sendable, Equatable {
    /// The map's points: the first `images` test images, which the test set must hold; nil for
    /// the first `defaultImages`, or all of them when the set is smaller.
    public var images: Int?

    public static let defaultImages = 2000

    public init(images: Int? = nil) {
        precondition(images.map { $0 >= 1 } ?? true)
        self.images = images
    }
}

/// The one plane every epoch's encoder means are projected onto, fixed by the final model.
public enum MapProjection: Sendable, Equatable {
    /// A latent of one or two dimensions: its own coordinates (with one, the vertical axis is 0,
    /// and the map gives each class a row of its own instead: `LatentMapAnimation.laneOfEachDot`).
    case coordinates(dimension: Int)
    /// More dimensions: the two leading principal directions of the final model's means of the
    /// map's images, through their mean.
    case principalPlane(PrincipalPlane)

    /// The map coordinates, horizontal then vertical, of each latent point in `means`.
    public func project(_ means: [Float], latent: Int) -> [(x: Double, y: Double)] {
        precondition(means.count % latent == 0, "means must hold whole latent points")
        return (0..<means.count / latent).map { n in
            let point = means[n * latent..<(n + 1) * latent]
            switch self {
            case .coordinates(let dimension):
                return (Double(point[point.startIndex]), dimension == 2 ? Double(point[point.startIndex + 1]) : 0)
            case .principalPlane(let plane):
                return plane.coordinates(of: point)
            }
        }
    }

    /// A 1-D latent: the map's rows are the classes.
    var rowPerClass: Bool { self == .coordinates(dimension: 1) }

    /// The names of the horizontal and vertical axes; a 1-D latent has no vertical one.
    var axisNames: (x: String, y: String?) {
        switch self {
        case .coordinates(let dimension): return ("z1", dimension == 2 ? "z2" : nil)
        case .principalPlane: return ("PC1", "PC2")
        }
    }
}

/// Text on the latent map's plot, at its top-left corner.
public struct PlotLabel: Sendable, Equatable {
    public let text: String
    public let x: Int
    public let y: Int

    /// The black box behind the text, `scale` clear of it on every side, so that no dot under
    /// a label reads as part of a letter ("PC1" as "RC1").
    public func box(scale: Int) -> (x: Int, y: Int, width: Int, height: Int) {
        (x - scale, y - scale, BitmapFont.textWidth(text, scale: scale) + 2 * scale, BitmapFont.textHeight(text, scale: scale) + 2 * scale)
    }
}

/// The map's images encoded by each epoch's model, one frame per epoch: a dot per image in its
/// class's colour, on one fixed projection and one fixed axis range for every frame, so that
/// the dots move only as the encoder does. Dots are drawn in image order, later over earlier;
/// the legend beside the plot shows each class as its first test character in its colour. A
/// 1-D latent has no second axis to spread the dots over, so each class gets the row beside its
/// legend character, and a class's dots are spread up and down that row (`laneOfEachDot`).
public struct LatentMapAnimation {
    /// The plot is as wide and as tall as this many tiles; the legend is one more column.
    static let plotTiles = 10
    /// Neighbours that vote in each frame's `nearestNeighbourAccuracy`.
    public static let neighbours = 5
    /// The grid lines at the ticks, just above the plot's black.
    static let gridColor: UInt8 = 40

    /// The test images shown, in drawing order.
    public let indices: [Int]
    public let projection: MapProjection
    /// Both axes span -extent...extent, a tick value; points beyond it are left out of a frame
    /// rather than rescaling the map.
    public let extent: Double
    /// Where the grid lines and axis labels go, on both axes.
    public let ticks: [Double]
    public let layout: TileLayout
    public let plannedEpochs: Int
    /// The class of each image shown, in drawing order.
    public let classes: [Int]
    /// A 1-D latent's map: the row of the plot each image's dot is in, that of its class's legend
    /// character (nil for a plane).
    public let laneOfEachDot: [Int]?
    /// The final model's `nearestNeighbourAccuracy` over the map's images (nil for `neighbours`
    /// images or fewer).
    public let finalAccuracy: Double?
    /// How many images of its class come before each image shown: its place in its row.
    private let rankInClass: [Int]
    /// The classes in the test set, ascending, with their first test characters as intensities.
    private let legendClasses: [Int]
    private let legendCharacters: [Float]

    /// The projection and range come from `final`'s means of the map's images: the axis range
    /// covers 99% of them with a tenth to spare, rounded up to a tick.
    public init(options: LatentMapOptions, style: FrameStyle, final: Checkpoint, test: ImageSet, codec: LatentCodec,
                plannedEpochs: Int) throws {
        if let asked = options.images, asked > test.count, test.count > 0 {
            throw VAEError(.usage, "--map-images \(asked): the test set has only \(count: test.count, "image")")
        }
        let indices = Array(0..<(options.images ?? min(LatentMapOptions.defaultImages, test.count)))
        try checkTestIndices(indices, flag: "--map-images", testCount: test.count)
        self.indices = indices
        classes = indices.map { Int(test.labels[$0]) }
        let latent = codec.latent
        let finalMeans = codec.encodeMeans(final.model, images: test, indices: indices)
        try checkFinite(finalMeans, width: latent, computedBy: final.model) { "the final model's mean of test image \($0)" }
        projection = latent <= 2 ? .coordinates(dimension: latent) : .principalPlane(PrincipalPlane(points: finalMeans, dimension: latent))
        finalAccuracy = nearestNeighbourAccuracy(finalMeans, dimension: latent, labels: classes,
                                                 k: LatentMapAnimation.neighbours)

        let reach = projection.project(finalMeans, latent: latent).map { max(abs($0.x), abs($0.y)) }.sorted()
        let covered = reach[min(reach.count - 1, Int((0.99 * Double(reach.count)).rounded(.down)))]
        // A collapsed encoder puts every mean at one point; the map still spans ±0.2 (niceTicks takes a span of at least 1).
        let rough = niceTicks(low: -max(1.1 * covered, 0.1), high: max(1.1 * covered, 0.1))
        // The ticks are multiples of one step; computed as such, 0 is exactly 0.
        let step = (rough[rough.count - 1] - rough[0]) / Double(rough.count - 1)
        ticks = rough.map { ($0 / step).rounded() * step }
        extent = ticks[ticks.count - 1]

        legendClasses = Set(test.labels).sorted().map(Int.init)
        let legendRow = Dictionary(uniqueKeysWithValues: legendClasses.enumerated().map { ($0.element, $0.offset) })
        laneOfEachDot = projection.rowPerClass ? classes.map { legendRow[$0]! } : nil
        var seen: [Int: Int] = [:]
        rankInClass = classes.map { label in
            defer { seen[label, default: 0] += 1 }
            return seen[label, default: 0]
        }
        legendCharacters = test.intensities(at: firstImagesOfEachClass(test.labels, perClass: 1))
        self.plannedEpochs = plannedEpochs
        layout = TileLayout(columns: LatentMapAnimation.plotTiles + 1, rows: LatentMapAnimation.plotTiles, style: style,
                            widestCaption: widestEpochCaption(last: final.epoch, of: plannedEpochs),
                            subtitle: LatentMapAnimation.subtitle(projection, finalEpoch: final.epoch))
    }

    /// The plot's square: its top-left corner and side, over the first `plotTiles` columns.
    public var plot: (x: Int, y: Int, side: Int) {
        let (x, y) = layout.tileOrigin(column: 0, row: 0)
        return (x, y, layout.tileOrigin(column: LatentMapAnimation.plotTiles - 1, row: 0).x + layout.tileSide - x)
    }

    /// Each dot is a square of this side.
    public var dotSide: Int { layout.style.scale + 1 }

    /// "PC1 x PC2 of epoch 30", "z1 x z2" or "z1 by class": what the axes show.
    public var subtitle: String { layout.subtitle }

    private static func subtitle(_ projection: MapProjection, finalEpoch: Int) -> String {
        let names = projection.axisNames
        let plane = names.y.map { "\(names.x) x \($0)" } ?? names.x + " by class"
        if case .principalPlane = projection { return plane + " of epoch \(finalEpoch)" }
        return plane
    }

    /// Pixels from the plot's left (or bottom) edge to the dot of a point at `value` on an axis.
    private func offset(_ value: Double) -> Int {
        Int(((value + extent) / (2 * extent) * Double(plot.side - dotSide)).rounded())
    }

    /// Pixels from the plot's left (or bottom) edge to the grid line at `value`, through the
    /// middle of the dots there.
    private func gridLine(_ value: Double) -> Int {
        offset(value) + dotSide / 2
    }

    /// The top-left corner of the dot of the `number`th image shown, at map coordinates `point`;
    /// nil outside the range. On a 1-D latent's map the dot is in its class's row, at a height
    /// the golden ratio's multiples give it by its place among its class's images, which spreads
    /// the first dots of every class evenly over the row and each later one between them. The
    /// bottom row's dots stay above the x axis's labels, which would otherwise hide some of them.
    public func dotOrigin(_ point: (x: Double, y: Double), number: Int) -> (x: Int, y: Int)? {
        guard abs(point.x) <= extent, abs(point.y) <= extent else { return nil }
        let plot = self.plot
        guard let lane = laneOfEachDot?[number] else {
            return (plot.x + offset(point.x), plot.y + plot.side - dotSide - offset(point.y))
        }
        let height = (Double(rankInClass[number]) * 0.618_033_988_749_894_8).truncatingRemainder(dividingBy: 1)
        let top = layout.tileOrigin(column: 0, row: lane).y
        let bottom = min(top + layout.tileSide, xLabelsY - layout.style.scale)  // the labels' boxes reach `scale` above them
        return (plot.x + offset(point.x), top + Int((height * Double(bottom - top - dotSide)).rounded()))
    }

    /// The top of the x axis's labels, whose bottoms (digits do not descend) sit `2 · scale` above the plot's bottom edge.
    private var xLabelsY: Int {
        plot.y + plot.side - (BitmapFont.glyphHeight + 2) * layout.style.scale
    }

    /// The rows of the plot where its horizontal lines go: at the ticks, or on a 1-D latent's map
    /// in the gutters between the classes' rows.
    private var horizontalLines: [Int] {
        guard laneOfEachDot != nil else { return ticks.map { plot.side - 1 - gridLine($0) } }
        return (1..<legendClasses.count).map { layout.tileOrigin(column: 0, row: $0).y - plot.y - layout.style.gutter / 2 - 1 }
    }

    /// "5-NN 84.2%", an epoch's `nearestNeighbourAccuracy`, in the plot's top-right corner, which
    /// the other labels leave free.
    public func accuracyLabel(_ accuracy: Double) -> PlotLabel {
        let plot = self.plot, scale = layout.style.scale
        let text = "\(LatentMapAnimation.neighbours)-NN " + String(format: "%.1f%%", 100 * accuracy)
        return PlotLabel(text: text, x: plot.x + plot.side - BitmapFont.textWidth(text, scale: scale) - 2 * scale, y: plot.y + 2 * scale)
    }

    /// The labels drawn over the dots: each x tick's value right of its line along the bottom,
    /// each y tick's above its line along the left (the shared corner's -extent once), and the
    /// axis names at the far ends of the lines through 0. Every text keeps `2 · scale` from the
    /// plot's edges, so that its box leaves a line of the plot between it and the frame.
    public var labels: [PlotLabel] {
        let plot = self.plot, scale = layout.style.scale
        let textHeight = BitmapFont.glyphHeight * scale, right = plot.x + plot.side, bottom = plot.y + plot.side
        let top = plot.y + 2 * scale
        var labels: [PlotLabel] = []
        for tick in ticks {
            let text = tickLabel(tick), width = BitmapFont.textWidth(text, scale: scale), line = gridLine(tick)
            labels.append(PlotLabel(text: text, x: min(plot.x + line + 2 * scale, right - width - 2 * scale), y: xLabelsY))
            if tick != ticks[0] && laneOfEachDot == nil {
                labels.append(PlotLabel(text: text, x: plot.x + 2 * scale, y: max(bottom - 1 - line - textHeight - scale, top)))
            }
        }
        // A 1-D latent's axis is named in the subtitle: no line through 0 to put it on.
        guard laneOfEachDot == nil else { return labels }
        let zero = gridLine(0), names = projection.axisNames
        labels.append(PlotLabel(text: names.x, x: right - BitmapFont.textWidth(names.x, scale: scale) - 2 * scale,
                                y: bottom - 1 - zero - textHeight - scale))
        if let name = names.y {
            labels.append(PlotLabel(text: name, x: plot.x + zero + 2 * scale, y: top))
        }
        return labels
    }

    /// Most of a render's time goes to this encoding, 2,000 images an epoch by default, whose
    /// products `sgemm` splits among the compute threads as in training.
    public func frame(_ checkpoint: Checkpoint, nextEpoch: Int?, test: ImageSet, codec: LatentCodec) -> GIFFrame {
        let means = codec.encodeMeans(checkpoint.model, images: test, indices: indices)
        let points = projection.project(means, latent: codec.latent)
        var canvas = layout.blankFrame(caption: epochCaption(checkpoint.epoch, of: plannedEpochs))
        let plot = self.plot, scale = layout.style.scale
        canvas.fillRect(x: plot.x, y: plot.y, width: plot.side, height: plot.side, index: 0)
        for line in ticks.map(gridLine) {
            canvas.fillRect(x: plot.x + line, y: plot.y, width: 1, height: plot.side, index: LatentMapAnimation.gridColor)
        }
        for line in horizontalLines {
            canvas.fillRect(x: plot.x, y: plot.y + line, width: plot.side, height: 1, index: LatentMapAnimation.gridColor)
        }
        for (number, (point, label)) in zip(points, classes).enumerated() {
            guard let origin = dotOrigin(point, number: number) else { continue }
            canvas.fillRect(x: origin.x, y: origin.y, width: dotSide, height: dotSide, index: Palette.classIndex(label))
        }
        let accuracy = nearestNeighbourAccuracy(means, dimension: codec.latent, labels: classes, k: LatentMapAnimation.neighbours)
            .map(accuracyLabel)
        for label in labels + (accuracy.map { [$0] } ?? []) {
            let box = label.box(scale: scale)
            canvas.fillRect(x: box.x, y: box.y, width: box.width, height: box.height, index: 0)
            canvas.drawText(label.text, x: label.x, y: label.y, scale: scale, index: FrameStyle.subtitleColor)
        }

        drawLegend(on: &canvas)
        return GIFFrame(canvas: canvas, delayCentiseconds: layout.style.epochDelay(epoch: checkpoint.epoch, next: nextEpoch))
    }

    /// The legend column: each class's first test character, its strokes in shades of the class
    /// colour, one tile per class from the top; tiles without a class stay black.
    private func drawLegend(on canvas: inout Canvas) {
        let column = LatentMapAnimation.plotTiles, size = VAEConfig.inputSize, side = VAEConfig.imageSide
        for row in 0..<layout.rows {
            let (x, y) = layout.tileOrigin(column: column, row: row)
            guard row < legendClasses.count else {
                canvas.fillRect(x: x, y: y, width: layout.tileSide, height: layout.tileSide, index: 0)
                continue
            }
            let label = legendClasses[row]
            legendCharacters.withUnsafeBufferPointer { characters in
                canvas.drawImage(UnsafeBufferPointer(rebasing: characters[row * size..<(row + 1) * size]), width: side, height: side,
                                 x: x, y: y, scale: layout.style.scale) { intensity in
                    let shade = Int((min(max(intensity, 0), 1) * Float(Palette.classShades)).rounded())
                    return shade == 0 ? 0 : Palette.classIndex(label, shade: shade)
                }
            }
        }
    }
}
