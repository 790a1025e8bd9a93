// A network is a chain of `Layer`s over one flat parameter buffer: the VAE's encoder and
// decoder, and the quality classifier, run their layers through these two functions.

/// out = layer(inp) for `rows` images, with the weights and bias at the layer's offsets in `parameters`.
func layerForward(_ layer: Layer, _ out: Floats, _ inp: ConstFloats, parameters: ConstFloats, rows: Int, columns: Floats) {
    let weight = parameters + layer.weightOffset, bias = parameters + layer.biasOffset
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

/// From the gradient of a chain's last output (in `gradients.last`) back to the parameters of
/// every layer (into `parameterGradients`) and, unless `dInput` is nil, to the chain's input.
/// Each layer's output gradient takes its activation's derivative before the layer's own
/// backward uses it: in the product of the layer after it when that is a linear layer's input
/// gradient, else in a pass of its own.
func chainBackward(through layers: [Layer], input: ConstFloats, outputs: [Floats], gradients: [Floats], dInput: Floats?,
              parameters p: ConstFloats, parameterGradients g: Floats, rows: Int, columns: Floats) {
    var activationApplied = false
    for i in layers.indices.reversed() {
        let layer = layers[i]
        let dout = gradients[i]
        if layer.activation == .relu && !activationApplied {
            reluBackward(dout, out: outputs[i], count: rows * layer.outputs)
        }
        let inp = i > 0 ? UnsafePointer(outputs[i - 1]) : input
        let dinp = i > 0 ? gradients[i - 1] : dInput
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
                           weight: p + layer.weightOffset, columns: columns, images: rows, shape: shape)
        case .convTranspose2d(let shape):
            convTranspose2dBackward(dinp: dinp, dweight: g + layer.weightOffset, dbias: g + layer.biasOffset, dout: dout, inp: inp,
                                    weight: p + layer.weightOffset, columns: columns, images: rows, shape: shape)
        }
    }
}
