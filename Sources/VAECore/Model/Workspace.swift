/// Activations and their gradients for up to `capacity` images and `sampleCapacity` latent
/// samples, allocated once.
///
/// The encoder's buffers have a row per image, plus one per pseudo-input of a VampPrior (encoded
/// after the images, whose posteriors are the prior's components); the decoder's have a row per
/// latent sample: one per image for the ELBO, k per image for the importance-weighted bound.
/// A training step only reads and writes these buffers, so it allocates nothing.
public final class Workspace: @unchecked Sendable {
    /// The model layout the buffers are cut for; a model refuses a workspace of another.
    public let layout: ParameterLayout
    /// Images per forward pass.
    public let capacity: Int
    /// Latent samples per forward pass (decoder rows).
    public let sampleCapacity: Int
    /// The VampPrior's pseudo-inputs, encoded after the images (0 for the normal prior).
    public let pseudoInputs: Int
    private let storage: FloatBuffer

    /// Network input, [capacity + pseudoInputs, 784], pixels in [0, 1]; a VampPrior's
    /// pseudo-inputs are copied in after the images.
    public let input: Floats
    /// Output of each encoder layer (after its activation); the last one is `head`.
    public let encoderOutputs: [Floats]
    /// [capacity + pseudoInputs, 2·latent]: mu, then log σ², per row.
    public let head: Floats
    /// The N(0, I) noise of the reparameterisation, [sampleCapacity, latent].
    public let eps: Floats
    public let z: Floats
    /// Output of each decoder layer (after its activation); the last one is `decoderOutput`.
    public let decoderOutputs: [Floats]
    /// Decoder output, [sampleCapacity, 784 · outputsPerPixel]: Bernoulli logits, or Gaussian means
    /// (then log-variances, for the learned Gaussian) per row.
    public let decoderOutput: Floats

    public let dEncoderOutputs: [Floats]
    public let dHead: Floats
    public let dZ: Floats
    public let dDecoderOutputs: [Floats]
    public let dDecoderOutput: Floats

    /// The convolutions' scratch for max(encoder rows, sampleCapacity) images
    /// (`ConvShape.scratchSize(images:)`), which each convolution fills and uses within one
    /// forward or backward call.
    public let convScratch: Floats

    /// The class of each row; a conditional model reads it.
    public let labels: UnsafeMutablePointer<UInt8>
    /// The encoder's first input: for a conditional model `input` with each row's one-hot label
    /// concatenated (see `concatenateOneHot`), otherwise `input` itself.
    public let encoderInput: Floats
    /// The decoder's first input: for a conditional model `z` with the one-hot labels, otherwise `z`.
    public let decoderInput: Floats
    /// The gradient of `decoderInput`: `dZ` itself unless the model is conditional.
    public let dDecoderInput: Floats

    /// The VampPrior's log-density buffers (nil for the normal prior).
    public let mixture: MixturePriorScratch?
    /// [sampleCapacity]: the normalised importance weight of each sample of an image.
    public let importanceWeights: Floats
    /// [sampleCapacity] each, in Double: log p(x|z), log p(z) and log q(z|x) of every sample.
    public let logLikelihoods: UnsafeMutablePointer<Double>
    public let logPriors: UnsafeMutablePointer<Double>
    public let logPosteriors: UnsafeMutablePointer<Double>

    /// The floats `init` allocates for its buffers but the few per-row Doubles and labels, so
    /// that a size that cannot fit is refused before anything is allocated.
    public static func storageFloats(layout: ParameterLayout, capacity: Int, sampleCapacity: Int) -> Int {
        let latent = layout.head.outputs / 2, pseudoInputs = layout.pseudoInputs
        let encoderRows = capacity + pseudoInputs
        let conditional = layout.labelInputs > 0
        let encoderInputWidth = conditional ? layout.encoder[0].inputs : 0
        let decoderInputWidth = conditional ? layout.decoder[0].inputs : 0
        let mixtureWidths = pseudoInputs > 0 ? MixturePriorScratch.widths(components: pseudoInputs, latent: latent) : (perRow: 0, perComponent: 0)
        let encoderRowWidth = VAEConfig.inputSize + 2 * layout.encoder.map(\.outputs).reduce(0, +) + encoderInputWidth
        let sampleRowWidth = 2 * layout.decoder.map(\.outputs).reduce(0, +) + 3 * latent + 2 * decoderInputWidth + mixtureWidths.perRow + 1
        return encoderRows * encoderRowWidth + sampleCapacity * sampleRowWidth
            + layout.convScratchSize(images: max(encoderRows, sampleCapacity)) + pseudoInputs * mixtureWidths.perComponent
    }

    public init(layout: ParameterLayout, capacity: Int, sampleCapacity: Int? = nil) {
        let samples = sampleCapacity ?? capacity
        self.layout = layout
        self.capacity = capacity
        self.sampleCapacity = samples
        let latent = layout.head.outputs / 2
        pseudoInputs = layout.pseudoInputs
        let encoderRows = capacity + pseudoInputs
        let encoderWidths = layout.encoder.map(\.outputs)
        let decoderWidths = layout.decoder.map(\.outputs)
        let conditional = layout.labelInputs > 0
        let encoderInputWidth = conditional ? layout.encoder[0].inputs : 0
        let decoderInputWidth = conditional ? layout.decoder[0].inputs : 0
        storage = FloatBuffer(count: Workspace.storageFloats(layout: layout, capacity: capacity, sampleCapacity: samples))
        labels = .allocate(capacity: max(capacity, samples, 1))
        labels.initialize(repeating: 0, count: max(capacity, samples, 1))
        logLikelihoods = .allocate(capacity: 3 * max(samples, 1))
        logLikelihoods.initialize(repeating: 0, count: 3 * max(samples, 1))
        logPriors = logLikelihoods + max(samples, 1)
        logPosteriors = logPriors + max(samples, 1)

        var slices = RowSlices(of: storage, rows: 1)
        input = slices.take(encoderRows * VAEConfig.inputSize)
        encoderOutputs = encoderWidths.map { slices.take(encoderRows * $0) }
        head = encoderOutputs[encoderOutputs.count - 1]
        eps = slices.take(samples * latent)
        z = slices.take(samples * latent)
        decoderOutputs = decoderWidths.map { slices.take(samples * $0) }
        decoderOutput = decoderOutputs[decoderOutputs.count - 1]
        dEncoderOutputs = encoderWidths.map { slices.take(encoderRows * $0) }
        dHead = dEncoderOutputs[dEncoderOutputs.count - 1]
        dZ = slices.take(samples * latent)
        dDecoderOutputs = decoderWidths.map { slices.take(samples * $0) }
        dDecoderOutput = dDecoderOutputs[dDecoderOutputs.count - 1]
        convScratch = slices.take(layout.convScratchSize(images: max(encoderRows, samples)))
        encoderInput = conditional ? slices.take(encoderRows * encoderInputWidth) : input
        decoderInput = conditional ? slices.take(samples * decoderInputWidth) : z
        dDecoderInput = conditional ? slices.take(samples * decoderInputWidth) : dZ
        mixture = pseudoInputs > 0 ? MixturePriorScratch(rows: samples, components: pseudoInputs, latent: latent, from: &slices) : nil
        importanceWeights = slices.take(samples)
        precondition(slices.isExhausted)
    }

    deinit {
        labels.deallocate()
        logLikelihoods.deallocate()
    }

    /// Copies the labels of the images `loadImages(_:indices:rows:)` loads.
    public func loadLabels(_ source: UnsafePointer<UInt8>, indices: UnsafePointer<Int32>, rows: Int) {
        precondition(rows <= capacity)
        for r in 0..<rows { labels[r] = source[Int(indices[r])] }
    }

    /// Copies `rows` consecutive labels starting at `first`.
    public func loadLabels(_ source: UnsafePointer<UInt8>, first: Int, rows: Int) {
        precondition(rows <= capacity)
        labels.update(from: source + first, count: rows)
    }

    /// Copies images from a UInt8 dataset into `input`, scaled to [0, 1].
    public func loadImages(_ pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int32>, rows: Int) {
        precondition(rows <= capacity)
        struct Job: SplitJob {
            let input: Floats, pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int32>
            func run(part: Int, range rows: Range<Int>) {
                let size = VAEConfig.inputSize
                for r in rows {
                    let source = pixels + Int(indices[r]) * size
                    let target = input + r * size
                    for i in 0..<size { target[i] = intensity(source[i]) }
                }
            }
        }
        ComputeThreads.shared.forEachPart(of: rows, alignment: 16, parts: ComputeThreads.shared.streamingParts,
                                          Job(input: input, pixels: pixels, indices: indices))
    }

    /// Replaces each input pixel p by a Bernoulli(p) draw, for dynamic binarisation.
    public func binarizeInput(rows: Int, random: inout Random) {
        for i in 0..<rows * VAEConfig.inputSize {
            input[i] = random.nextUniform() < input[i] ? 1 : 0
        }
    }

    /// Copies `rows` consecutive images starting at `first`.
    public func loadImages(_ pixels: UnsafePointer<UInt8>, first: Int, rows: Int) {
        precondition(rows <= capacity)
        let size = VAEConfig.inputSize
        let source = pixels + first * size
        for i in 0..<rows * size { input[i] = intensity(source[i]) }
    }

    /// Loads `set` in order, `capacity` images at a time with their labels, and calls `body`
    /// with each batch's first image and its number of images once the workspace holds them.
    public func forEachBatch(of set: ImageSet, _ body: (_ first: Int, _ rows: Int) -> Void) {
        set.pixels.withUnsafeBufferPointer { pixels in
            set.labels.withUnsafeBufferPointer { labels in
                for (first, rows) in Batches(count: set.count, size: capacity) {
                    loadImages(pixels.baseAddress!, first: first, rows: rows)
                    loadLabels(labels.baseAddress!, first: first, rows: rows)
                    body(first, rows)
                }
            }
        }
    }
}
