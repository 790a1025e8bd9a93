/// How a layer maps its input to its output.
public enum LayerKind: Sendable, Equatable {
    /// `linearForward`: weight [outputs, inputs], as PyTorch's nn.Linear.
    case linear
    /// `conv2dForward`, image to grid: weight [gridChannels, imageChannels, 3, 3], as nn.Conv2d.
    case conv2d(ConvShape)
    /// `convTranspose2dForward`, grid to image: the same weight shape, as nn.ConvTranspose2d.
    case convTranspose2d(ConvShape)
}

/// One layer's place in the flat parameter buffer, and its shape.
public struct Layer: Sendable, Equatable {
    public let kind: LayerKind
    /// Where the weight and the bias start in the flat parameter buffer.
    public let weightOffset: Int
    public let biasOffset: Int
    /// Floats per image in and out: features for a linear layer, height·width·channels for a convolution.
    public let inputs: Int
    public let outputs: Int
    public let activation: Activation

    /// PyTorch's fan_in, from which its default initialisation takes the bound 1/√fan_in: the
    /// inputs of nn.Linear, and weight.size(1) · 9 for both convolutions (the input channels of
    /// Conv2d, the output channels of ConvTranspose2d).
    public var fanIn: Int {
        switch kind {
        case .linear: inputs
        case .conv2d(let shape), .convTranspose2d(let shape): shape.patchSize
        }
    }

    /// PyTorch's default initialisation: the weight, then the bias, uniform in ±1/√fan_in, drawn
    /// into `parameters` (the flat buffer this layer's offsets point into).
    public func initialize(_ parameters: Floats, random: inout Random) {
        let bound = 1 / Float(fanIn).squareRoot()
        random.fillUniform(parameters + weightOffset, count: weightCount, low: -bound, high: bound)
        random.fillUniform(parameters + biasOffset, count: biasCount, low: -bound, high: bound)
    }

    public var weightCount: Int {
        switch kind {
        case .linear: inputs * outputs
        case .conv2d(let shape), .convTranspose2d(let shape): shape.weightSize
        }
    }

    /// One bias per output feature or output channel.
    public var biasCount: Int {
        switch kind {
        case .linear: outputs
        case .conv2d(let shape): shape.gridChannels
        case .convTranspose2d(let shape): shape.imageChannels
        }
    }
}

/// A named view into the flat parameter buffer, as it appears in a checkpoint.
public struct ParameterTensor: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// Where every parameter lives in the one flat buffer, and the layers that use them.
///
/// The encoder runs from the image to the head, the decoder from z to the output. MLP: encoder
/// hidden layers, the head; decoder hidden layers, the output layer (for the learned Gaussian,
/// mean and log-variance heads stored like the encoder's head). Conv: the convolutions first, then
/// as the MLP, except that the decoder's dense layers end in as many ReLU units as the last
/// convolution's map has (7x7x64 = 3136 by default), and transposed convolutions make the output.
/// The head stores mu.weight, logvar.weight, mu.bias, logvar.bias back to back, so it is one
/// [2·latent, hidden] weight and one [2·latent] bias to sgemm, yet two PyTorch-style tensors on disk.
/// Parameters are stored in the order of the layers; a VampPrior's pseudo-inputs come last, so that
/// the layers of a model sit where they do without them.
public struct ParameterLayout: Sendable, Equatable {
    public let tensors: [ParameterTensor]
    /// From the image to the head, which is the last layer.
    public let encoder: [Layer]
    /// From z to the decoder output, which the last layer writes.
    public let decoder: [Layer]
    public let count: Int
    /// The one-hot label's length in the encoder's and the decoder's first inputs (0 unless conditional).
    public let labelInputs: Int
    /// The VampPrior's K pseudo-inputs, images of 784 values each (0 for the normal prior).
    public let pseudoInputs: Int
    /// Where `prior.pseudo_inputs` ([K, 784]) starts in the flat buffer (the end of it when there are none).
    public let pseudoInputsOffset: Int

    public init(_ config: VAEConfig) {
        precondition(config.arch.supports(config.likelihood), "\(config.arch) cannot have the \(config.likelihood) likelihood")
        precondition((config.arch == .conv) == !config.convChannels.isEmpty, "a conv model needs its channels, an MLP none")
        precondition(config.prior == .normal || (!config.conditional && config.pseudoInputs >= 1),
                     "a VampPrior needs pseudo-inputs, and its model cannot be conditional")
        var builder = LayoutBuilder()
        // A conditional model's label joins the first layer's input: as 10 more channels of every
        // pixel in front of a convolution, as 10 more features in front of a dense layer.
        let labels = config.labelInputs
        let convolutions = config.convolutions
        var encoder = convolutions.enumerated().map { i, shape in
            let input = i > 0 ? shape : ConvShape(height: shape.height, width: shape.width, imageChannels: shape.imageChannels + labels,
                                                  gridChannels: shape.gridChannels)
            return builder.convolution("encoder.conv.\(i)", input, transposed: false, config.activation)
        }
        let flattened = convolutions.last?.gridSize ?? VAEConfig.inputSize
        var width = flattened + (convolutions.isEmpty ? labels : 0)
        for (i, h) in config.hidden.enumerated() {
            encoder.append(builder.linear("encoder.hidden.\(i)", width, h, config.activation))
            width = h
        }
        let latent = config.latentDim
        encoder.append(builder.pairedLinear("encoder.mu", "encoder.logvar", width, latent))

        width = latent + labels
        var decoder: [Layer] = []
        // The conv decoder's last dense layer gives the transposed convolutions their input map.
        let decoderWidths = config.hidden.reversed() + (convolutions.isEmpty ? [] : [flattened])
        for (i, h) in decoderWidths.enumerated() {
            decoder.append(builder.linear("decoder.hidden.\(i)", width, h, config.activation))
            width = h
        }
        if !convolutions.isEmpty {
            for (i, shape) in convolutions.reversed().enumerated() {
                let last = i == convolutions.count - 1
                decoder.append(builder.convolution("decoder.deconv.\(i)", shape, transposed: true, last ? .none : config.activation))
            }
        } else if config.likelihood == .gaussian {
            // Mean and log-variance heads back to back, one sgemm, like the encoder's head.
            decoder.append(builder.pairedLinear("decoder.out", "decoder.logvar", width, VAEConfig.inputSize))
        } else {
            decoder.append(builder.linear("decoder.out", width, VAEConfig.inputSize, .none))
        }
        pseudoInputs = config.pseudoInputs
        pseudoInputsOffset = pseudoInputs > 0 ? builder.add("prior.pseudo_inputs", [pseudoInputs, VAEConfig.inputSize]) : builder.count

        self.tensors = builder.tensors
        self.encoder = encoder
        self.decoder = decoder
        self.count = builder.count
        labelInputs = labels
    }

    /// The encoder's last layer: mu and log σ² of each row.
    public var head: Layer { encoder[encoder.count - 1] }
    /// The decoder's last layer: 784 · outputsPerPixel values per row.
    public var output: Layer { decoder[decoder.count - 1] }
    public var layers: [Layer] { encoder + decoder }

    /// Floats of scratch the convolutions need for `images` images (0 for the MLP).
    public func convScratchSize(images: Int) -> Int { layers.convScratchSize(images: images) }
}

/// Lays named tensors out one after another in a flat buffer, and the layers that use them: the
/// VAE's layout and the classifier's are built alike.
struct LayoutBuilder {
    private(set) var tensors: [ParameterTensor] = []
    /// Floats laid out so far: the next tensor's offset.
    private(set) var count = 0

    /// Lays out a tensor of `shape` next; returns its offset.
    mutating func add(_ name: String, _ shape: [Int]) -> Int {
        let tensor = ParameterTensor(name: name, shape: shape, offset: count)
        tensors.append(tensor)
        count += tensor.count
        return tensor.offset
    }

    /// PyTorch's nn.Linear: `name.weight` [outputs, inputs], then `name.bias`.
    mutating func linear(_ name: String, _ inputs: Int, _ outputs: Int, _ activation: Activation) -> Layer {
        let weight = add("\(name).weight", [outputs, inputs])
        let bias = add("\(name).bias", [outputs])
        return Layer(kind: .linear, weightOffset: weight, biasOffset: bias, inputs: inputs, outputs: outputs, activation: activation)
    }

    /// Two linear layers without activation stored as one: both weights, then both biases, so
    /// that the [2·outputs, inputs] weight and the 2·outputs bias are contiguous.
    mutating func pairedLinear(_ first: String, _ second: String, _ inputs: Int, _ outputs: Int) -> Layer {
        let weight = add("\(first).weight", [outputs, inputs])
        _ = add("\(second).weight", [outputs, inputs])
        let bias = add("\(first).bias", [outputs])
        _ = add("\(second).bias", [outputs])
        return Layer(kind: .linear, weightOffset: weight, biasOffset: bias, inputs: inputs, outputs: 2 * outputs, activation: .none)
    }

    /// PyTorch's nn.Conv2d or nn.ConvTranspose2d: `name.weight` [grid channels, image channels,
    /// 3, 3] either way, then `name.bias` of the layer's output channels.
    mutating func convolution(_ name: String, _ shape: ConvShape, transposed: Bool, _ activation: Activation) -> Layer {
        let k = ConvShape.kernel
        let weight = add("\(name).weight", [shape.gridChannels, shape.imageChannels, k, k])
        let bias = add("\(name).bias", [transposed ? shape.imageChannels : shape.gridChannels])
        return transposed
            ? Layer(kind: .convTranspose2d(shape), weightOffset: weight, biasOffset: bias, inputs: shape.gridSize,
                    outputs: shape.imageSize, activation: activation)
            : Layer(kind: .conv2d(shape), weightOffset: weight, biasOffset: bias, inputs: shape.imageSize,
                    outputs: shape.gridSize, activation: activation)
    }
}

extension [Layer] {
    /// Floats of scratch the chain's convolutions need for `images` images: the most that any
    /// one of them needs, as they take turns with it (0 without a convolution).
    func convScratchSize(images: Int) -> Int {
        map { layer in
            switch layer.kind {
            case .linear: 0
            case .conv2d(let shape), .convTranspose2d(let shape): shape.scratchSize(images: images)
            }
        }.max() ?? 0
    }
}
