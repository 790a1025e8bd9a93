import Foundation
import Testing
import TestSupport
import VAECore

// The convolutions against their definitions (direct loops, as PyTorch defines Conv2d and
// ConvTranspose2d) and against finite differences. Shapes are small: a 6x6 image, whose patches
// hang over the top and left borders only, as at 28 and 14, and a 5x7 one, whose last patches
// hang over the bottom and right borders as well; with one image channel, as the first
// convolution has, the weights serve as stored, with more they are reordered (Convolution.swift);
// seventeen channels copy eight at a time, twice, and then one by one.
private let shapes = [ConvShape(height: 6, width: 6, imageChannels: 2, gridChannels: 3),
                      ConvShape(height: 5, width: 7, imageChannels: 3, gridChannels: 2),
                      ConvShape(height: 6, width: 6, imageChannels: 1, gridChannels: 3)]
/// Also for the definitions, not the finite differences (whose search for a seed that keeps 1,224
/// outputs off the ReLU's kink would not end).
private let shapesAndWideImage = shapes + [ConvShape(height: 6, width: 6, imageChannels: 17, gridChannels: 2)]
private let images = 2

/// Calls `visit(grid position, weight tap, image pixel)` for every in-bounds (position, tap)
/// pair of image n, by the definition of a 3x3, stride-2, padding-1 convolution.
private func forEachTap(_ shape: ConvShape, image n: Int, _ visit: (_ position: Int, _ tap: Int, _ pixel: Int) -> Void) {
    for gy in 0..<shape.gridHeight {
        for gx in 0..<shape.gridWidth {
            for ky in 0..<3 {
                for kx in 0..<3 {
                    let y = 2 * gy - 1 + ky, x = 2 * gx - 1 + kx
                    guard (0..<shape.height).contains(y) && (0..<shape.width).contains(x) else { continue }
                    visit((n * shape.gridHeight + gy) * shape.gridWidth + gx, ky * 3 + kx, (n * shape.height + y) * shape.width + x)
                }
            }
        }
    }
}

/// nn.Conv2d on NHWC buffers: out[n, gy, gx, o] = bias[o] + Σ weight[o, c, ky, kx] · x[n, 2gy-1+ky, 2gx-1+kx, c].
private func directConv2d(_ x: [Float], weight: [Float], bias: [Float], shape: ConvShape) -> [Float] {
    let inC = shape.imageChannels, outC = shape.gridChannels
    var out = [Double](repeating: 0, count: images * shape.gridSize)
    for n in 0..<images {
        forEachTap(shape, image: n) { position, tap, pixel in
            for o in 0..<outC {
                for c in 0..<inC { out[position * outC + o] += Double(weight[(o * inC + c) * 9 + tap] * x[pixel * inC + c]) }
            }
        }
    }
    return out.indices.map { Float(out[$0] + Double(bias[$0 % outC])) }
}

/// nn.ConvTranspose2d (output_padding making the output the image's size) on NHWC buffers: each
/// input position adds weight[i, o, ky, kx] · x[n, gy, gx, i] to output pixel (2gy-1+ky, 2gx-1+kx).
private func directConvTranspose2d(_ x: [Float], weight: [Float], bias: [Float], shape: ConvShape) -> [Float] {
    let inC = shape.gridChannels, outC = shape.imageChannels
    var out = [Double](repeating: 0, count: images * shape.imageSize)
    for n in 0..<images {
        forEachTap(shape, image: n) { position, tap, pixel in
            for o in 0..<outC {
                for i in 0..<inC { out[pixel * outC + o] += Double(weight[(i * outC + o) * 9 + tap] * x[position * inC + i]) }
            }
        }
    }
    return out.indices.map { Float(out[$0] + Double(bias[$0 % outC])) }
}

@Test(arguments: shapesAndWideImage)
func im2colAndCol2imAreAdjoint(shape: ConvShape) {
    var random = Random(seed: 21)
    let x = randomFloats(images * shape.imageSize, random: &random)
    let y = randomFloats(images * shape.positions * shape.patchSize, random: &random)
    var columns = [Float](repeating: 0, count: y.count)
    im2col(&columns, x, images: images, shape: shape)
    var folded = [Float](repeating: 7, count: x.count)  // garbage: col2im must overwrite it
    col2im(&folded, y, images: images, shape: shape)
    // ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩ for all x and y is what makes col2im im2col's adjoint.
    let left = zip(columns, y).reduce(0.0) { $0 + Double($1.0 * $1.1) }
    let right = zip(x, folded).reduce(0.0) { $0 + Double($1.0 * $1.1) }
    #expect(abs(left - right) < 1e-4 * max(1, abs(left)), "⟨im2col(x), y⟩ = \(left), ⟨x, col2im(y)⟩ = \(right)")
    #expect(columns.contains(0), "some patches must hang over the border")
}

@Test(arguments: shapesAndWideImage)
func convolutionsMatchTheirDefinitions(shape: ConvShape) {
    var random = Random(seed: 22)
    let weight = randomFloats(shape.gridChannels * shape.patchSize, random: &random)
    let image = randomFloats(images * shape.imageSize, random: &random)
    let grid = randomFloats(images * shape.gridSize, random: &random)
    // Garbage: nothing may depend on what the scratch held before.
    var scratch = [Float](repeating: 7, count: shape.scratchSize(images: images))

    let convBias = randomFloats(shape.gridChannels, random: &random)
    let expectedConv = directConv2d(image, weight: weight, bias: convBias, shape: shape)
    for activation in Activation.allCases {
        var out = [Float](repeating: 7, count: expectedConv.count)
        conv2dForward(&out, image, weight: weight, bias: convBias, scratch: &scratch, images: images, shape: shape,
                      activation: activation)
        expectClose(out, activation == .relu ? expectedConv.map { max($0, 0) } : expectedConv, relative: 1e-5, absolute: 1e-5,
                    "conv2d \(activation)")
    }

    let transposedBias = randomFloats(shape.imageChannels, random: &random)
    let expectedTransposed = directConvTranspose2d(grid, weight: weight, bias: transposedBias, shape: shape)
    for activation in Activation.allCases {
        var out = [Float](repeating: 7, count: expectedTransposed.count)
        convTranspose2dForward(&out, grid, weight: weight, bias: transposedBias, scratch: &scratch, images: images,
                               shape: shape, activation: activation)
        expectClose(out, activation == .relu ? expectedTransposed.map { max($0, 0) } : expectedTransposed, relative: 1e-5,
                    absolute: 1e-5, "convTranspose2d \(activation)")
    }
}

/// The gradients of one layer, given its forward and backward as closures over (input, weight,
/// bias), against finite differences of L = Σ out ⊙ target.
private func checkLayerGradients(
    _ name: String, inputs: Int, weights: Int, biases: Int, outputs: Int, activation: Activation,
    forward: (_ x: [Float], _ w: [Float], _ b: [Float], Activation) -> [Float],
    backward: (_ dout: [Float], _ x: [Float], _ w: [Float]) -> (dx: [Float], dw: [Float], db: [Float])
) {
    // The first seed whose pre-activations all keep 0.05 from the ReLU's kink, so that no finite
    // difference straddles it.
    var seed: UInt64 = 31
    var x: [Float] = [], w: [Float] = [], b: [Float] = [], target: [Float] = []
    while true {
        var random = Random(seed: seed)
        x = randomFloats(inputs, random: &random)
        w = randomFloats(weights, random: &random, scale: 0.5)
        b = randomFloats(biases, random: &random, scale: 0.5)
        target = randomFloats(outputs, random: &random)
        if forward(x, w, b, .none).allSatisfy({ abs($0) > 0.05 }) { break }
        seed += 1
    }
    func loss(_ out: [Float]) -> Double { zip(out, target).reduce(0) { $0 + Double($1.0 * $1.1) } }

    let out = forward(x, w, b, activation)
    if activation == .relu {
        #expect(out.contains(0) && out.contains { $0 > 0 }, "\(name): the check must cover both sides of the ReLU")
    }
    var dout = target
    if activation == .relu { reluBackward(&dout, out: out, count: dout.count) }
    let (dx, dw, db) = backward(dout, x, w)
    expectGradient("\(name) input", values: x, analytic: dx) { loss(forward($0, w, b, activation)) }
    expectGradient("\(name) weight", values: w, analytic: dw) { loss(forward(x, $0, b, activation)) }
    expectGradient("\(name) bias", values: b, analytic: db) { loss(forward(x, w, $0, activation)) }
}

@Test(arguments: shapes, Activation.allCases)
func conv2dGradients(shape: ConvShape, activation: Activation) {
    // Garbage: nothing may depend on what the scratch held before.
    var scratch = [Float](repeating: 7, count: shape.scratchSize(images: images))
    checkLayerGradients("conv2d", inputs: images * shape.imageSize, weights: shape.gridChannels * shape.patchSize,
                        biases: shape.gridChannels, outputs: images * shape.gridSize, activation: activation,
                        forward: { x, w, b, activation in
                            var out = [Float](repeating: 0, count: images * shape.gridSize)
                            conv2dForward(&out, x, weight: w, bias: b, scratch: &scratch, images: images, shape: shape,
                                          activation: activation)
                            return out
                        },
                        backward: { dout, x, w in
                            var dx = [Float](repeating: 7, count: x.count), dw = [Float](repeating: 7, count: w.count)
                            var db = [Float](repeating: 7, count: shape.gridChannels)
                            conv2dBackward(dinp: &dx, dweight: &dw, dbias: &db, dout: dout, inp: x, weight: w,
                                           scratch: &scratch, images: images, shape: shape)
                            return (dx, dw, db)
                        })
}

@Test(arguments: shapes, Activation.allCases)
func convTranspose2dGradients(shape: ConvShape, activation: Activation) {
    // Garbage: nothing may depend on what the scratch held before.
    var scratch = [Float](repeating: 7, count: shape.scratchSize(images: images))
    checkLayerGradients("convTranspose2d", inputs: images * shape.gridSize, weights: shape.gridChannels * shape.patchSize,
                        biases: shape.imageChannels, outputs: images * shape.imageSize, activation: activation,
                        forward: { x, w, b, activation in
                            var out = [Float](repeating: 0, count: images * shape.imageSize)
                            convTranspose2dForward(&out, x, weight: w, bias: b, scratch: &scratch, images: images,
                                                   shape: shape, activation: activation)
                            return out
                        },
                        backward: { dout, x, w in
                            var dx = [Float](repeating: 7, count: x.count), dw = [Float](repeating: 7, count: w.count)
                            var db = [Float](repeating: 7, count: shape.imageChannels)
                            convTranspose2dBackward(dinp: &dx, dweight: &dw, dbias: &db, dout: dout, inp: x, weight: w,
                                                    scratch: &scratch, images: images, shape: shape)
                            return (dx, dw, db)
                        })
}

/// The whole loss of a small conv model (2 and 3 channels). Its ReLUs are left out here: even this
/// model has over a thousand per image, whose kinks steps of any useful size keep crossing; the
/// convolutions' ReLU is checked per layer above, and the model's handling of ReLUs by the MLP's
/// whole-loss check. Without kinks the loss is smooth, and a step of 1e-2 lifts the differences
/// well above Float rounding.
@Test(arguments: [(Likelihood.bernoulli, Float(1)), (.gaussianFixed, 0.4)])
func wholeConvLossGradient(likelihood: Likelihood, klWeight: Float) {
    let config = VAEConfig(arch: .conv, convChannels: [2, 3], hidden: [6, 5], latentDim: 3, likelihood: likelihood, sigma: 0.5)
    let layout = ParameterLayout(config)
    // The model as trained: a ReLU after every layer but the head and the output.
    #expect(layout.encoder.map(\.activation) == [.relu, .relu, .relu, .relu, .none])
    #expect(layout.decoder.map(\.activation) == [.relu, .relu, .relu, .relu, .none])
    var linear = config
    linear.activation = .none
    expectWholeLossGradient(linear, klWeight: klWeight, h: 1e-2)
}

/// PyTorch's default initialisation, bound 1/√fan_in with fan_in = weight.size(1) · 9: the input
/// channels of Conv2d, but the output channels of ConvTranspose2d.
@Test func convInitialisationFollowsPyTorchBounds() throws {
    let model = VAEModel(config: VAEConfig(arch: .conv, hidden: [8], latentDim: 2))
    var random = Random(seed: 0)
    model.initialize(random: &random)
    let bounds: [(name: String, bound: Float)] = [
        ("encoder.conv.0", 1 / 3), ("encoder.conv.1", 1 / Float(32 * 9).squareRoot()),
        ("decoder.deconv.0", 1 / Float(32 * 9).squareRoot()), ("decoder.deconv.1", 1 / 3),
    ]
    for (name, bound) in bounds {
        for suffix in ["weight", "bias"] {
            let tensor = try #require(model.tensor(named: "\(name).\(suffix)"))
            let values = UnsafeBufferPointer(start: model.parameters.pointer + tensor.offset, count: tensor.count)
            #expect(values.allSatisfy { abs($0) <= bound }, "\(tensor.name) beyond ±\(bound)")
            if tensor.count >= 32 {
                #expect(values.max()! > 0.9 * bound && values.min()! < -0.9 * bound, "\(tensor.name) short of ±\(bound)")
            }
        }
    }
}

/// A short conv run on synthetic blobs, unconditional and conditional: the test loss falls, and
/// the run's checkpoints read back.
@Test(arguments: [false, true])
func convTrainingLowersTheLoss(conditional: Bool) throws {
    let run = RunConfig(model: VAEConfig(arch: .conv, hidden: [16], latentDim: 4, conditional: conditional), epochs: 3, batchSize: 25,
                        learningRate: 3e-3, seed: 2, preset: "conv", trainImages: 100, testImages: 20)
    #expect(run.summary.hasPrefix("conv 28x28x1-14x14x32-7x7x64-16-4 relu, bernoulli"), "\(run.summary)")
    let data = KMNIST(train: syntheticImageSet(count: 100, seed: 23), test: syntheticImageSet(count: 20, seed: 24))
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    var losses: [Double] = []
    try train(run, data: data, directory: RunDirectory(folder), mode: .fresh, epochFinished: { losses.append($0.test.total) })
    #expect(losses.count == 3 && losses[2] < losses[1] && losses[1] < losses[0], "test losses \(losses)")
    #expect(losses[0] < 500, "an untrained Bernoulli decoder scores about 543 nats: \(losses)")
    let checkpoint = try readCheckpoint(RunDirectory(folder).checkpoint(epoch: 3))
    #expect(checkpoint.run == run)
}

/// The banner names the activation only where a layer has one: hidden layers and convolutions.
@Test func theSummaryNamesAnActivationOnlyWhereALayerHasOne() {
    let summaries = [VAEConfig(hidden: [], latentDim: 2), VAEConfig(hidden: [8], latentDim: 2),
                     VAEConfig(arch: .conv, hidden: [], latentDim: 2)].map {
        RunConfig(model: $0, epochs: 1, batchSize: 8, learningRate: 1e-3, seed: 0, preset: "default", trainImages: 8, testImages: 8).summary
    }
    #expect(summaries[0].hasPrefix("mlp 784-2, bernoulli"), "\(summaries[0])")
    #expect(summaries[1].hasPrefix("mlp 784-8-2 relu, bernoulli"), "\(summaries[1])")
    #expect(summaries[2].hasPrefix("conv 28x28x1-14x14x32-7x7x64-2 relu, bernoulli"), "\(summaries[2])")
}
