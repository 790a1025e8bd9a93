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

    public init(layout: ParameterLayout, capacity: Int) {
        self.capacity = capacity
        latent = layout.head.outputs / 2
        let encoderWidths = layout.encoder.map(\.outputs)
        let decoderWidths = layout.decoder.map(\.outputs)
        let rowWidth = VAEConfig.inputSize + 2 * (encoderWidths.reduce(0, +) + decoderWidths.reduce(0, +))
            + 3 * latent + layout.columnsPerImage
        storage = FloatBuffer(count: capacity * rowWidth)

        var next = storage.pointer
        func take(_ width: Int) -> Floats {
            defer { next += capacity * width }
            return next
        }
        input = take(VAEConfig.inputSize)
        encoderOutputs = encoderWidths.map { take($0) }
        head = encoderOutputs[encoderOutputs.count - 1]
        eps = take(latent)
        z = take(latent)
        decoderOutputs = decoderWidths.map { take($0) }
        decoderOutput = decoderOutputs[decoderOutputs.count - 1]
        dEncoderOutputs = encoderWidths.map { take($0) }
        dHead = dEncoderOutputs[dEncoderOutputs.count - 1]
        dZ = take(latent)
        dDecoderOutputs = decoderWidths.map { take($0) }
        dDecoderOutput = dDecoderOutputs[dDecoderOutputs.count - 1]
        columns = take(layout.columnsPerImage)
        precondition(next == storage.pointer + storage.count)
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
        ComputeThreads.shared.forEachPart(of: rows, alignment: 16, Job(input: input, pixels: pixels, indices: indices))
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

extension VAEModel {
    /// Encoder: `workspace.input` → layers → head (mu, log σ²).
    public func encode(_ ws: Workspace, rows: Int) {
        var x = UnsafePointer(ws.input)
        for (layer, out) in zip(layout.encoder, ws.encoderOutputs) {
            forward(layer, out, x, rows: rows, columns: ws.columns)
            x = UnsafePointer(out)
        }
    }

    /// Decoder: `workspace.z` → layers → `workspace.decoderOutput`.
    public func decode(_ ws: Workspace, rows: Int) {
        var x = UnsafePointer(ws.z)
        for (layer, out) in zip(layout.decoder, ws.decoderOutputs) {
            forward(layer, out, x, rows: rows, columns: ws.columns)
            x = UnsafePointer(out)
        }
    }

    private func forward(_ layer: Layer, _ out: Floats, _ inp: ConstFloats, rows: Int, columns: Floats) {
        let weight = parameters.pointer + layer.weight, bias = parameters.pointer + layer.bias
        switch layer.kind {
        case .linear:
            linearForward(out, inp, weight: weight, bias: bias, rows: rows, inputs: layer.inputs, outputs: layer.outputs,
                          activation: layer.activation)
        case .conv2d(let shape):
            conv2dForward(out, inp, weight: weight, bias: bias, columns: columns, images: rows, shape: shape,
                          activation: layer.activation)
        case .convTranspose2d(let shape):
            convTranspose2dForward(out, inp, weight: weight, bias: bias, columns: columns, images: rows, shape: shape,
                                   activation: layer.activation)
        }
    }

    /// The negative ELBO of `workspace.input` with the noise already in `workspace.eps`:
    /// encode, reparameterise, decode, score. With `computeGradients` the gradient of the
    /// reconstruction term with respect to the decoder output is left for `backward`.
    public func forward(_ ws: Workspace, rows: Int, computeGradients: Bool) -> LossTerms {
        encode(ws, rows: rows)
        reparameterizeForward(z: ws.z, head: ws.head, eps: ws.eps, rows: rows, latent: config.latentDim)
        decode(ws, rows: rows)
        let reconstruction = reconstructionNLL(ws.decoderOutput, targets: ws.input,
                                               gradient: computeGradients ? ws.dDecoderOutput : nil, rows: rows)
        let kl = klDivergence(head: ws.head, rows: rows, latent: config.latentDim)
        return LossTerms(reconstruction: reconstruction, kl: kl)
    }

    /// -log p(x|z) summed over `rows` decoder outputs against their target images, by the
    /// configured likelihood; with `gradient` also its derivative with respect to the outputs.
    public func reconstructionNLL(_ outputs: ConstFloats, targets: ConstFloats, gradient: Floats?, rows: Int) -> Double {
        let size = VAEConfig.inputSize
        switch config.likelihood {
        case .bernoulli:
            return bernoulliNLL(logits: outputs, targets: targets, dlogits: gradient, rows: rows, columns: size)
        case .gaussian:
            return gaussianNLL(outputs, targets: targets, doutputs: gradient, rows: rows, columns: size)
        case .gaussianFixed:
            return fixedGaussianNLL(mean: outputs, targets: targets, dmean: gradient, rows: rows, columns: size,
                                    sigma: config.sigma)
        }
    }

    /// The decoder's mean image of each of `rows` outputs, clamped to [0, 1] for display.
    public func decoderMeans(_ outputs: ConstFloats, into images: Floats, rows: Int) {
        let size = VAEConfig.inputSize
        switch config.likelihood {
        case .bernoulli:
            sigmoid(images, outputs, count: rows * size)
        case .gaussian, .gaussianFixed:
            let stride = config.likelihood.outputsPerPixel * size
            for r in 0..<rows {
                for i in 0..<size { images[r * size + i] = min(max(outputs[r * stride + i], 0), 1) }
            }
        }
    }

    /// Gradients of the summed reconstruction term plus `klWeight` · KL into `gradients`, after
    /// `forward(computeGradients: true)`. `klWeight` is 1 for the ELBO, β for a β-VAE.
    public func backward(_ ws: Workspace, rows: Int, klWeight: Float = 1) {
        backward(through: layout.decoder, input: ws.z, outputs: ws.decoderOutputs, gradients: ws.dDecoderOutputs,
                 dInput: ws.dZ, rows: rows, columns: ws.columns)
        reparameterizeKLBackward(dhead: ws.dHead, dz: ws.dZ, head: ws.head, eps: ws.eps,
                                 rows: rows, latent: config.latentDim, klWeight: klWeight)
        backward(through: layout.encoder, input: ws.input, outputs: ws.encoderOutputs, gradients: ws.dEncoderOutputs,
                 dInput: nil, rows: rows, columns: ws.columns)
    }

    /// From the gradient of a chain's last output (in `gradients.last`) back to the parameters of
    /// every layer and, unless `dInput` is nil, to the chain's input. Each layer's output gradient
    /// takes its activation's derivative before the layer's own backward uses it.
    private func backward(through layers: [Layer], input: ConstFloats, outputs: [Floats], gradients: [Floats],
                          dInput: Floats?, rows: Int, columns: Floats) {
        let p = parameters.pointer, g = self.gradients.pointer
        for i in layers.indices.reversed() {
            let layer = layers[i]
            let dout = gradients[i]
            backwardThroughActivation(layer.activation, dout, out: outputs[i], count: rows * layer.outputs)
            let inp = i > 0 ? UnsafePointer(outputs[i - 1]) : input
            let dinp = i > 0 ? gradients[i - 1] : dInput
            switch layer.kind {
            case .linear:
                linearBackward(dinp: dinp, dweight: g + layer.weight, dbias: g + layer.bias, dout: dout, inp: inp,
                               weight: p + layer.weight, rows: rows, inputs: layer.inputs, outputs: layer.outputs)
            case .conv2d(let shape):
                conv2dBackward(dinp: dinp, dweight: g + layer.weight, dbias: g + layer.bias, dout: dout, inp: inp,
                               weight: p + layer.weight, columns: columns, images: rows, shape: shape)
            case .convTranspose2d(let shape):
                convTranspose2dBackward(dinp: dinp, dweight: g + layer.weight, dbias: g + layer.bias, dout: dout, inp: inp,
                                        weight: p + layer.weight, columns: columns, images: rows, shape: shape)
            }
        }
    }
}

private func backwardThroughActivation(_ activation: Activation, _ dout: Floats, out: ConstFloats, count: Int) {
    switch activation {
    case .none: break
    case .relu: reluBackward(dout, out: out, count: count)
    }
}
