import Foundation
import Testing
import TestSupport
import VAECore

@Test func softmaxCrossEntropyGradient() {
    let rows = 3, classes = 5
    var random = Random(seed: 21)
    let logits = randomFloats(rows * classes, random: &random, scale: 2)
    let labels: [UInt8] = [4, 0, 2]
    func loss(_ logits: [Float]) -> Double {
        var p = [Float](repeating: 0, count: rows * classes)
        return softmaxCrossEntropy(logits: logits, labels: labels, probabilities: &p, dlogits: nil, rows: rows, classes: classes)
    }
    var probabilities = [Float](repeating: 0, count: rows * classes)
    var dlogits = [Float](repeating: 7, count: rows * classes)
    let value = softmaxCrossEntropy(logits: logits, labels: labels, probabilities: &probabilities, dlogits: &dlogits,
                                    rows: rows, classes: classes)
    // The loss by its definition, in Double.
    var expected = 0.0
    for r in 0..<rows {
        let row = logits[r * classes..<(r + 1) * classes].map(Double.init)
        expected -= row[Int(labels[r])] - log(row.map(exp).reduce(0, +))
        #expect(abs(probabilities[r * classes..<(r + 1) * classes].reduce(0, +) - 1) < 1e-6)
    }
    #expect(abs(value - expected) < 1e-5)
    expectGradient("logits", values: logits, analytic: dlogits, tolerance: 1e-3) { loss($0) }
}

@Test func softmaxIgnoresTheScaleOfLargeLogits() {
    var p = [Float](repeating: 0, count: 2)
    softmax(&p, logits: [1000, 1001], rows: 1, classes: 2)
    let expected = Float(1 / (1 + exp(1.0)))
    #expect(abs(p[0] - expected) < 1e-6 && abs(p[1] - (1 - expected)) < 1e-6)
}

/// The whole classifier's cross-entropy: every tensor along a random direction, by central differences.
@Test func classifierGradients() throws {
    // Checked after some training: at initialisation the hidden pre-activations crowd so close to
    // the ReLUs' kinks that the differences' steps cross many of them.
    let classifier = try trainClassifier(try KMNIST.load(from: syntheticData).train, options: ClassifierTrainingOptions(epochs: 2, seed: 5))
    var random = Random(seed: 5)
    let rows = 3
    let ws = ClassifierWorkspace(classifier, capacity: rows)
    let images = syntheticImageSet(count: rows, seed: 8)
    for r in 0..<rows {
        for i in 0..<VAEConfig.inputSize { ws.input[r * VAEConfig.inputSize + i] = intensity(images.pixels[r * VAEConfig.inputSize + i]) }
        ws.labels[r] = images.labels[r]
    }
    func loss() -> Double {
        classifier.forward(ws, rows: rows)
        return classifier.loss(ws, rows: rows, computeGradients: false)
    }
    classifier.forward(ws, rows: rows)
    _ = classifier.loss(ws, rows: rows, computeGradients: true)
    let gradient = classifier.gradients.array
    let p = classifier.parameters.pointer
    #expect(classifier.tensors.map(\.name) == ["conv.0.weight", "conv.0.bias", "conv.1.weight", "conv.1.bias",
                                               "hidden.weight", "hidden.bias", "out.weight", "out.bias"])
    // Which units the ReLUs pass: every layer's output but the logits.
    func activity() -> [Bool] {
        zip(ws.outputs, classifier.layers).dropLast().flatMap { output, layer in (0..<rows * layer.outputs).map { output[$0] > 0 } }
    }
    for tensor in classifier.tensors {
        #expect((0..<tensor.count).contains { abs(gradient[tensor.offset + $0]) > 1e-4 }, "\(tensor.name): no gradient to compare")
        expectDirectionalDerivative(tensor, parameters: p, gradient: gradient, step: 0.01 / Float(tensor.count).squareRoot(),
                                    random: &random, tolerance: { 0.02 * abs($0) }, activity: activity, loss)
    }
}

@Test func shiftedImagesMoveAndFillWithZero() {
    var pixels = [UInt8](repeating: 0, count: VAEConfig.inputSize)
    pixels[0] = 255  // (0, 0)
    pixels[27 * 28 + 27] = 51  // (27, 27)
    var shifted = [Float](repeating: -1, count: VAEConfig.inputSize)
    loadShifted(pixels, into: &shifted, dx: 2, dy: 1)
    #expect(shifted[1 * 28 + 2] == 1)
    #expect(shifted.filter { $0 != 0 }.count == 1, "the other marked pixel moved out, and what moved in is 0")
}

@Test func classifierLearnsTheSyntheticShapesDeterministically() throws {
    let data = try KMNIST.load(from: syntheticData)
    let options = ClassifierTrainingOptions(epochs: 3, batchSize: 32, seed: 4)
    var losses: [Double] = []
    let classifier = try trainClassifier(data.train, options: options) { _, loss in losses.append(loss) }
    #expect(losses.count == 3 && losses[2] < losses[0])
    // A step too large to survive ends the training with an error, not a classifier of NaNs.
    #expect(throws: VAEError(.failed, "the classifier's training diverged in epoch 1: a gradient is not finite")) {
        try trainClassifier(data.train, options: ClassifierTrainingOptions(epochs: 3, batchSize: 32, learningRate: 1e30, seed: 4))
    }
    #expect(classifierAccuracy(classifier, data.test) >= 0.9)
    let again = try trainClassifier(data.train, options: options)
    expectIdentical(again.parameters.array, classifier.parameters.array, "a second classifier of the same seed")

    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/classifier.safetensors"
    try writeClassifier(classifier, metadata: ["seed": "4"], to: path)
    let (read, metadata) = try readClassifier(path)
    expectIdentical(read.parameters.array, classifier.parameters.array, "the classifier read back")
    #expect(metadata["seed"] == "4" && metadata["format"] == classifierFormat)
    let notOne = packageRoot + "/fixtures/runs/latent2/checkpoints/epoch-0001.safetensors"
    #expect(throws: VAEError(.badData, "\(notOne): not a kmnist-vae classifier (metadata format is \"\(checkpointFormat)\", "
                             + "expected \"\(classifierFormat)\"); make one with vae-classifier")) { try readClassifier(notOne) }
}

/// Past the first batch of `evaluationBatchSize` images, each image's probabilities and features
/// are its own: those it gets in a batch of its own images.
@Test func classifierPredictsEveryBatchIntoItsOwnRows() {
    let classifier = Classifier()
    var random = Random(seed: 9)
    classifier.initialize(random: &random)
    let images = syntheticImageSet(count: evaluationBatchSize + 30, seed: 10).intensities
    let all = classifier.predict(images)
    let last = classifier.predict(Array(images.dropFirst(evaluationBatchSize * VAEConfig.inputSize)))
    expectClose(Array(all.probabilities.dropFirst(evaluationBatchSize * Classifier.classes)), last.probabilities, relative: 1e-6,
                "the second batch's probabilities")
    expectClose(Array(all.features.dropFirst(evaluationBatchSize * Classifier.featureCount)), last.features, relative: 1e-6,
                absolute: 1e-7, "the second batch's features")
}

/// For 2x2 matrices, tr √M = √(tr M + 2 √det M); Σa Σb has the eigenvalues of Σa^½ Σb Σa^½.
@Test func frechetDistanceMatchesTheClosedFormOfTwoGaussians() {
    let a = FeatureStatistics(dimension: 2, count: 100, mean: [1, -2], covariance: [2, 0.6, 0.6, 1])
    let b = FeatureStatistics(dimension: 2, count: 100, mean: [0.5, 0.5], covariance: [0.5, -0.2, -0.2, 3])
    // Σa Σb = [[2·0.5 - 0.12, -0.4 + 1.8], [0.3 - 0.2, -0.12 + 3]]
    let product = [0.88, 1.4, 0.1, 2.88]
    let trace = product[0] + product[3], determinant = product[0] * product[3] - product[1] * product[2]
    let expected = 0.25 + 6.25 + (2 + 1) + (0.5 + 3) - 2 * (trace + 2 * determinant.squareRoot()).squareRoot()
    #expect(abs(frechetDistance(a, b) - expected) < 1e-9, "\(frechetDistance(a, b)) vs \(expected)")
    #expect(abs(frechetDistance(b, a) - expected) < 1e-9)
    #expect(abs(frechetDistance(a, a)) < 1e-9)
}

@Test func frechetDistanceOfDiagonalGaussiansInManyDimensions() {
    let n = 128
    var random = Random(seed: 2)
    let varianceA = (0..<n).map { _ in Double(0.1 + random.nextUniform()) }, varianceB = (0..<n).map { _ in Double(0.1 + random.nextUniform()) }
    func diagonal(_ v: [Double]) -> [Double] { (0..<n * n).map { $0 % (n + 1) == 0 ? v[$0 / (n + 1)] : 0 } }
    let a = FeatureStatistics(dimension: n, count: 1000, mean: [Double](repeating: 0, count: n), covariance: diagonal(varianceA))
    let b = FeatureStatistics(dimension: n, count: 1000, mean: [Double](repeating: 1, count: n), covariance: diagonal(varianceB))
    let expected = Double(n) + zip(varianceA, varianceB).reduce(0) { $0 + ($1.0.squareRoot() - $1.1.squareRoot()) * ($1.0.squareRoot() - $1.1.squareRoot()) }
    #expect(abs(frechetDistance(a, b) - expected) < 1e-8 * expected)
}

@Test func featureStatisticsAreTheSampleMeanAndCovariance() {
    let stats = FeatureStatistics(features: [1, 2, 3, 6, 5, 4], dimension: 2)
    #expect(stats.count == 3 && stats.mean == [3, 4])
    // Deviations (-2, -2), (0, 2), (2, 0), divided by n - 1 = 2.
    #expect(stats.covariance == [4, 2, 2, 4])
}

/// A Fréchet distance of 128 features needs more than 128 rows on both sides: with fewer, a
/// covariance is singular and the number means nothing (`vae-eval --quality --images 2` scored
/// samples against two test images' features).
@Test func aFeatureDistanceNeedsMoreRowsThanFeaturesOnBothSides() {
    var random = Random(seed: 3)
    func features(_ rows: Int) -> [Float] { (0..<rows * Classifier.featureCount).map { _ in random.nextUniform() } }
    func statistics(_ rows: Int) -> FeatureStatistics { FeatureStatistics(features: features(rows), dimension: Classifier.featureCount) }
    let enough = Classifier.featureCount + 1, tooFew = Classifier.featureCount
    #expect(featureDistance(features(enough), to: statistics(enough)) != nil)
    #expect(featureDistance(features(tooFew), to: statistics(enough)) == nil, "too few samples")
    #expect(featureDistance(features(enough), to: statistics(tooFew)) == nil, "too few reference rows")
    #expect(featureDistance(features(300), to: statistics(2)) == nil, "a reference of two rows")
}

@Test func sampleQualityCountsConfidenceAndClassesFromTheProbabilities() {
    // Four images: top classes 3 (0.95), 3 (0.6), 7 (0.9, not above it) and 1 (0.91).
    func row(_ top: Int, _ p: Float) -> [Float] {
        (0..<10).map { $0 == top ? p : (1 - p) / 9 }
    }
    let probabilities = row(3, 0.95) + row(3, 0.6) + row(7, 0.9) + row(1, 0.91)
    let reference = FeatureStatistics(dimension: Classifier.featureCount, count: 2, mean: .init(repeating: 0, count: 128),
                                      covariance: .init(repeating: 0, count: 128 * 128))
    let quality = SampleQuality(probabilities: probabilities, features: [], reference: reference)
    #expect(quality.count == 4 && quality.frechetDistance == nil, "too few features for an FD")
    #expect(abs(quality.meanConfidence - (0.95 + 0.6 + 0.9 + 0.91) / 4) < 1e-7)
    #expect(quality.shareConfident == 0.5)
    // Histogram 2, 1, 1 of 4.
    #expect(abs(quality.classEntropy - (0.5 * log(2) + 0.5 * log(4))) < 1e-12)
}

// MARK: - Nearest-neighbour accuracy

/// The accuracy by its definition, in Double: each point's `k` nearest others by a full sort
/// (distance, then index), the class with most votes, a tie to the nearer neighbour's class.
private func bruteForceNearestNeighbourAccuracy(_ points: [Float], dimension: Int, labels: [Int], k: Int) -> Double {
    let count = labels.count
    var correct = 0
    for point in 0..<count {
        let others = (0..<count).filter { $0 != point }.map { other -> (Double, Int) in
            let distance = (0..<dimension).reduce(0.0) {
                let d = Double(points[point * dimension + $1]) - Double(points[other * dimension + $1])
                return $0 + d * d
            }
            return (distance, other)
        }.sorted { $0 < $1 }.prefix(k)
        var votes: [Int: Int] = [:]
        for (_, other) in others { votes[labels[other], default: 0] += 1 }
        let most = votes.values.max()!
        if labels[others.first { votes[labels[$0.1]] == most }!.1] == labels[point] { correct += 1 }
    }
    return Double(correct) / Double(count)
}

@Test func nearestNeighbourAccuracyCountsTheVotesOfTheKNearest() throws {
    // Five points on a line at 0, 1, 2, 3, 4, of classes 0 0 1 1 1. Each point's neighbours,
    // nearest first (at equal distances the lower index first):
    //   at 0: 1 2 3 4 · at 1: 0 2 3 4 · at 2: 1 3 0 4 · at 3: 2 4 1 0 · at 4: 3 2 1 0.
    let line: [Float] = [0, 1, 2, 3, 4], labels = [0, 0, 1, 1, 1]
    // k = 1: only the point at 2 is wrong (its first neighbour, at 1, is of class 0).
    #expect(nearestNeighbourAccuracy(line, dimension: 1, labels: labels, k: 1) == 0.8)
    // k = 2: at 2 the votes tie, 0 (at 1) against 1 (at 3), and go to the nearer, class 0: wrong.
    // At 0 they tie too and go to the point at 1, class 0: right.
    #expect(nearestNeighbourAccuracy(line, dimension: 1, labels: labels, k: 2) == 0.8)
    // k = 3: at 0 (votes 0 1 1), at 1 (0 1 1) and at 2 (0 1 0) wrong; at 3 and 4 (1 1 0) right.
    #expect(nearestNeighbourAccuracy(line, dimension: 1, labels: labels, k: 3) == 0.4)
    // k = 4, every other point: at 0 and 1 class 1 wins 3 to 1; at 2, 3 and 4 the classes tie
    // 2 to 2 and the first neighbour decides: 0, 1, 1.
    #expect(nearestNeighbourAccuracy(line, dimension: 1, labels: labels, k: 4) == 0.4)
    #expect(nearestNeighbourAccuracy(line, dimension: 1, labels: labels, k: 5) == nil, "only 4 neighbours to vote")
    #expect(nearestNeighbourAccuracy([3], dimension: 1, labels: [2], k: 1) == nil, "one point has no neighbour")
    // A code that is not finite (a diverging epoch's) orders no distances: no figure.
    for bad in [Float.nan, .infinity] {
        #expect(nearestNeighbourAccuracy([0, 1, bad, 3, 4], dimension: 1, labels: labels, k: 1) == nil, "\(bad)")
    }
}

@Test func nearestNeighbourAccuracyMatchesItsDefinitionAcrossBlocks() throws {
    // 300 points in 4-D around ten class centres, overlapping enough that neither 0 nor 1 is
    // right; blocks of 64 rows leave a last block of 44.
    var random = Random(seed: 5)
    let dimension = 4, count = 300
    let labels = (0..<count).map { ($0 * 7) % 10 }
    let centres = randomFloats(10 * dimension, random: &random, scale: 1.5)
    let noise = randomFloats(count * dimension, random: &random, scale: 1)
    let points = (0..<count * dimension).map { centres[labels[$0 / dimension] * dimension + $0 % dimension] + noise[$0] }
    for k in [1, 4, 5] {
        let expected = bruteForceNearestNeighbourAccuracy(points, dimension: dimension, labels: labels, k: k)
        #expect(expected > 0.3 && expected < 0.9, "k = \(k): \(expected)")
        for blockRows in [64, 300, 1000] {
            #expect(nearestNeighbourAccuracy(points, dimension: dimension, labels: labels, k: k, blockRows: blockRows) == expected,
                    "k = \(k), blocks of \(blockRows)")
        }
    }
    // Shuffled labels say nothing: near chance.
    let shuffled = labels.shuffled(using: &random)
    #expect(try #require(nearestNeighbourAccuracy(points, dimension: dimension, labels: shuffled)) < 0.2)
}

/// The latent map's baseline, quoted in the README: the 784 pixels of the first 2,000 test
/// characters themselves keep the classes apart for 83.65% of them (1,673) by the same vote.
@Test(.needsRealKMNIST) func pixelsOfTheMapsTestCharactersScoreTheDocumentedAccuracy() throws {
    let test = try KMNIST.load(from: RealKMNIST.requireFolder()).test.prefix(2000)
    let accuracy = nearestNeighbourAccuracy(test.intensities, dimension: 784, labels: test.labels.map(Int.init))
    #expect(accuracy == 1673.0 / 2000)
}

/// The top class of a row whose largest probability is shared goes to the lowest class among
/// those sharing it, as the nearest-neighbour vote's ties go to the first: an untrained or
/// saturated classifier's equal outputs count for class 0, not 9.
@Test func aTiedTopClassIsTheLowest() {
    func row(_ values: [Int: Float]) -> [Float] { (0..<Classifier.classes).map { values[$0] ?? 0 } }
    #expect(predictedClass(row([1: 0.3, 4: 0.3, 9: 0.3]), row: 0) == 1)
    #expect(predictedClass(row([:]), row: 0) == 0)
    #expect(predictedClass(row([8: 0.5, 9: 0.5]), row: 0) == 8)
    let uniform = [Float](repeating: 0.1, count: 2 * Classifier.classes)
    #expect(predictedClass(uniform, row: 1) == 0)
    // The last class wins when it alone is largest.
    #expect(predictedClass(row([0: 0.2, 9: 0.21]), row: 0) == 9)
}

/// The classifier's losses for a seed, pinned: each epoch draws its own shuffle of the training
/// images (then the shifts of every batch), so the second epoch sees another order than the first
/// (shuffled once, its loss is 0.714). The tolerance leaves room for other sgemm kernels' rounding.
@Test func classifierTrainingShufflesAfreshEachEpoch() throws {
    let train = try KMNIST.load(from: syntheticData).train
    var losses: [Double] = []
    _ = try trainClassifier(train, options: ClassifierTrainingOptions(epochs: 2, batchSize: 32, seed: 4)) { _, loss in losses.append(loss) }
    let expected = [2.0019595585258676, 0.7536599074560196]
    #expect(losses.count == 2 && zip(losses, expected).allSatisfy { abs($0 - $1) < 1e-4 * $1 }, "\(losses)")
}

/// The accuracy is the share of all the images: a classifier of zero parameters gives every image
/// equal probabilities, so class 0, right for the two of four images labelled 0.
@Test func classifierAccuracyIsTheShareOfEveryImage() {
    let classifier = Classifier()
    #expect(classifier.parameters.array.allSatisfy { $0 == 0 })
    let images = syntheticImageSet(count: 4, seed: 7)
    let labelled = ImageSet(pixels: images.pixels, labels: [0, 3, 0, 9])
    #expect(classifierAccuracy(classifier, labelled) == 0.5)
    #expect(classifierAccuracy(classifier, ImageSet(pixels: Array(images.pixels[..<784]), labels: [0])) == 1)
    #expect(classifierAccuracy(classifier, ImageSet(pixels: Array(images.pixels[..<(3 * 784)]), labels: [1, 2, 0])) == 1.0 / 3)
}
