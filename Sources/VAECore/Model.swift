/// The likelihood p(x|z) the decoder parameterises.
public enum Likelihood: String, Sendable, CaseIterable {
    /// Pixels in [0, 1] as Bernoulli probabilities σ(logits); the loss is binary cross-entropy.
    case bernoulli
    /// N(mu(z), σ²(z)) per pixel, the decoder of the original write-up: a mean head and a
    /// log-variance head, the log-variance clamped to [`gaussianLogVarianceRange`].
    case gaussian
    /// N(mu(z), σ²) per pixel with one fixed σ (`VAEConfig.sigma`).
    case gaussianFixed = "gaussian-fixed"

    /// Decoder outputs per pixel: the mean, plus the log-variance for the learned Gaussian.
    public var outputsPerPixel: Int { self == .gaussian ? 2 : 1 }
}

/// The learned Gaussian's log σ² is clamped to this range (σ from 0.03 to 2.7): without a floor,
/// the always-black background pixels would drive σ to 0 and the density to infinity. Outside
/// the range the log-variance gets no gradient.
public let gaussianLogVarianceRange: ClosedRange<Float> = -7...2

/// The network between the image and the latent code.
public enum Architecture: String, Sendable, CaseIterable {
    /// Fully connected layers: 784 → hidden → head, mirrored by the decoder.
    case mlp
    /// 3x3 stride-2 convolutions (by default 28x28x1 → 14x14x32 → 7x7x64) before the hidden
    /// layers, mirrored by transposed convolutions at the end of the decoder (see ConvLayers.swift).
    case conv

    /// Whether the decoder can produce the likelihood's outputs. The conv decoder ends in one
    /// output channel, so it has no place for the learned Gaussian's per-pixel log-variance.
    public func supports(_ likelihood: Likelihood) -> Bool {
        self == .mlp || likelihood.outputsPerPixel == 1
    }
}

/// Everything that fixes the shape of a model. It is stored in every checkpoint, and two
/// checkpoints with different configurations never mix.
public struct VAEConfig: Equatable, Sendable {
    public static let imageSide = 28
    public static let inputSize = imageSide * imageSide
    public var arch: Architecture
    /// Output channels of the conv encoder's convolutions from the input inwards, each halving
    /// the side (28 → 14 → 7 with the default two); the decoder mirrors them. Empty for the MLP.
    public var convChannels: [Int]
    /// Widths of the fully connected hidden layers from the input side inwards (for conv, after
    /// the last convolution's map, flattened); the decoder mirrors them.
    public var hidden: [Int]
    public var latentDim: Int
    public var likelihood: Likelihood
    /// The fixed standard deviation of `Likelihood.gaussianFixed` (ignored otherwise).
    public var sigma: Float
    public var activation: Activation

    public init(arch: Architecture = .mlp, convChannels: [Int] = [32, 64], hidden: [Int], latentDim: Int,
                likelihood: Likelihood = .bernoulli, sigma: Float = 0.1, activation: Activation = .relu) {
        self.arch = arch
        self.convChannels = arch == .conv ? convChannels : []
        self.hidden = hidden
        self.latentDim = latentDim
        self.likelihood = likelihood
        self.sigma = likelihood == .gaussianFixed ? sigma : 0.1
        self.activation = activation
    }

    /// The encoder's convolutions from the input inwards, none for the MLP.
    public var convolutions: [ConvShape] {
        var shapes: [ConvShape] = []
        var side = VAEConfig.imageSide, channels = 1
        for next in convChannels {
            let shape = ConvShape(height: side, width: side, imageChannels: channels, gridChannels: next)
            shapes.append(shape)
            side = shape.gridHeight
            channels = next
        }
        return shapes
    }
}

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
    public let weight: Int  // offset of the weight
    public let bias: Int    // offset of the bias
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

    public var weightCount: Int {
        switch kind {
        case .linear: inputs * outputs
        case .conv2d(let shape), .convTranspose2d(let shape): shape.gridChannels * shape.patchSize
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
/// Parameters are stored in the order of the layers.
public struct ParameterLayout: Sendable, Equatable {
    public let tensors: [ParameterTensor]
    /// From the image to the head, which is the last layer.
    public let encoder: [Layer]
    /// From z to the decoder output, which the last layer writes.
    public let decoder: [Layer]
    public let count: Int

    public init(_ config: VAEConfig) {
        precondition(config.arch.supports(config.likelihood), "\(config.arch) cannot have the \(config.likelihood) likelihood")
        precondition((config.arch == .conv) == !config.convChannels.isEmpty, "a conv model needs its channels, an MLP none")
        var tensors: [ParameterTensor] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let tensor = ParameterTensor(name: name, shape: shape, offset: offset)
            tensors.append(tensor)
            offset += tensor.count
            return tensor.offset
        }
        func linear(_ name: String, _ inputs: Int, _ outputs: Int, _ activation: Activation) -> Layer {
            let weight = add("\(name).weight", [outputs, inputs])
            let bias = add("\(name).bias", [outputs])
            return Layer(kind: .linear, weight: weight, bias: bias, inputs: inputs, outputs: outputs, activation: activation)
        }
        func convolution(_ name: String, _ shape: ConvShape, transposed: Bool, _ activation: Activation) -> Layer {
            let k = ConvShape.kernel
            let weight = add("\(name).weight", [shape.gridChannels, shape.imageChannels, k, k])
            let bias = add("\(name).bias", [transposed ? shape.imageChannels : shape.gridChannels])
            return transposed
                ? Layer(kind: .convTranspose2d(shape), weight: weight, bias: bias, inputs: shape.gridSize,
                        outputs: shape.imageSize, activation: activation)
                : Layer(kind: .conv2d(shape), weight: weight, bias: bias, inputs: shape.imageSize,
                        outputs: shape.gridSize, activation: activation)
        }

        let convolutions = config.convolutions
        var encoder = convolutions.enumerated().map { i, shape in
            convolution("encoder.conv.\(i)", shape, transposed: false, config.activation)
        }
        let flattened = convolutions.last?.gridSize ?? VAEConfig.inputSize
        var width = flattened
        for (i, h) in config.hidden.enumerated() {
            encoder.append(linear("encoder.hidden.\(i)", width, h, config.activation))
            width = h
        }
        let latent = config.latentDim
        let headWeight = add("encoder.mu.weight", [latent, width])
        _ = add("encoder.logvar.weight", [latent, width])
        let headBias = add("encoder.mu.bias", [latent])
        _ = add("encoder.logvar.bias", [latent])
        encoder.append(Layer(kind: .linear, weight: headWeight, bias: headBias, inputs: width, outputs: 2 * latent,
                             activation: .none))

        width = latent
        var decoder: [Layer] = []
        // The conv decoder's last dense layer gives the transposed convolutions their input map.
        let decoderWidths = config.hidden.reversed() + (convolutions.isEmpty ? [] : [flattened])
        for (i, h) in decoderWidths.enumerated() {
            decoder.append(linear("decoder.hidden.\(i)", width, h, config.activation))
            width = h
        }
        if !convolutions.isEmpty {
            for (i, shape) in convolutions.reversed().enumerated() {
                let last = i == convolutions.count - 1
                decoder.append(convolution("decoder.deconv.\(i)", shape, transposed: true, last ? .none : config.activation))
            }
        } else if config.likelihood == .gaussian {
            // Mean and log-variance heads back to back, one sgemm, like the encoder's head.
            let size = VAEConfig.inputSize
            let outWeight = add("decoder.out.weight", [size, width])
            _ = add("decoder.logvar.weight", [size, width])
            let outBias = add("decoder.out.bias", [size])
            _ = add("decoder.logvar.bias", [size])
            decoder.append(Layer(kind: .linear, weight: outWeight, bias: outBias, inputs: width, outputs: 2 * size,
                                 activation: .none))
        } else {
            decoder.append(linear("decoder.out", width, VAEConfig.inputSize, .none))
        }

        self.tensors = tensors
        self.encoder = encoder
        self.decoder = decoder
        self.count = offset
    }

    /// The encoder's last layer: mu and log σ² of each row.
    public var head: Layer { encoder[encoder.count - 1] }
    /// The decoder's last layer: 784 · outputsPerPixel values per row.
    public var output: Layer { decoder[decoder.count - 1] }
    public var layers: [Layer] { encoder + decoder }

    /// Floats per image of im2col scratch that the largest convolution needs (0 for the MLP).
    public var columnsPerImage: Int {
        layers.map { layer in
            switch layer.kind {
            case .linear: 0
            case .conv2d(let shape), .convTranspose2d(let shape): shape.positions * shape.patchSize
            }
        }.max() ?? 0
    }
}

/// Reconstruction and KL terms of the negative ELBO, summed over the images of a batch.
public struct LossTerms: Sendable, Equatable {
    public var reconstruction: Double = 0
    public var kl: Double = 0
    public var total: Double { reconstruction + kl }

    public init(reconstruction: Double = 0, kl: Double = 0) {
        self.reconstruction = reconstruction
        self.kl = kl
    }

    public static func += (a: inout LossTerms, b: LossTerms) {
        a.reconstruction += b.reconstruction
        a.kl += b.kl
    }
}

/// The VAE's parameters and gradients: two flat buffers with the same layout.
public final class VAEModel: @unchecked Sendable {
    public let config: VAEConfig
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer

    public init(config: VAEConfig) {
        self.config = config
        layout = ParameterLayout(config)
        parameters = FloatBuffer(count: layout.count)
        gradients = FloatBuffer(count: layout.count)
    }

    /// PyTorch's default for its layers: weights and biases uniform in ±1/√fan_in.
    public func initialize(random: inout Random) {
        for layer in layout.layers {
            let bound = 1 / Float(layer.fanIn).squareRoot()
            random.fillUniform(parameters.pointer + layer.weight, count: layer.weightCount, low: -bound, high: bound)
            random.fillUniform(parameters.pointer + layer.bias, count: layer.biasCount, low: -bound, high: bound)
        }
    }

    public func tensor(named name: String) -> ParameterTensor? {
        layout.tensors.first { $0.name == name }
    }
}
