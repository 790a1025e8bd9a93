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

/// Everything that fixes the shape of a model. It is stored in every checkpoint, and two
/// checkpoints with different configurations never mix.
public struct VAEConfig: Equatable, Sendable {
    public static let imageSide = 28
    public static let inputSize = imageSide * imageSide

    /// Encoder hidden widths from the input inwards; the decoder mirrors them.
    public var hidden: [Int]
    public var latentDim: Int
    public var likelihood: Likelihood
    /// The fixed standard deviation of `Likelihood.gaussianFixed` (ignored otherwise).
    public var sigma: Float
    public var activation: Activation

    public init(hidden: [Int], latentDim: Int, likelihood: Likelihood = .bernoulli, sigma: Float = 0.1,
                activation: Activation = .relu) {
        self.hidden = hidden
        self.latentDim = latentDim
        self.likelihood = likelihood
        self.sigma = likelihood == .gaussianFixed ? sigma : 0.1
        self.activation = activation
    }
}

/// One fully connected layer's place in the flat parameter buffer.
public struct LinearLayer: Sendable, Equatable {
    public let weight: Int  // offset of the [outputs, inputs] weight
    public let bias: Int    // offset of the [outputs] bias
    public let inputs: Int
    public let outputs: Int
    public let activation: Activation
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
/// Order: encoder hidden layers, the encoder head, decoder hidden layers, the decoder output
/// (for the learned Gaussian, mean and log-variance heads stored like the encoder's head).
/// The head stores mu.weight, logvar.weight, mu.bias, logvar.bias back to back, so it is one
/// [2·latent, hidden] weight and one [2·latent] bias to sgemm, yet two PyTorch-style tensors on disk.
public struct ParameterLayout: Sendable, Equatable {
    public let tensors: [ParameterTensor]
    public let encoder: [LinearLayer]
    public let head: LinearLayer
    public let decoder: [LinearLayer]
    public let output: LinearLayer
    public let count: Int

    public init(_ config: VAEConfig) {
        var tensors: [ParameterTensor] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let tensor = ParameterTensor(name: name, shape: shape, offset: offset)
            tensors.append(tensor)
            offset += tensor.count
            return tensor.offset
        }
        func linear(_ name: String, _ inputs: Int, _ outputs: Int, _ activation: Activation) -> LinearLayer {
            let weight = add("\(name).weight", [outputs, inputs])
            let bias = add("\(name).bias", [outputs])
            return LinearLayer(weight: weight, bias: bias, inputs: inputs, outputs: outputs, activation: activation)
        }

        var width = VAEConfig.inputSize
        var encoder: [LinearLayer] = []
        for (i, h) in config.hidden.enumerated() {
            encoder.append(linear("encoder.hidden.\(i)", width, h, config.activation))
            width = h
        }
        let latent = config.latentDim
        let headWeight = add("encoder.mu.weight", [latent, width])
        _ = add("encoder.logvar.weight", [latent, width])
        let headBias = add("encoder.mu.bias", [latent])
        _ = add("encoder.logvar.bias", [latent])
        head = LinearLayer(weight: headWeight, bias: headBias, inputs: width, outputs: 2 * latent, activation: .none)

        width = latent
        var decoder: [LinearLayer] = []
        for (i, h) in config.hidden.reversed().enumerated() {
            decoder.append(linear("decoder.hidden.\(i)", width, h, config.activation))
            width = h
        }
        if config.likelihood == .gaussian {
            // Mean and log-variance heads back to back, one sgemm, like the encoder's head.
            let size = VAEConfig.inputSize
            let outWeight = add("decoder.out.weight", [size, width])
            _ = add("decoder.logvar.weight", [size, width])
            let outBias = add("decoder.out.bias", [size])
            _ = add("decoder.logvar.bias", [size])
            output = LinearLayer(weight: outWeight, bias: outBias, inputs: width, outputs: 2 * size, activation: .none)
        } else {
            output = linear("decoder.out", width, VAEConfig.inputSize, .none)
        }

        self.tensors = tensors
        self.encoder = encoder
        self.decoder = decoder
        self.count = offset
    }

    public var layers: [LinearLayer] { encoder + [head] + decoder + [output] }
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

    /// PyTorch's `nn.Linear` default: weights and biases uniform in ±1/√fan_in.
    public func initialize(random: inout Random) {
        for layer in layout.layers {
            let bound = 1 / Float(layer.inputs).squareRoot()
            random.fillUniform(parameters.pointer + layer.weight, count: layer.inputs * layer.outputs,
                               low: -bound, high: bound)
            random.fillUniform(parameters.pointer + layer.bias, count: layer.outputs, low: -bound, high: bound)
        }
    }

    public func tensor(named name: String) -> ParameterTensor? {
        layout.tensors.first { $0.name == name }
    }
}
