/// Activations and their gradients for up to `capacity` images, allocated once.
///
/// A training step only reads and writes these buffers, so it allocates nothing.
public final class Workspace: @unchecked Sendable {
    public let capacity: Int
    public let latent: Int
    private let storage: FloatBuffer

    /// Network input, [capacity, 784], pixels in [0, 1].
    public let input: Floats
    /// Output of each encoder hidden layer (after the activation).
    public let encoderOutputs: [Floats]
    /// [capacity, 2·latent]: mu, then log σ², per row.
    public let head: Floats
    /// The N(0, I) noise of the reparameterisation, [capacity, latent].
    public let eps: Floats
    public let z: Floats
    public let decoderOutputs: [Floats]
    /// Decoder output before the likelihood's link function, [capacity, 784].
    public let logits: Floats

    public let dEncoderOutputs: [Floats]
    public let dHead: Floats
    public let dZ: Floats
    public let dDecoderOutputs: [Floats]
    public let dLogits: Floats

    public init(layout: ParameterLayout, capacity: Int) {
        self.capacity = capacity
        latent = layout.head.outputs / 2
        let encoderWidths = layout.encoder.map(\.outputs)
        let decoderWidths = layout.decoder.map(\.outputs)
        let outputWidth = layout.output.outputs
        let rowWidth = VAEConfig.inputSize + 2 * (encoderWidths.reduce(0, +) + decoderWidths.reduce(0, +))
            + 2 * 2 * latent + 3 * latent + 2 * outputWidth
        storage = FloatBuffer(count: capacity * rowWidth)

        var next = storage.pointer
        func take(_ width: Int) -> Floats {
            defer { next += capacity * width }
            return next
        }
        input = take(VAEConfig.inputSize)
        encoderOutputs = encoderWidths.map { take($0) }
        head = take(2 * latent)
        eps = take(latent)
        z = take(latent)
        decoderOutputs = decoderWidths.map { take($0) }
        logits = take(outputWidth)
        dEncoderOutputs = encoderWidths.map { take($0) }
        dHead = take(2 * latent)
        dZ = take(latent)
        dDecoderOutputs = decoderWidths.map { take($0) }
        dLogits = take(outputWidth)
        precondition(next == storage.pointer + storage.count)
    }

    /// Copies images from a UInt8 dataset into `input`, scaled to [0, 1].
    public func loadImages(_ pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int32>, rows: Int) {
        precondition(rows <= capacity)
        let size = VAEConfig.inputSize
        for r in 0..<rows {
            let source = pixels + Int(indices[r]) * size
            let target = input + r * size
            for i in 0..<size { target[i] = Float(source[i]) * (1 / 255) }
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
    /// Encoder: `workspace.input` → hidden layers → head (mu, log σ²).
    public func encode(_ ws: Workspace, rows: Int) {
        let p = parameters.pointer
        var x = UnsafePointer(ws.input)
        for (layer, out) in zip(layout.encoder, ws.encoderOutputs) {
            linearForward(out, x, weight: p + layer.weight, bias: p + layer.bias,
                          rows: rows, inputs: layer.inputs, outputs: layer.outputs, activation: layer.activation)
            x = UnsafePointer(out)
        }
        let head = layout.head
        linearForward(ws.head, x, weight: p + head.weight, bias: p + head.bias,
                      rows: rows, inputs: head.inputs, outputs: head.outputs, activation: .none)
    }

    /// Decoder: `workspace.z` → hidden layers → `workspace.logits`.
    public func decode(_ ws: Workspace, rows: Int) {
        let p = parameters.pointer
        var x = UnsafePointer(ws.z)
        for (layer, out) in zip(layout.decoder, ws.decoderOutputs) {
            linearForward(out, x, weight: p + layer.weight, bias: p + layer.bias,
                          rows: rows, inputs: layer.inputs, outputs: layer.outputs, activation: layer.activation)
            x = UnsafePointer(out)
        }
        let output = layout.output
        linearForward(ws.logits, x, weight: p + output.weight, bias: p + output.bias,
                      rows: rows, inputs: output.inputs, outputs: output.outputs, activation: .none)
    }

    /// The negative ELBO of `workspace.input` with the noise already in `workspace.eps`:
    /// encode, reparameterise, decode, score. With `computeGradients` the loss gradient with
    /// respect to the logits is left in `dLogits` for `backward`.
    public func forward(_ ws: Workspace, rows: Int, computeGradients: Bool) -> LossTerms {
        encode(ws, rows: rows)
        reparameterizeForward(z: ws.z, head: ws.head, eps: ws.eps, rows: rows, latent: config.latentDim)
        decode(ws, rows: rows)
        let reconstruction = bernoulliNLL(logits: ws.logits, targets: ws.input,
                                          dlogits: computeGradients ? ws.dLogits : nil,
                                          rows: rows, columns: VAEConfig.inputSize)
        let kl = klDivergence(head: ws.head, rows: rows, latent: config.latentDim)
        return LossTerms(reconstruction: reconstruction, kl: kl)
    }

    /// Gradients of the summed negative ELBO into `gradients`, after `forward(computeGradients: true)`.
    public func backward(_ ws: Workspace, rows: Int) {
        let p = parameters.pointer, g = gradients.pointer

        var dout = ws.dLogits
        var layer = layout.output
        for i in stride(from: layout.decoder.count - 1, through: 0, by: -1) {
            let inp = ws.decoderOutputs[i], dinp = ws.dDecoderOutputs[i]
            linearBackward(dinp: dinp, dweight: g + layer.weight, dbias: g + layer.bias, dout: dout,
                           inp: inp, weight: p + layer.weight, rows: rows, inputs: layer.inputs, outputs: layer.outputs)
            layer = layout.decoder[i]
            backwardThroughActivation(layer.activation, dinp, out: inp, count: rows * layer.outputs)
            dout = dinp
        }
        linearBackward(dinp: ws.dZ, dweight: g + layer.weight, dbias: g + layer.bias, dout: dout,
                       inp: ws.z, weight: p + layer.weight, rows: rows, inputs: layer.inputs, outputs: layer.outputs)

        reparameterizeKLBackward(dhead: ws.dHead, dz: ws.dZ, head: ws.head, eps: ws.eps,
                                 rows: rows, latent: config.latentDim, klWeight: 1)

        dout = ws.dHead
        layer = layout.head
        for i in stride(from: layout.encoder.count - 1, through: 0, by: -1) {
            let inp = ws.encoderOutputs[i], dinp = ws.dEncoderOutputs[i]
            linearBackward(dinp: dinp, dweight: g + layer.weight, dbias: g + layer.bias, dout: dout,
                           inp: inp, weight: p + layer.weight, rows: rows, inputs: layer.inputs, outputs: layer.outputs)
            layer = layout.encoder[i]
            backwardThroughActivation(layer.activation, dinp, out: inp, count: rows * layer.outputs)
            dout = dinp
        }
        linearBackward(dinp: nil, dweight: g + layer.weight, dbias: g + layer.bias, dout: dout,
                       inp: ws.input, weight: p + layer.weight, rows: rows, inputs: layer.inputs, outputs: layer.outputs)
    }
}

private func backwardThroughActivation(_ activation: Activation, _ dout: Floats, out: ConstFloats, count: Int) {
    switch activation {
    case .none: break
    case .relu: reluBackward(dout, out: out, count: count)
    }
}
