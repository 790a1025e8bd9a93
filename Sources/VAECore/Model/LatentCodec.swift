import Foundation

/// Encodes images (test or training) to their latent means and decodes latent points to pixel means,
/// in batches through one preallocated `Workspace`, for any checkpoint of one configuration.
public final class LatentCodec {
    public let config: VAEConfig
    public let batchCapacity: Int
    private let workspace: Workspace
    private let rowIndices: UnsafeMutablePointer<Int32>

    public init(config: VAEConfig, batchCapacity: Int = evaluationBatchSize) {
        precondition(batchCapacity >= 1)
        self.config = config
        self.batchCapacity = batchCapacity
        workspace = Workspace(layout: ParameterLayout(config), capacity: batchCapacity)
        rowIndices = .allocate(capacity: batchCapacity)
    }

    deinit {
        rowIndices.deallocate()
    }

    public var latent: Int { config.latentDim }

    /// The encoder's means μ(x) of `images[indices]` (μ(x, y) with their labels for a conditional
    /// model), row-major `[indices.count, latent]`.
    public func encodeMeans(_ model: VAEModel, images: ImageSet, indices: [Int]) -> [Float] {
        precondition(model.config == config, "the codec was made for another configuration")
        let latent = self.latent
        var means = [Float](repeating: 0, count: indices.count * latent)
        images.pixels.withUnsafeBufferPointer { pixels in
            means.withUnsafeMutableBufferPointer { means in
                for (first, rows) in Batches(count: indices.count, size: batchCapacity) {
                    for row in 0..<rows {
                        precondition((0..<images.count).contains(indices[first + row]), "image index out of range")
                        rowIndices[row] = Int32(indices[first + row])
                    }
                    workspace.loadImages(pixels.baseAddress!, indices: rowIndices, rows: rows)
                    images.labels.withUnsafeBufferPointer { workspace.loadLabels($0.baseAddress!, indices: rowIndices, rows: rows) }
                    model.encode(workspace, rows: rows)
                    // Each head row holds mu then log σ²; keep mu.
                    for row in 0..<rows {
                        let mu = workspace.head + row * 2 * latent
                        (means.baseAddress! + (first + row) * latent).update(from: mu, count: latent)
                    }
                }
            }
        }
        return means
    }

    /// The latent means of every image in `images`, in order.
    public func encodeMeans(_ model: VAEModel, images: ImageSet) -> [Float] {
        encodeMeans(model, images: images, indices: Array(0..<images.count))
    }

    /// The decoder's mean images of the latent points `z` (row-major, `latent` values each):
    /// row-major `[z.count / latent, 784]` intensities in [0, 1] (σ(logits) for the Bernoulli
    /// decoder, the Gaussian's mean clamped to [0, 1] otherwise). A conditional model needs the
    /// class of each point in `labels`; an unconditional one takes none.
    public func decodeMeans(_ model: VAEModel, z: [Float], labels: [UInt8]? = nil) -> [Float] {
        let size = VAEConfig.inputSize
        var images = [Float](repeating: 0, count: z.count / latent * size)
        images.withUnsafeMutableBufferPointer { images in
            decodeBatches(model, z: z, labels: labels) { first, rows in
                model.decoderMeans(workspace.decoderOutput, into: images.baseAddress! + first * size, rows: rows)
            }
        }
        return images
    }

    /// `decodeMeans` as pixel bytes (`pixelByte`), converted a batch at a time: a million samples
    /// take 784 MB, where their intensities would take four times as much.
    public func decodeMeanPixels(_ model: VAEModel, z: [Float], labels: [UInt8]? = nil) -> [UInt8] {
        let size = VAEConfig.inputSize
        var pixels = [UInt8](repeating: 0, count: z.count / latent * size)
        var means = [Float](repeating: 0, count: batchCapacity * size)
        pixels.withUnsafeMutableBufferPointer { pixels in
            means.withUnsafeMutableBufferPointer { means in
                decodeBatches(model, z: z, labels: labels) { first, rows in
                    model.decoderMeans(workspace.decoderOutput, into: means.baseAddress!, rows: rows)
                    for i in 0..<rows * size { pixels[first * size + i] = pixelByte(means[i]) }
                }
            }
        }
        return pixels
    }

    /// Decodes `z` a batch at a time, calling `body` with each batch's first row and row count
    /// while its decoder output is in the workspace.
    private func decodeBatches(_ model: VAEModel, z: [Float], labels: [UInt8]?, _ body: (_ first: Int, _ rows: Int) -> Void) {
        precondition(model.config == config, "the codec was made for another configuration")
        precondition(z.count % latent == 0, "z must hold whole latent points")
        let count = z.count / latent
        precondition(config.conditional ? labels?.count == count : labels == nil,
                     config.conditional ? "a conditional model decodes each point with its label" : "an unconditional model takes no labels")
        z.withUnsafeBufferPointer { z in
            for (first, rows) in Batches(count: count, size: batchCapacity) {
                workspace.z.update(from: z.baseAddress! + first * latent, count: rows * latent)
                labels?.withUnsafeBufferPointer { workspace.loadLabels($0.baseAddress!, first: first, rows: rows) }
                model.decode(workspace, rows: rows)
                body(first, rows)
            }
        }
    }
}
