/// Activations and their gradients for up to `capacity` images, allocated once.
///
/// A training step only reads and writes these buffers, so it allocates nothing.
public final class Workspace: @unchecked Sendable {
    public let capacity: Int
    public let latent: Int
    private let storage: FloatBuffer

    /// Network input, [capacity, 784], pixels in [0, 1].
    public let input: Floats
    /// Output of each encoder layer (after its activation); the last one is `head`.
    public let encoderOutputs: [Floats]
    /// [capacity, 2·latent]: mu, then log σ², per row.
    public let head: Floats
    /// The N(0, I) noise of the reparameterisation, [capacity, latent].
    public let eps: Floats
    public let z: Floats
    /// Output of each decoder layer (after its activation); the last one is `decoderOutput`.
    public let decoderOutputs: [Floats]
    /// Decoder output, [capacity, 784 · outputsPerPixel]: Bernoulli logits, or Gaussian means
    /// (then log-variances, for the learned Gaussian) per row.
    public let decoderOutput: Floats

    public let dEncoderOutputs: [Floats]
    public let dHead: Floats
    public let dZ: Floats
    public let dDecoderOutputs: [Floats]
    public let dDecoderOutput: Floats

    /// The convolutions' im2col scratch, [capacity, layout.columnsPerImage], which each
    /// convolution fills and uses within one forward or backward call.
    public let columns: Floats

    /// The class of each row; a conditional model reads it.
    public let labels: UnsafeMutablePointer<UInt8>
    /// The encoder's first input: for a conditional model `input` with each row's one-hot label
    /// concatenated (see `concatenateOneHot`), otherwise `input` itself.
    public let encoderInput: Floats
    /// The decoder's first input: for a conditional model `z` with the one-hot labels, otherwise `z`.
    public let decoderInput: Floats
    /// The gradient of `decoderInput`: `dZ` itself unless the model is conditional.
    public let dDecoderInput: Floats

    public init(layout: ParameterLayout, capacity: Int) {
        self.capacity = capacity
        latent = layout.head.outputs / 2
        let encoderWidths = layout.encoder.map(\.outputs)
        let decoderWidths = layout.decoder.map(\.outputs)
        let conditional = layout.labelInputs > 0
        let encoderInputWidth = conditional ? layout.encoder[0].inputs : 0
        let decoderInputWidth = conditional ? layout.decoder[0].inputs : 0
        let rowWidth = VAEConfig.inputSize + 2 * (encoderWidths.reduce(0, +) + decoderWidths.reduce(0, +))
            + 3 * latent + layout.columnsPerImage + encoderInputWidth + 2 * decoderInputWidth
        storage = FloatBuffer(count: capacity * rowWidth)
        labels = .allocate(capacity: max(capacity, 1))
        labels.initialize(repeating: 0, count: max(capacity, 1))

        var slices = RowSlices(of: storage, rows: capacity)
        input = slices.take(VAEConfig.inputSize)
        encoderOutputs = encoderWidths.map { slices.take($0) }
        head = encoderOutputs[encoderOutputs.count - 1]
        eps = slices.take(latent)
        z = slices.take(latent)
        decoderOutputs = decoderWidths.map { slices.take($0) }
        decoderOutput = decoderOutputs[decoderOutputs.count - 1]
        dEncoderOutputs = encoderWidths.map { slices.take($0) }
        dHead = dEncoderOutputs[dEncoderOutputs.count - 1]
        dZ = slices.take(latent)
        dDecoderOutputs = decoderWidths.map { slices.take($0) }
        dDecoderOutput = dDecoderOutputs[dDecoderOutputs.count - 1]
        columns = slices.take(layout.columnsPerImage)
        encoderInput = conditional ? slices.take(encoderInputWidth) : input
        decoderInput = conditional ? slices.take(decoderInputWidth) : z
        dDecoderInput = conditional ? slices.take(decoderInputWidth) : dZ
        precondition(slices.isExhausted)
    }

    deinit {
        labels.deallocate()
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
                    for i in 0..<size { target[i] = Float(source[i]) * (1 / 255) }
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
        for i in 0..<rows * size { input[i] = Float(source[i]) * (1 / 255) }
    }
}
