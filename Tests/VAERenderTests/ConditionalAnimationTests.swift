import Foundation
import Testing
import TestSupport
import VAECore
import VAERender

// The animations of a class-conditional model: every encoding and decoding gets a label.

/// A two-epoch conditional run on the synthetic data, in a temporary folder that the test
/// removes (`removeTemporaryFolder(run.path)`).
private func conditionalRun(function: String = #function) throws -> RunDirectory {
    let data = try KMNIST.load(from: syntheticData)
    let run = RunConfig(model: VAEConfig(hidden: [16], latentDim: 3, conditional: true), epochs: 2, batchSize: 32,
                        learningRate: 1e-3, seed: 2, preset: "default", trainImages: data.train.count, testImages: data.test.count)
    let directory = RunDirectory(temporaryFolder(function) + "/run")
    do {
        try train(run, data: data, directory: directory, mode: .fresh)
    } catch {
        removeTemporaryFolder(directory.path)
        throw error
    }
    return directory
}

/// --sampler vamp on a conditional run is refused without the advice to train with --prior vamp,
/// which vae-train refuses beside --conditional.
@Test func aConditionalRunHasNoVampPriorToSampleFrom() throws {
    let directory = try conditionalRun()
    defer { removeTemporaryFolder(directory.path) }
    let model = try RunReplay(runDirectory: directory.path).final.model
    expectVAEError(.usage, containing: ["--sampler vamp draws from a VampPrior, and this run has the normal prior (a conditional run has none)"]) {
        _ = try makeSampler(.vamp, model: model, codec: LatentCodec(config: model.config), training: nil, seed: 0)
    }
}

/// Without a sampler: one row per class, top to bottom, grid²/10 columns rounded up, and one
/// z ~ N(0, I) per column shared by every row.
@Test func conditionalSamplingHasOneRowPerClass() throws {
    let directory = try conditionalRun()
    defer { removeTemporaryFolder(directory.path) }
    let replay = try RunReplay(runDirectory: directory.path)
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let codec = LatentCodec(config: replay.run.model)
    let sampling = try SamplingAnimation(options: SamplingOptions(grid: 5, source: .plane, seed: 4), style: FrameStyle(),
                                         final: replay.final.model, test: test, codec: codec, plannedEpochs: 2, lastEpoch: 2)
    #expect(sampling.grid == .classRows(seed: 4))
    // grid² / 10 rounded up: 9 / 10 and 100 / 10.
    for (grid, columns) in [(3, 1), (10, 10)] {
        #expect(try SamplingAnimation(options: SamplingOptions(grid: grid, source: .plane), style: FrameStyle(), final: replay.final.model,
                                      test: test, codec: codec, plannedEpochs: 2, lastEpoch: 2).layout.columns == columns)
    }
    #expect(sampling.layout.rows == 10 && sampling.layout.columns == 3)
    #expect(sampling.labels == (0..<10).flatMap { [UInt8](repeating: UInt8($0), count: 3) })
    var random = Random(seed: 4)
    var styles = [Float](repeating: 0, count: 3 * 3)
    styles.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
    expectIdentical(sampling.points, Array(Array(repeating: styles, count: 10).joined()), "the points")

    // The same z decoded as class 0 and as class 9 gives different images.
    let first = codec.decodeMeans(replay.final.model, z: Array(styles[0..<3]), labels: [0])
    let last = codec.decodeMeans(replay.final.model, z: Array(styles[0..<3]), labels: [9])
    #expect(zip(first, last).map { abs($0 - $1) }.max()! > 0.05)
}

/// With the GMM sampler: one mixture per class, fitted to that class's encoded training means;
/// row c holds class c's draws, decoded with label c.
@Test func conditionalGMMSamplingDrawsEachRowFromItsClassMixture() throws {
    let directory = try conditionalRun()
    defer { removeTemporaryFolder(directory.path) }
    let replay = try RunReplay(runDirectory: directory.path)
    let data = try KMNIST.load(from: syntheticData)
    let codec = LatentCodec(config: replay.run.model), model = replay.final.model
    let options = SamplingOptions(grid: 5, seed: 4, temperature: 1)
    let sampling = try SamplingAnimation(options: options, style: FrameStyle(), final: model, test: data.test,
                                         training: data.train, codec: codec, plannedEpochs: 2, lastEpoch: 2)
    #expect(sampling.grid == .sampled(.gmm, seed: 4))
    #expect(sampling.layout.rows == 10 && sampling.layout.columns == 3)
    #expect(sampling.labels == (0..<10).flatMap { [UInt8](repeating: UInt8($0), count: 3) })

    var random = Random(seed: 4)
    var expected: [Float] = []
    for c in 0..<10 {
        let mixture = GaussianMixture.fit(codec.encodeMeans(model, images: data.train.images(ofClass: c)), latent: 3,
                                          covariance: .full, seed: 4).mixture
        expected += mixture.sample(count: 3, random: &random).z
    }
    expectIdentical(sampling.points, expected, "the points")
}

/// A conditional model's default pairs are two images of one class: a test set with no such
/// class is refused with the flag that names pairs, not divided by zero.
@Test func conditionalInterpolationWithoutTwoImagesOfAClassIsRefused() throws {
    let oneOfEach = ImageSet(pixels: [UInt8](repeating: 0, count: 10 * VAEConfig.inputSize), labels: (0..<10).map(UInt8.init))
    #expect(sameClassPairs(labels: oneOfEach.labels).isEmpty)
    #expect(throws: VAEError(.usage, "no class of the 10 test images has two images for a conditional model's interpolation; "
                             + "name the pairs with --pairs")) {
        try InterpolationAnimation(options: InterpolationOptions(), style: FrameStyle(), test: oneOfEach, conditional: true)
    }
    // Named pairs need no two images of a class, and the unconditional default none either.
    _ = try InterpolationAnimation(options: InterpolationOptions(pairs: [ImagePair(a: 0, b: 1)]), style: FrameStyle(),
                                   test: oneOfEach, conditional: true)
    #expect(try InterpolationAnimation(options: InterpolationOptions(), style: FrameStyle(), test: oneOfEach).pairs.count == 10)
}

/// All five animations render (the sampling frame one row per class); the default interpolation
/// pairs are two characters of one class.
@Test func conditionalRunsRenderEveryAnimation() throws {
    let directory = try conditionalRun()
    defer { removeTemporaryFolder(directory.path) }
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let pairs = sameClassPairs(labels: test.labels)
    #expect(!pairs.isEmpty && pairs.allSatisfy { test.labels[$0.a] == test.labels[$0.b] && $0.a < $0.b })
    #expect(sameClassPairs(labels: [3, 1, 3, 5, 1, 3]) == [ImagePair(a: 1, b: 4), ImagePair(a: 0, b: 2)])

    let gifs = try renderAnimations(RenderRequest(runDirectory: directory.path, dataFolder: syntheticData,
                                                  interpolation: InterpolationOptions(steps: 2), sampling: SamplingOptions(grid: 2),
                                                  reconstruction: ReconstructionOptions(), latentMap: LatentMapOptions(),
                                                  traversal: TraversalOptions(dims: 2)))
    #expect(gifs.map(\.animation) == Animation.allCases)
    #expect(gifs.map(\.frameCount) == [4, 2, 2, 2, 16], "\(gifs.map(\.frameCount))")
    let sampling = TileLayout(columns: 1, rows: 10, style: FrameStyle(), widestCaption: "epoch 2/2", subtitle: "z ~ GMM, T=1.15, rows = classes 0-9")
    #expect(gifs[1].width == sampling.width && gifs[1].height == sampling.height && gifs[1].frameCount == 2, "\(gifs[1].width)x\(gifs[1].height) vs \(sampling.width)x\(sampling.height)")

    // vae-render --seed picks the plane's column draws of a conditional run, as --help says (an
    // unconditional run's plane has none: see badRequestsAreRefusedBeforeAnyWork).
    let out = directory.path + "/out"
    let bySeed = try ["4", "5"].map { seed in
        let result = try runTool("vae-render", ["--sampling", "--sampler", "plane", "--seed", seed, "--grid", "2",
                                                "--run-dir", directory.path, "--data", syntheticData, "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        return try readFile(out + "/sampling.gif")
    }
    expectDifferent(bySeed[0], bySeed[1], "the plane's columns drawn with seeds 4 and 5")
}

/// Each character is encoded and decoded with its own class wherever it is drawn, not with the
/// class of the test image at its position: the reconstruction's and the traversal's tiles, and
/// the interpolation's whole path with A's class, here from A to a B of another class, as --pairs
/// may ask.
@Test func conditionalAnimationsDecodeEachCharacterWithItsOwnClass() throws {
    let directory = try conditionalRun()
    defer { removeTemporaryFolder(directory.path) }
    let replay = try RunReplay(runDirectory: directory.path)
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let codec = LatentCodec(config: replay.run.model), model = replay.final.model
    let style = FrameStyle(scale: 1)
    func means(_ indices: [Int]) -> [Float] { codec.encodeMeans(model, images: test, indices: indices) }

    // Each shown at position 0, where the test image is of another class.
    let other = try #require(test.labels.indices.first { test.labels[$0] != test.labels[0] })
    let reconstruction = try ReconstructionAnimation(options: ReconstructionOptions(indices: [other]), style: style, test: test,
                                                     plannedEpochs: 2, lastEpoch: 2)
    let reconstructed = reconstruction.frame(replay.final, nextEpoch: nil, test: test, codec: codec).canvas
    var redrawn = reconstructed
    reconstruction.layout.draw(codec.decodeMeans(model, z: means([other]), labels: [test.labels[other]]), number: 0, column: 0, row: 1,
                               on: &redrawn)
    expectIdentical(redrawn, reconstructed, "the reconstruction with the character decoded with its class drawn again")

    let traversal = try TraversalAnimation(options: TraversalOptions(dims: 1), style: style, activity: latentActivity(model, test),
                                           test: test)
    try #require(traversal.indices.indices.contains { test.labels[traversal.indices[$0]] != test.labels[$0] })
    let swept = traversal.frames(model: model, test: test, codec: codec)[0].canvas
    var redrawnSweep = swept
    let characters = means(traversal.indices), latent = codec.latent
    for (column, index) in traversal.indices.enumerated() {
        var z = Array(characters[column * latent..<(column + 1) * latent])
        z[traversal.dimensions[0]] += traversal.latentOffset(step: traversal.frameSteps[0], dimension: traversal.dimensions[0])
        traversal.layout.draw(codec.decodeMeans(model, z: z, labels: [test.labels[index]]), number: 0, column: 1 + column, row: 0,
                              on: &redrawnSweep)
    }
    expectIdentical(redrawnSweep, swept, "the traversal's first frame with each character decoded with its class drawn again")

    let pair = ImagePair(a: 0, b: other)
    let interpolation = try InterpolationAnimation(options: InterpolationOptions(pairs: [pair], steps: 2), style: style, test: test,
                                                   conditional: true)
    let frames = interpolation.frames(model: model, test: test, codec: codec)
    let ends = means([pair.a, pair.b])
    // The whole path, t = 0, 1/2 and 1 (B's class, not A's, would change every frame's image).
    for frame in 0...2 {
        let z = interpolate(ends[..<latent], ends[latent...], t: Double(frame) / 2, spherical: InterpolationOptions().spherical)
        var canvas = frames[frame].canvas
        interpolation.layout.draw(codec.decodeMeans(model, z: z, labels: [test.labels[pair.a]]), number: 0, column: 0, row: 1, on: &canvas)
        expectIdentical(canvas, frames[frame].canvas, "frame \(frame) with its path's point decoded with A's class drawn again")
    }
}

/// The quality table scores a conditional run's interpolation as its GIF draws it: pairs of one
/// class, the GIF's own pairs (the first two images of each class) and random ones; with no class
/// of two test images, a row says that nothing could be scored.
@Test func conditionalQualityTableInterpolatesWithinAClass() throws {
    let directory = try conditionalRun()
    defer { removeTemporaryFolder(directory.path) }
    let final = try RunReplay(runDirectory: directory.path).final
    let data = try KMNIST.load(from: syntheticData)
    // Trained a little, so that different images get different confidences (an untrained one gives about 0.1 to all).
    let scorer = try trainClassifier(data.train, options: ClassifierTrainingOptions(epochs: 2))
    var lines: [String] = []
    try writeQualityTable(final, scorer: scorer, test: data.test, training: data.train, samples: 200, temperatures: [1],
                          seed: 0) { lines.append($0) }
    let gifPairs = sameClassPairs(labels: data.test.labels)
    #expect(gifPairs.count == 10 && gifPairs.allSatisfy { data.test.labels[$0.a] == data.test.labels[$0.b] })
    let interpolationRows = lines.filter { $0.contains("interpolation GIF's in-between") || $0.contains("midpoints of") }
    try #require(interpolationRows.count == 6, "\(lines.joined(separator: "\n"))")
    #expect(interpolationRows.prefix(3).allSatisfy { $0.hasPrefix("| the interpolation GIF's in-between images (10 pairs, ") && $0.contains("| 150 |") })
    #expect(interpolationRows.suffix(3).allSatisfy { $0.hasPrefix("| midpoints of 200 random test pairs of one class, ") && $0.contains("| 200 |") })
    // The crossfade's row scores those pairs (this two-epoch decoder draws much the same for any z
    // of a class, so the paths' rows tell pairs of one class from the others' little).
    func crossfadeConfidence(_ pairs: [ImagePair]) -> String {
        String(format: "crossfaded (no model) | 150 | %.3f |", meanConfidence(scorer, crossfadedInBetween(pairs, steps: 16, test: data.test)))
    }
    let acrossClasses = crossfadeConfidence(defaultInterpolationPairs(labels: data.test.labels))
    #expect(interpolationRows[2].contains(crossfadeConfidence(gifPairs)) && !interpolationRows[2].contains(acrossClasses),
            "\(interpolationRows[2]): \(crossfadeConfidence(gifPairs)), not \(acrossClasses)")

    // A test split with one image of each class has no pair of one class: the table says so in a row.
    let firsts = firstImagesOfEachClass(data.test.labels, perClass: 1), size = VAEConfig.inputSize
    let oneOfEach = ImageSet(pixels: firsts.flatMap { data.test.pixels[$0 * size..<($0 + 1) * size] }, labels: firsts.map { data.test.labels[$0] })
    lines = []
    try writeQualityTable(final, scorer: scorer, test: oneOfEach, training: data.train, samples: 20, temperatures: [1],
                          seed: 0) { lines.append($0) }
    #expect(lines.filter { $0.contains("interpolation") || $0.contains("midpoints") }
            == ["| interpolation: no pair of test images to score (no class of the 10 test images has two) | 0 | – | – | – | – | – |"],
            "\(lines.joined(separator: "\n"))")
}

/// vae-sample on a conditional run: --class draws every sample of that class, at --temperature,
/// exactly as the sampler fitted in process makes them (decoded with that label); without --class
/// the samples come in blocks by class.
@Test func sampleCommandDrawsTheClassAndTemperatureAsked() throws {
    let directory = try conditionalRun()
    defer { removeTemporaryFolder(directory.path) }
    let model = try RunReplay(runDirectory: directory.path).final.model, codec = LatentCodec(config: model.config)
    let training = try KMNIST.load(from: syntheticData).train
    let sampler = try makeSampler(.gmm, model: model, codec: codec, training: training, seed: 4, temperature: 0.5)
    var random = Random(seed: 4)
    let classThree = (sampler as! ClassConditionalSampler).sample(count: 7, label: 3, random: &random)
    #expect(classThree.labels == [UInt8](repeating: 3, count: 7))
    random = Random(seed: 4)
    let blocks = sampler.sample(count: 20, random: &random)
    for (name, flags, samples) in [("three", ["--class", "3", "--count", "7"], classThree), ("all", ["--count", "20"], blocks)] {
        let out = directory.path + "/\(name).idx"
        let result = try runTool("vae-sample", ["--run-dir", directory.path, "--data", syntheticData, "--sampler", "gmm", "--seed", "4",
                                                "--temperature", "0.5", "--out", out] + flags)
        #expect(result.status == 0, "\(result.stderr)")
        let expected = codec.decodeMeanPixels(model, z: samples.z, labels: samples.labels)
        expectIdentical(try readIDX(out, magic: idxImagesMagic).payload, expected, "--class 3 and --temperature 0.5, \(name)")
        // The report names the class and describes the sampler that drew: class 3's alone, or the one per class.
        let drawing = name == "three" ? (sampler as! ClassConditionalSampler).perClass[3] : sampler
        let described = samplerDescription(.gmm, drawing, temperature: 0.5)
        #expect(result.stdout == "\(out): \(name == "three" ? "7 samples of class 3" : "20 samples") (gmm: \(described); seed 4) "
                + "of epoch 2 of \(directory.path)\n", "\(result.stdout)")
    }
    #expect(!samplerDescription(.gmm, (sampler as! ClassConditionalSampler).perClass[3], temperature: 0.5).contains("per class")
            && samplerDescription(.gmm, sampler, temperature: 0.5).contains("per class"))
    #expect(blocks.labels == (0..<10).flatMap { [UInt8](repeating: UInt8($0), count: 2) }, "two of each class, in class order")
}
