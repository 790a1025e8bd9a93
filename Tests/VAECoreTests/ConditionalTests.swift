import Foundation
import Testing
import TestSupport
import VAECore

// The class-conditional VAE: the label's one-hot joins the input of the encoder's and the
// decoder's first layer.

@Test func theLabelAddsTenInputColumnsToEachFirstLayer() {
    func shapes(_ config: VAEConfig) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: ParameterLayout(config).tensors.map { ($0.name, $0.shape) })
    }
    let mlp = VAEConfig(hidden: [12, 7], latentDim: 3)
    var conditional = mlp
    conditional.conditional = true
    var expected = shapes(mlp)
    expected["encoder.hidden.0.weight"] = [12, 794]
    expected["decoder.hidden.0.weight"] = [7, 13]
    #expect(shapes(conditional) == expected)
    #expect(ParameterLayout(conditional).count == ParameterLayout(mlp).count + 10 * (12 + 7))

    // Without hidden layers the head and the output layer are the first layers.
    let bare = shapes(VAEConfig(hidden: [], latentDim: 3, conditional: true))
    #expect(bare["encoder.mu.weight"] == [3, 794] && bare["decoder.out.weight"] == [784, 13])

    // A convolution gets the label as ten more channels of every pixel; the decoder's
    // transposed convolutions still end in one channel.
    let conv = shapes(VAEConfig(arch: .conv, hidden: [12], latentDim: 3, conditional: true))
    #expect(conv["encoder.conv.0.weight"] == [32, 11, 3, 3])
    #expect(conv["encoder.conv.1.weight"] == [64, 32, 3, 3])
    #expect(conv["decoder.hidden.0.weight"] == [12, 13])
    #expect(conv["decoder.deconv.1.weight"] == [32, 1, 3, 3] && conv["decoder.deconv.1.bias"] == [1])
}

/// L = Σ out ⊙ target through the concatenation: the features' gradient is target without the
/// label columns, and the one-hot is exact.
@Test(arguments: [(1, 5), (4, 1)])
func labelConcatenationGradient(positions: Int, features: Int) {
    let rows = 3, classes = 4, width = features + classes
    var random = Random(seed: 21)
    let x = randomFloats(rows * positions * features, random: &random)
    let target = randomFloats(rows * positions * width, random: &random)
    let labels: [UInt8] = [2, 0, 3]
    func forward(_ x: [Float]) -> [Float] {
        var out = [Float](repeating: 9, count: rows * positions * width)
        concatenateOneHot(&out, x, labels: labels, rows: rows, positions: positions, features: features, classes: classes)
        return out
    }
    let out = forward(x)
    for r in 0..<rows {
        for p in 0..<positions {
            let row = Array(out[((r * positions + p) * width)..<((r * positions + p + 1) * width)])
            #expect(Array(row[..<features]) == Array(x[((r * positions + p) * features)..<((r * positions + p + 1) * features)]))
            #expect(Array(row[features...]) == (0..<classes).map { $0 == Int(labels[r]) ? 1 : 0 }, "row \(r), position \(p)")
        }
    }
    var dx = [Float](repeating: 7, count: x.count)
    concatenateOneHotBackward(&dx, dout: target, rows: rows, positions: positions, features: features, classes: classes)
    expectGradient("features", values: x, analytic: dx) { x in
        zip(forward(x), target).reduce(0) { $0 + Double($1.0 * $1.1) }
    }
}

/// The whole negative ELBO of small conditional models, every parameter tensor; the decoder's
/// gradient reaches the encoder through z alone, not through the label columns.
@Test(arguments: [Likelihood.bernoulli, .gaussian])
func wholeConditionalLossGradient(likelihood: Likelihood) {
    expectWholeLossGradient(VAEConfig(hidden: [6, 5], latentDim: 3, likelihood: likelihood, conditional: true), klWeight: 1)
}

/// As `wholeConvLossGradient`: without ReLUs, so that no step crosses a kink.
@Test func wholeConditionalConvLossGradient() {
    expectWholeLossGradient(VAEConfig(arch: .conv, convChannels: [2, 3], hidden: [6, 5], latentDim: 3, activation: .none,
                                      conditional: true), klWeight: 1, h: 1e-2)
}

/// Decodes one z with every label: the images differ, and only through the label's columns of
/// the decoder's first weight (zeroed, the ten images are the same).
@Test func theDecoderOutputDependsOnTheLabel() {
    let config = VAEConfig(hidden: [16], latentDim: 4, conditional: true)
    let model = VAEModel(config: config)
    var random = Random(seed: 23)
    model.initialize(random: &random)
    let rows = VAEConfig.classes, size = VAEConfig.inputSize
    let workspace = Workspace(layout: model.layout, capacity: rows)
    let z = randomFloats(config.latentDim, random: &random)
    func decodeEveryClass() -> [[Float]] {
        for r in 0..<rows {
            (workspace.z + r * config.latentDim).update(from: z, count: config.latentDim)
            workspace.labels[r] = UInt8(r)
        }
        model.decode(workspace, rows: rows)
        return (0..<rows).map { Array(UnsafeBufferPointer(start: workspace.decoderOutput + $0 * size, count: size)) }
    }
    let images = decodeEveryClass()
    for a in 0..<rows {
        for b in 0..<a {
            let difference = zip(images[a], images[b]).map { abs($0 - $1) }.max()!
            #expect(difference > 0.01, "classes \(a) and \(b) decode alike: largest logit difference \(difference)")
        }
    }
    let weight = model.tensor(named: "decoder.hidden.0.weight")!
    let inputs = weight.shape[1]
    for o in 0..<weight.shape[0] {
        for c in config.latentDim..<inputs { model.parameters[weight.offset + o * inputs + c] = 0 }
    }
    // Alike up to the rounding of sgemm, which may sum the rows of a batch in different orders.
    let unlabelled = decodeEveryClass()
    let spread = unlabelled.map { zip($0, unlabelled[0]).map { abs($0 - $1) }.max()! }.max()!
    #expect(spread < 1e-5, "without the label's columns the classes still differ by \(spread)")
}

/// The latent codec in batches of two decodes each batch with its own points' labels: the
/// images come out as from one batch, up to sgemm's rounding.
@Test func theCodecDecodesEachBatchWithItsOwnLabels() {
    let config = VAEConfig(hidden: [16], latentDim: 4, conditional: true)
    let model = VAEModel(config: config)
    var random = Random(seed: 23)
    model.initialize(random: &random)
    let z = randomFloats(5 * config.latentDim, random: &random)
    let labels: [UInt8] = [0, 1, 2, 3, 4]
    let whole = LatentCodec(config: config).decodeMeans(model, z: z, labels: labels)
    let pairs = LatentCodec(config: config, batchCapacity: 2).decodeMeans(model, z: z, labels: labels)
    expectClose(pairs, whole, absolute: 1e-5, "decoded in batches of 2")
}

/// Trained on images whose class decides where the blob is, a conditional model scores the test
/// images with their own labels far better than with the next class's: evaluation passes the labels.
@Test func aTrainedConditionalModelUsesTheLabel() throws {
    let data = KMNIST(train: syntheticImageSet(count: 300, seed: 7), test: syntheticImageSet(count: 60, seed: 8))
    let run = RunConfig(model: VAEConfig(hidden: [64], latentDim: 2, conditional: true), epochs: 10, batchSize: 20,
                        learningRate: 3e-3, seed: 1, preset: "default", trainImages: 300, testImages: 60)
    let trainer = Trainer(run: run, data: data)
    for _ in 0..<run.epochs { _ = try trainer.trainEpoch() }
    let mislabelled = ImageSet(pixels: data.test.pixels, labels: data.test.labels.map { ($0 + 1) % 10 })
    let right = negativeELBO(trainer.model, data.test, samples: 1, seed: 0).total
    let wrong = negativeELBO(trainer.model, mislabelled, samples: 1, seed: 0).total
    #expect(right < wrong - 10, "negative ELBO with the true labels \(right), with the next class's \(wrong)")
    let rightIWAE = try importanceWeightedNLL(trainer.model, data.test, k: 8, seed: 0)
    let wrongIWAE = try importanceWeightedNLL(trainer.model, mislabelled, k: 8, seed: 0)
    #expect(rightIWAE < wrongIWAE - 10 && rightIWAE <= right + 0.5, "IWAE \(rightIWAE) against \(wrongIWAE), ELBO \(right) against \(wrong)")
}

/// The switch is stored as conditional=true, and left out of an unconditional run's metadata so
/// that its checkpoints keep their bytes; a value other than true is refused.
@Test func theConditionalSwitchRoundTripsThroughTheMetadata() throws {
    var run = RunConfig(model: VAEConfig(hidden: [12], latentDim: 3), epochs: 2, batchSize: 16, learningRate: 1e-3,
                        seed: 5, preset: "default", trainImages: 100, testImages: 30)
    #expect(run.metadata["conditional"] == nil)
    run.model.conditional = true
    #expect(run.metadata["conditional"] == "true")
    #expect(run.summary.contains("conditional on the class"))
    let model = VAEModel(config: run.model)
    var random = Random(seed: 5)
    model.initialize(random: &random)
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let metrics = EpochMetrics(epoch: 1, train: LossTerms(reconstruction: 1, kl: 1), test: LossTerms(reconstruction: 1, kl: 1),
                               seconds: 1, imagesPerSecond: 1)
    let path = folder + "/epoch-0001.safetensors"
    try writeCheckpoint(model, run: run, metrics: metrics, to: path)
    let checkpoint = try readCheckpoint(path)
    #expect(checkpoint.run == run)
    expectIdentical(checkpoint.model.parameters.array, model.parameters.array, "parameters read back")
    #expect(checkpoint.run.differences(from: RunConfig(model: VAEConfig(hidden: [12], latentDim: 3), epochs: 2, batchSize: 16,
                                                       learningRate: 1e-3, seed: 5, preset: "default", trainImages: 100,
                                                       testImages: 30)) == ["conditional true instead of false"])

    var edited = try readFile(path)
    let key = Array("\"conditional\":\"true\"".utf8)
    let at = try #require((0...(edited.count - key.count)).first { Array(edited[$0..<$0 + key.count]) == key })
    edited.replaceSubrange(at + key.count - 5..<at + key.count - 1, with: Array("yes!".utf8))
    #expect(throws: VAEError.self) { try parseCheckpoint(edited, path: path) }
    do {
        _ = try parseCheckpoint(edited, path: path)
    } catch let error as VAEError {
        #expect(error.message == "\(path): metadata conditional has the invalid value \"yes!\"")
    }
}
