// A network is a chain of `Layer`s over one flat parameter buffer: the VAE's encoder and
// decoder, the quality classifier and the two-stage sampler run their layers through these
// functions.

// Every layer is a forward function and a backward function over plain row-major buffers
// with explicit shapes, in the manner of llm.c. Weights use PyTorch's [outputs, inputs] layout,
// so checkpoints line up with `nn.Linear` state dicts. Backward functions overwrite their
// parameter gradients (beta = 0): every parameter is used once per step, so nothing needs
// zeroing. An input gradient fed by two paths (z, from the decoder and from a mixture prior's
// density) is added into by the second, as its function says.

// `convScratch` is the convolutions' im2col space (`convScratchSize`); a chain of linear layers
// alone passes nil rather than a buffer that holds something else.

/// out = layer(inp) for `rows` images, with the weights and bias at the layer's offsets in `parameters`.
func layerForward(_ layer: Layer, _ out: Floats, _ inp: ConstFloats, parameters: ConstFloats, rows: Int, convScratch: Floats?) {
    let weight = parameters + layer.weightOffset, bias = parameters + layer.biasOffset
    switch layer.kind {
    case .linear:
        linearForward(out, inp, weight: weight, bias: bias, rows: rows, inputs: layer.inputs, outputs: layer.outputs,
                      activation: layer.activation)
    case .conv2d(let shape):
        conv2dForward(out, inp, weight: weight, bias: bias, scratch: required(convScratch), images: rows, shape: shape,
                      activation: layer.activation)
    case .convTranspose2d(let shape):
        convTranspose2dForward(out, inp, weight: weight, bias: bias, scratch: required(convScratch), images: rows, shape: shape,
                               activation: layer.activation)
    }
}

/// Every layer of the chain in turn, from `input` through `outputs[i]`, layer i's output.
func chainForward(through layers: [Layer], input: ConstFloats, outputs: [Floats], parameters: ConstFloats, rows: Int,
                  convScratch: Floats?) {
    var x = input
    for (layer, out) in zip(layers, outputs) {
        layerForward(layer, out, x, parameters: parameters, rows: rows, convScratch: convScratch)
        x = UnsafePointer(out)
    }
}

/// From the gradient of a chain's last output (in `gradients.last`) back to the parameters of
/// every layer (into `parameterGradients`) and, unless `dInput` is nil, to the chain's input:
/// `dInput` receives the gradient of input rows `dInputFromRow..<rows` only (a VampPrior needs
/// it for its pseudo-inputs, encoded after the images, and not for the images). Each layer's
/// output gradient takes its activation's derivative before the layer's own backward uses it:
/// in the product of the layer after it when that is a linear layer's input gradient, else in a
/// pass of its own.
func chainBackward(through layers: [Layer], input: ConstFloats, outputs: [Floats], gradients: [Floats], dInput: Floats?,
                   dInputFromRow: Int = 0, parameters p: ConstFloats, parameterGradients g: Floats, rows: Int, convScratch: Floats?) {
    var activationApplied = false
    for i in layers.indices.reversed() {
        let layer = layers[i]
        let dout = gradients[i]
        if layer.activation == .relu && !activationApplied {
            reluBackward(dout, out: outputs[i], count: rows * layer.outputs)
        }
        let inp = i > 0 ? UnsafePointer(outputs[i - 1]) : input
        // The input gradient of some rows only is computed apart, after the parameters' gradients.
        let partialInputGradient = i == 0 && dInput != nil && dInputFromRow > 0
        let dinp = i > 0 ? gradients[i - 1] : partialInputGradient ? nil : dInput
        activationApplied = false
        switch layer.kind {
        case .linear:
            let inputReLU = i > 0 && layers[i - 1].activation == .relu ? UnsafePointer(outputs[i - 1]) : nil
            linearBackward(dinp: dinp, dweight: g + layer.weightOffset, dbias: g + layer.biasOffset, dout: dout, inp: inp,
                           weight: p + layer.weightOffset, rows: rows, inputs: layer.inputs, outputs: layer.outputs,
                           dinpReLUOutput: inputReLU)
            activationApplied = inputReLU != nil
        case .conv2d(let shape):
            conv2dBackward(dinp: dinp, dweight: g + layer.weightOffset, dbias: g + layer.biasOffset, dout: dout, inp: inp,
                           weight: p + layer.weightOffset, scratch: required(convScratch), images: rows, shape: shape)
        case .convTranspose2d(let shape):
            convTranspose2dBackward(dinp: dinp, dweight: g + layer.weightOffset, dbias: g + layer.biasOffset, dout: dout, inp: inp,
                                    weight: p + layer.weightOffset, scratch: required(convScratch), images: rows, shape: shape)
        }
        guard partialInputGradient, let dInput else { continue }
        // As the backward functions compute it, for the rows from dInputFromRow on.
        let first = dInputFromRow, count = rows - dInputFromRow
        let weight = p + layer.weightOffset
        switch layer.kind {
        case .linear:
            sgemm(false, false, count, layer.inputs, layer.outputs, dout + first * layer.outputs, layer.outputs,
                  weight, layer.inputs, dInput, layer.inputs)
        case .conv2d(let shape):
            conv2dInputGradient(dInput, dout: dout + first * layer.outputs, weight: weight, scratch: required(convScratch),
                                images: count, shape: shape)
        case .convTranspose2d:
            preconditionFailure("a chain's first layer is not a transposed convolution")
        }
    }
}

private func required(_ convScratch: Floats?) -> Floats {
    guard let convScratch else { preconditionFailure("a convolution needs the chain's convScratch") }
    return convScratch
}
