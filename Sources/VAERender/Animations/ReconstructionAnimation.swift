import VAECore

public struct ReconstructionOptions: Sendable, Equatable {
    /// Test images to show; nil: the first `defaultPerClass` images of each class.
    public var indices: [Int]?

    public static let defaultPerClass = 2

    public init(indices: [Int]? = nil) {
        self.indices = indices
    }
}

/// Fixed test characters above their reconstructions by each epoch's model, one frame per
/// epoch. A reconstruction decodes the encoder's mean μ(x), so it has no sampling noise; a
/// conditional model encodes and decodes each character with its true label.
public struct ReconstructionAnimation {
    /// Characters per row; more continue in another pair of rows.
    public static let maxColumns = 10

    public let indices: [Int]
    public let layout: TileLayout
    public let plannedEpochs: Int
    private let originals: [Float]

    public init(options: ReconstructionOptions, style: FrameStyle, test: ImageSet, plannedEpochs: Int, lastEpoch: Int) throws {
        let indices = options.indices ?? firstImagesOfEachClass(test.labels, perClass: ReconstructionOptions.defaultPerClass)
        try checkTestIndices(indices, flag: "--indices", testCount: test.count)
        self.indices = indices
        self.plannedEpochs = plannedEpochs
        originals = test.intensities(at: indices)
        layout = .grouped(items: indices.count, columns: ReconstructionAnimation.maxColumns, rowsPerGroup: 2, style: style,
                          widestCaption: EpochFigure.reconstructionLoss.widestCaption(last: lastEpoch, of: plannedEpochs),
                          subtitle: "input above, reconstruction below")
    }

    public func frame(_ checkpoint: Checkpoint, nextEpoch: Int?, test: ImageSet, codec: LatentCodec) -> GIFFrame {
        let reconstructions = codec.decodeMeans(checkpoint.model,
                                                z: codec.encodeMeans(checkpoint.model, images: test, indices: indices),
                                                labels: codec.config.conditional ? indices.map { test.labels[$0] } : nil)
        var canvas = layout.blankFrame(caption: EpochFigure.reconstructionLoss.caption(checkpoint.metrics, of: plannedEpochs))
        for number in indices.indices {
            let column = number % layout.columns, top = 2 * (number / layout.columns)
            layout.draw(originals, number: number, column: column, row: top, on: &canvas)
            layout.draw(reconstructions, number: number, column: column, row: top + 1, on: &canvas)
        }
        return GIFFrame(canvas: canvas, delayCentiseconds: layout.style.epochDelay(epoch: checkpoint.epoch, next: nextEpoch))
    }
}
