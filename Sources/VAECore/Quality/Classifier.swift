/// The KMNIST classifier that scores samples: two 3x3 stride-2 convolutions (28x28x1 → 14x14x32
/// → 7x7x64, the shapes of the conv VAE's encoder), a dense layer of 128 ReLU units, whose
/// outputs are the features the Fréchet distance compares, and 10 logits. Parameters live in one
/// flat buffer with named views, like the VAE's.
public final class Classifier: @unchecked Sendable {
    public static let classes = VAEConfig.classes
    public static let featureCount = 128

    /// conv.0, conv.1, hidden, out: in the order of the layers.
    public let tensors: [ParameterTensor]
    public let layers: [Layer]
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer

    public init() {
        var builder = LayoutBuilder()
        let side = VAEConfig.imageSide
        let shapes = [ConvShape(height: side, width: side, imageChannels: 1, gridChannels: 32),
                      ConvShape(height: side / 2, width: side / 2, imageChannels: 32, gridChannels: 64)]
        var layers = shapes.enumerated().map { i, shape in builder.convolution("conv.\(i)", shape, transposed: false, .relu) }
        layers.append(builder.linear("hidden", shapes[1].gridSize, Classifier.featureCount, .relu))
        layers.append(builder.linear("out", Classifier.featureCount, Classifier.classes, .none))
        self.layers = layers
        tensors = builder.tensors
        parameters = FloatBuffer(count: builder.count)
        gradients = FloatBuffer(count: builder.count)
    }

    /// PyTorch's default, as for the VAE: uniform in ±1/√fan_in.
    public func initialize(random: inout Random) {
        for layer in layers { layer.initialize(parameters.pointer, random: &random) }
    }

    /// `workspace.input` → every layer → `workspace.logits`.
    public func forward(_ ws: ClassifierWorkspace, rows: Int) {
        checkCapacity(ws, rows: rows)
        chainForward(through: layers, input: ws.input, outputs: ws.outputs, parameters: parameters.pointer, rows: rows,
                     convScratch: ws.convScratch)
    }

    /// The summed cross-entropy of `rows` images against `ws.labels`, after `forward`; with
    /// `computeGradients`, also every parameter's gradient of it, into `gradients`.
    public func loss(_ ws: ClassifierWorkspace, rows: Int, computeGradients: Bool) -> Double {
        checkCapacity(ws, rows: rows)
        let loss = softmaxCrossEntropy(logits: ws.logits, labels: ws.labels, probabilities: ws.probabilities,
                                       dlogits: computeGradients ? ws.dLogits : nil, rows: rows, classes: Classifier.classes)
        if computeGradients {
            chainBackward(through: layers, input: ws.input, outputs: ws.outputs, gradients: ws.dOutputs, dInput: nil,
                          parameters: parameters.pointer, parameterGradients: gradients.pointer, rows: rows, convScratch: ws.convScratch)
        }
        return loss
    }

    /// Stops a call that would write past `ws`'s buffers.
    private func checkCapacity(_ ws: ClassifierWorkspace, rows: Int) {
        precondition(rows <= ws.capacity, "\(rows) rows in a classifier workspace of \(ws.capacity)")
    }

    /// Class probabilities `[n, 10]` and penultimate features `[n, 128]` of `n` images given as
    /// intensities in [0, 1], row-major `[n, 784]`.
    public func predict(_ images: [Float]) -> (probabilities: [Float], features: [Float]) {
        let size = VAEConfig.inputSize, count = images.count / size
        precondition(images.count == count * size, "images must be whole 28x28 images")
        let ws = ClassifierWorkspace(self, capacity: min(max(count, 1), evaluationBatchSize))
        var probabilities = [Float](repeating: 0, count: count * Classifier.classes)
        var features = [Float](repeating: 0, count: count * Classifier.featureCount)
        for (first, rows) in Batches(count: count, size: ws.capacity) {
            images.withUnsafeBufferPointer { ws.input.update(from: $0.baseAddress! + first * size, count: rows * size) }
            forward(ws, rows: rows)
            softmax(ws.probabilities, logits: ws.logits, rows: rows, classes: Classifier.classes)
            probabilities.withUnsafeMutableBufferPointer {
                ($0.baseAddress! + first * Classifier.classes).update(from: ws.probabilities, count: rows * Classifier.classes)
            }
            features.withUnsafeMutableBufferPointer {
                ($0.baseAddress! + first * Classifier.featureCount).update(from: ws.features, count: rows * Classifier.featureCount)
            }
        }
        return (probabilities, features)
    }
}

/// The classifier's activations and their gradients for up to `capacity` images, allocated once.
public final class ClassifierWorkspace: @unchecked Sendable {
    public let capacity: Int
    private let storage: FloatBuffer
    /// [capacity, 784], pixels in [0, 1].
    public let input: Floats
    /// Each layer's output, after its activation.
    public let outputs: [Floats]
    /// [capacity, 128]: the hidden layer's outputs.
    public let features: Floats
    /// [capacity, 10]
    public let logits: Floats
    public let probabilities: Floats
    public let dOutputs: [Floats]
    public let dLogits: Floats
    /// The convolutions' scratch for `capacity` images (`ConvShape.scratchSize(images:)`).
    public let convScratch: Floats
    /// [capacity]: the class of each input row, for the loss.
    public let labels: UnsafeMutablePointer<UInt8>

    public init(_ classifier: Classifier, capacity: Int) {
        self.capacity = capacity
        let widths = classifier.layers.map(\.outputs), convScratchSize = classifier.layers.convScratchSize(images: capacity)
        storage = FloatBuffer(count: capacity * (VAEConfig.inputSize + 2 * widths.reduce(0, +) + Classifier.classes) + convScratchSize)
        var slices = RowSlices(of: storage, rows: capacity)
        input = slices.take(VAEConfig.inputSize)
        outputs = widths.map { slices.take($0) }
        features = outputs[outputs.count - 2]
        logits = outputs[outputs.count - 1]
        probabilities = slices.take(Classifier.classes)
        dOutputs = widths.map { slices.take($0) }
        dLogits = dOutputs[dOutputs.count - 1]
        convScratch = slices.take(floats: convScratchSize)
        precondition(slices.isExhausted)
        labels = .allocate(capacity: capacity)
    }

    deinit {
        labels.deallocate()
    }
}
