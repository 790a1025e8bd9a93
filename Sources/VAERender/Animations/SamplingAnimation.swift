import Foundation
import VAECore

/// Where the sampling animation's points come from.
public enum SamplingSource: Sendable, Equatable {
    /// The run's own standard sampler (`SamplerKind.standard(for:)`).
    case standard
    /// Drawn once from this sampler, fitted to the final model.
    case sampler(SamplerKind)
    /// The principal-plane grid (for a latent of at most 2 dimensions, the N(0, I) quantiles).
    case plane

    /// The sampler a run of `config` draws from, or nil for the grid.
    public func kind(for config: VAEConfig) -> SamplerKind? {
        switch self {
        case .standard: return .standard(for: config)
        case .sampler(let kind): return kind
        case .plane: return nil
        }
    }
}

public struct SamplingOptions: Sendable, Equatable {
    /// The frame shows grid x grid decoded points.
    public var grid: Int
    public var source: SamplingSource
    /// Seed of the sampler's fit and of the draw (for a conditional model, of the columns' points).
    public var seed: UInt64
    /// The samplers' spread is scaled by it (the covariances by its square).
    public var temperature: Double

    public init(grid: Int = 5, source: SamplingSource = .standard, seed: UInt64 = 0,
                temperature: Double = defaultSamplingTemperature) {
        precondition(grid >= 1 && temperature > 0)
        self.grid = grid
        self.source = source
        self.seed = seed
        self.temperature = temperature
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
    /// Drawn once from a sampler, from a seed.
    case sampled(SamplerKind, seed: UInt64)
    /// A conditional model without a sampler: one class per row, top to bottom, and one
    /// z ~ N(0, I) from a seed per column, the same in every row, so that a column shows one
    /// style written as every class.
    case classRows(seed: UInt64)

    /// Which of the cases the points are, without what is fitted, encoded or drawn for them.
    enum Kind: Equatable {
        case priorQuantiles, principalPlane, sampled(SamplerKind), classRows

        /// The request and the run's configuration decide it alone, so that a frame too large is
        /// refused (`SamplingAnimation.layout`) before any sampler is fitted.
        init(_ options: SamplingOptions, config: VAEConfig) {
            if let kind = options.source.kind(for: config) {
                self = .sampled(kind)
            } else if config.conditional {
                self = .classRows
            } else {
                self = config.latentDim <= 2 ? .priorQuantiles : .principalPlane
            }
        }

        /// The frame's subtitle; a conditional model's rows are its classes whatever the points. A
        /// sampler that takes a temperature names it: the same model gives sharper or wilder
        /// samples at another one, and the GIF is often seen without the command that made it.
        func subtitle(conditional: Bool, temperature: Double) -> String {
            let classRows = "rows = classes 0-\(VAEConfig.classes - 1)"
            switch self {
            case .priorQuantiles: return "N(0,I) quantiles"
            case .principalPlane: return "PC1 x PC2"
            case .classRows: return classRows
            case .sampled(let kind):
                let name = switch kind {
                case .prior: "N(0,I)"
                case .gmm: "GMM"
                case .gmmDiagonal: "GMM diag"
                case .vamp: "VampPrior"
                case .twoStage: "two-stage"
                }
                let source = "z ~ \(name)" + (kind.takesTemperature ? ", T=\(temperature)" : "")
                return conditional ? source + ", " + classRows : source
            }
        }
    }
}

/// The grid the sampling animation fills: grid x grid, or for a conditional model one row per
/// class of grid² / 10 columns (rounded up: 3 for the default 5x5, which keeps the GIF about as small).
func samplingCells(_ options: SamplingOptions, conditional: Bool) -> (columns: Int, rows: Int) {
    let side = options.grid, classes = VAEConfig.classes
    return conditional ? ((side * side + classes - 1) / classes, classes) : (side, side)
}

/// The sampling animation's latent points, row-major in reading order, where they come from,
/// and the grid they fill (`samplingCells`), each point with its row's class for a conditional
/// model, and what the sampler was fitted as ("gmm: 32 components, temperature 1.15"; nil for
/// a grid). `final` (the model the samplers are fitted to and the plane is found with), `test`
/// and `training` are read only where the source needs them.
public func samplingPoints(_ options: SamplingOptions, final: VAEModel, test: ImageSet, training: ImageSet?,
                           codec: LatentCodec) throws
    -> (grid: LatentGrid, samples: LatentSamples, columns: Int, rows: Int, sampler: String?) {
    let side = options.grid, latent = codec.latent, classes = VAEConfig.classes
    let conditional = codec.config.conditional
    let (columns, rows) = samplingCells(options, conditional: conditional)
    var random = Random(seed: options.seed)
    let coordinates = gridCoordinates(count: side)
    switch LatentGrid.Kind(options, config: codec.config) {
    case .sampled(let kind):
        // A conditional model's sampler draws in blocks by class: row by row.
        let sampler = try makeSampler(kind, model: final, codec: codec, training: training, seed: options.seed,
                                      temperature: options.temperature)
        return (.sampled(kind, seed: options.seed), sampler.sample(count: columns * rows, random: &random), columns, rows,
                "\(kind.rawValue): " + samplerDescription(kind, sampler, temperature: options.temperature))
    case .classRows:
        var styles = [Float](repeating: 0, count: columns * latent)
        styles.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
        let labels = (0..<classes).flatMap { [UInt8](repeating: UInt8($0), count: columns) }
        return (.classRows(seed: options.seed),
                LatentSamples(latent: latent, z: Array((0..<classes).map { _ in styles }.joined()), labels: labels), columns, rows, nil)
    case .priorQuantiles:
        let points = latent == 1 ? gridCoordinates(count: side * side).map(Float.init) : (0..<side).flatMap { row in
            (0..<side).flatMap { column in [Float(coordinates[column]), Float(coordinates[side - 1 - row])] }
        }
        return (.priorQuantiles, LatentSamples(latent: latent, z: points), side, side, nil)
    case .principalPlane:
        guard test.count > 0 else {
            throw VAEError(.usage, "the sampling plane comes from the encoded test set, which is empty; use a --sampler")
        }
        let means = codec.encodeMeans(final, images: test)
        // An infinite mean would give the plane NaN directions, which the eigensolver refuses with a crash.
        try checkFinite(means, width: latent, computedBy: final) { "the final model's mean of test image \($0)" }
        let plane = PrincipalPlane(points: means, dimension: latent)
        let points = (0..<side).flatMap { row in
            (0..<side).flatMap { column in plane.point(coordinates[column], coordinates[side - 1 - row]) }
        }
        return (.principalPlane(plane), LatentSamples(latent: latent, z: points), side, side, nil)
    }
}

/// One fixed set of latent points decoded by every epoch's model, one frame per epoch: drawn
/// once from a sampler, or a grid whose columns run along the first latent axis (or principal
/// direction) left to right and whose rows run along the second one, highest at the top; for a
/// conditional model, one row per class.
public struct SamplingAnimation {
    public let grid: LatentGrid
    /// What the points were drawn from, as fitted: "gmm: 32 components, temperature 1.15" (nil for a grid).
    public let sampler: String?
    /// The latent points, row-major in reading order: grid², or grid per class for a conditional model.
    public let points: [Float]
    /// The class each point is decoded with, for a conditional model.
    public let labels: [UInt8]?
    public let layout: TileLayout
    public let plannedEpochs: Int

    /// `final`, `test` and `training` are read as `samplingPoints` needs them.
    public init(options: SamplingOptions, style: FrameStyle, final: VAEModel, test: ImageSet, training: ImageSet? = nil,
                codec: LatentCodec, plannedEpochs: Int, lastEpoch: Int) throws {
        let sampled = try samplingPoints(options, final: final, test: test, training: training, codec: codec)
        grid = sampled.grid
        sampler = sampled.sampler
        points = sampled.samples.z
        labels = sampled.samples.labels
        // A frame decodes one point per cell; fewer would read past the decoded images.
        precondition(points.count == sampled.columns * sampled.rows * codec.latent, "\(points.count / codec.latent) points for "
                     + "\(sampled.columns * sampled.rows) cells")
        self.plannedEpochs = plannedEpochs
        layout = SamplingAnimation.layout(options, style: style, config: codec.config, plannedEpochs: plannedEpochs,
                                          lastEpoch: lastEpoch)
    }

    /// The frame's layout, which the request and the run's configuration decide alone, so that
    /// a frame too large is refused before any sampler is fitted.
    public static func layout(_ options: SamplingOptions, style: FrameStyle, config: VAEConfig, plannedEpochs: Int,
                              lastEpoch: Int) -> TileLayout {
        let (columns, rows) = samplingCells(options, conditional: config.conditional)
        return TileLayout(columns: columns, rows: rows, style: style,
                          widestCaption: EpochFigure.testLoss.widestCaption(last: lastEpoch, of: plannedEpochs),
                          subtitle: LatentGrid.Kind(options, config: config).subtitle(conditional: config.conditional,
                                                                                    temperature: options.temperature))
    }

    public func frame(_ checkpoint: Checkpoint, nextEpoch: Int?, codec: LatentCodec) -> GIFFrame {
        let decoded = codec.decodeMeans(checkpoint.model, z: points, labels: labels)
        var canvas = layout.blankFrame(caption: EpochFigure.testLoss.caption(checkpoint.metrics, of: plannedEpochs))
        for number in 0..<layout.columns * layout.rows {
            layout.draw(decoded, number: number, column: number % layout.columns, row: number / layout.columns, on: &canvas)
        }
        return GIFFrame(canvas: canvas, delayCentiseconds: layout.style.epochDelay(epoch: checkpoint.epoch, next: nextEpoch))
    }
}
