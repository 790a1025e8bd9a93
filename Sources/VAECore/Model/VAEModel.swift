/// Reconstruction and KL terms of the negative ELBO, summed over the images of a batch (for the
/// importance-weighted bound, a report-only split: see `forwardImportanceWeighted`).
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
    /// The file the parameters were read from, which errors about them name (nil when built in memory).
    public let origin: String?

    public init(config: VAEConfig, origin: String? = nil) {
        self.config = config
        self.origin = origin
        layout = ParameterLayout(config)
        parameters = FloatBuffer(count: layout.count)
        gradients = FloatBuffer(count: layout.count)
    }

    /// PyTorch's default for its layers: weights and biases uniform in ±1/√fan_in.
    public func initialize(random: inout Random) {
        for layer in layout.layers { layer.initialize(parameters.pointer, random: &random) }
    }

    /// Encoder: `workspace.input` (with `workspace.labels` for a conditional model) → layers → head (mu, log σ²).
    public func encode(_ ws: Workspace, rows: Int) {
        checkWorkspace(ws, encoderRows: rows, samples: 0)
        if config.conditional {
            // The convolution's image has one channel per pixel; a dense layer sees the 784 as one row.
            let pixelsAsChannels = config.arch == .conv
            concatenateOneHot(ws.encoderInput, ws.input, labels: ws.labels, rows: rows,
                              positions: pixelsAsChannels ? VAEConfig.inputSize : 1, features: pixelsAsChannels ? 1 : VAEConfig.inputSize,
                              classes: layout.labelInputs)
        }
        chainForward(through: layout.encoder, input: ws.encoderInput, outputs: ws.encoderOutputs, parameters: parameters.pointer,
                     rows: rows, convScratch: ws.convScratch)
    }

    /// Decoder: `workspace.z` (with `workspace.labels` for a conditional model) → layers → `workspace.decoderOutput`.
    public func decode(_ ws: Workspace, rows: Int) {
        checkWorkspace(ws, encoderRows: 0, samples: rows)
        if config.conditional {
            concatenateOneHot(ws.decoderInput, ws.z, labels: ws.labels, rows: rows, positions: 1, features: config.latentDim,
                              classes: layout.labelInputs)
        }
        chainForward(through: layout.decoder, input: ws.decoderInput, outputs: ws.decoderOutputs, parameters: parameters.pointer,
                     rows: rows, convScratch: ws.convScratch)
    }

    /// The negative ELBO of `workspace.input` with the noise already in `workspace.eps`:
    /// encode, reparameterise, decode, score. For a conditional model it bounds -log p(x|y), with
    /// y from `workspace.labels`. With `computeGradients` the gradient of the
    /// reconstruction term with respect to the decoder output is left for `backward`. With a
    /// VampPrior the pseudo-inputs are encoded after the images (their posteriors are the
    /// prior's components), and the KL term is log q(z|x) - log p(z) at the sampled z.
    public func forward(_ ws: Workspace, rows: Int, computeGradients: Bool) -> LossTerms {
        checkWorkspace(ws, encoderRows: rows + layout.pseudoInputs, samples: rows)
        let latent = config.latentDim
        encodeWithPseudoInputs(ws, rows: rows)
        reparameterizeForward(z: ws.z, head: ws.head, eps: ws.eps, rows: rows, latent: latent)
        decode(ws, rows: rows)
        let reconstruction = reconstructionNLL(ws.decoderOutput, targets: ws.input,
                                               gradient: computeGradients ? ws.dDecoderOutput : nil, rows: rows)
        switch config.prior {
        case .normal:
            return LossTerms(reconstruction: reconstruction, kl: klDivergence(head: ws.head, rows: rows, latent: latent))
        case .vamp:
            priorLogDensity(ws, samples: rows, components: ws.head + rows * 2 * latent)
            posteriorLogDensity(ws.logPosteriors, head: ws.head, eps: ws.eps, rows: rows, latent: latent)
            var kl = 0.0
            for r in 0..<rows { kl += ws.logPosteriors[r] - ws.logPriors[r] }
            return LossTerms(reconstruction: reconstruction, kl: kl)
        }
    }

    /// Stops a call that would write past `ws`'s buffers: a workspace cut for another model, or
    /// one with fewer encoder rows (images and pseudo-inputs) or decoder rows than asked for.
    func checkWorkspace(_ ws: Workspace, encoderRows: Int, samples: Int) {
        precondition(ws.layout == layout, "a workspace of another model")
        precondition(encoderRows <= ws.capacity + ws.pseudoInputs && samples <= ws.sampleCapacity,
                     "\(encoderRows) encoder rows and \(samples) samples in a workspace of \(ws.capacity + ws.pseudoInputs) and \(ws.sampleCapacity)")
    }

    /// Encodes the `rows` images of `workspace.input`, and a VampPrior's pseudo-inputs after them.
    func encodeWithPseudoInputs(_ ws: Workspace, rows: Int) {
        let pseudoInputs = layout.pseudoInputs
        if pseudoInputs > 0 {
            checkWorkspace(ws, encoderRows: rows + pseudoInputs, samples: 0)
            (ws.input + rows * VAEConfig.inputSize).update(from: parameters.pointer + layout.pseudoInputsOffset,
                                                           count: pseudoInputs * VAEConfig.inputSize)
        }
        encode(ws, rows: rows + pseudoInputs)
    }

    /// log p(z) of the first `samples` rows of `workspace.z` into `workspace.logPriors`: N(0, I),
    /// or the VampPrior's mixture of the Gaussians in `components` ([K, 2·latent], the encoder's
    /// head at the pseudo-inputs).
    public func priorLogDensity(_ ws: Workspace, samples: Int, components: ConstFloats?) {
        switch config.prior {
        case .normal:
            normalLogDensity(ws.logPriors, z: ws.z, rows: samples, latent: config.latentDim)
        case .vamp:
            mixtureLogDensityForward(ws.logPriors, z: ws.z, components: components!, rows: samples, scratch: ws.mixture!)
        }
    }

    /// The VampPrior's components: the encoder's mu and log σ² at each pseudo-input, [K, 2·latent].
    public func priorComponents() -> [Float] {
        precondition(layout.pseudoInputs > 0, "only a VampPrior has components")
        let ws = Workspace(layout: layout, capacity: 0)
        encodeWithPseudoInputs(ws, rows: 0)
        return Array(UnsafeBufferPointer(start: ws.head, count: layout.pseudoInputs * 2 * config.latentDim))
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
    /// `forward(computeGradients: true)`. `klWeight` is 1 for the ELBO, β for a β-VAE. A
    /// VampPrior's pseudo-inputs get theirs through the encoder, as any input would.
    public func backward(_ ws: Workspace, rows: Int, klWeight: Float = 1) {
        checkWorkspace(ws, encoderRows: rows + layout.pseudoInputs, samples: rows)
        let latent = config.latentDim
        chainBackward(through: layout.decoder, input: ws.decoderInput, outputs: ws.decoderOutputs, gradients: ws.dDecoderOutputs,
                      dInput: ws.dDecoderInput, parameters: parameters.pointer, parameterGradients: gradients.pointer, rows: rows,
                      convScratch: ws.convScratch)
        if config.conditional {
            concatenateOneHotBackward(ws.dZ, dout: ws.dDecoderInput, rows: rows, positions: 1, features: config.latentDim,
                            classes: layout.labelInputs)
        }
        switch config.prior {
        case .normal:
            reparameterizeKLBackward(dhead: ws.dHead, dz: ws.dZ, head: ws.head, eps: ws.eps,
                                     rows: rows, latent: latent, klWeight: klWeight)
        case .vamp:
            // The loss holds -klWeight · log p(z) of every row.
            ws.mixture!.upstream.update(repeating: -klWeight, count: rows)
            mixturePriorBackward(ws, samples: rows, images: rows)
            reparameterizeBackward(dhead: ws.dHead, dz: ws.dZ, head: ws.head, eps: ws.eps, headRows: rows, latent: latent, samples: 1,
                                   posteriorWeight: klWeight)
        }
        encoderBackward(ws, rows: rows)
    }

    /// Backward of `priorLogDensity` for a VampPrior whose components are the head rows after the
    /// `images` images, given `workspace.mixture.upstream`: into `dZ` (added) and the components' head gradient.
    func mixturePriorBackward(_ ws: Workspace, samples: Int, images: Int) {
        let offset = images * 2 * config.latentDim
        mixtureLogDensityBackward(dz: ws.dZ, dComponents: ws.dHead + offset, z: ws.z, components: ws.head + offset, rows: samples,
                                  scratch: ws.mixture!)
    }

    /// From `workspace.dHead` back through the encoder, for the `rows` images and a VampPrior's
    /// pseudo-inputs after them, whose input gradient is the pseudo-inputs' own.
    func encoderBackward(_ ws: Workspace, rows: Int) {
        let pseudoInputs = layout.pseudoInputs
        chainBackward(through: layout.encoder, input: ws.encoderInput, outputs: ws.encoderOutputs, gradients: ws.dEncoderOutputs,
                      dInput: pseudoInputs > 0 ? gradients.pointer + layout.pseudoInputsOffset : nil, dInputFromRow: rows,
                      parameters: parameters.pointer, parameterGradients: gradients.pointer, rows: rows + pseudoInputs,
                      convScratch: ws.convScratch)
    }
}
