import Foundation
import VAECore

/// vae-eval --quality's table, in Markdown: how character-like `loaded`'s images are to the
/// classifier, one row per set of images. The test and the training images themselves (each
/// also against itself, half to half), the test images' reconstructions from the encoder means,
/// `samples` draws of each sampler the model has (at each of `temperatures` if it takes one),
/// the sampling GIF's own cells, the interpolation GIF's in-between images, and the midpoints of
/// `samples` random pairs of test images, on the latent path and as a crossfade of their pixels.
/// `emit` receives each line as soon as it is scored, `fitting` each sampler fitted to the
/// training images as its fit starts (the two-stage one takes seconds); `seed` fixes the
/// samplers' fits and draws and the pairs.
public func writeQualityTable(_ loaded: Checkpoint, scorer: Classifier, test: ImageSet, training: ImageSet, samples qualitySamples: Int,
                              temperatures: [Double], seed: UInt64, fitting: (SamplerKind) -> Void = { _ in },
                              emit: (String) -> Void) throws {
    // Every sampler this table fits is checked before the first line, so that none is left half written.
    for kind in SamplerKind.allCases where kind.isAvailable(for: loaded.run.model) {
        if let problem = fittingProblem(kind, model: loaded.model, training: training) {
            throw VAEError(.usage, "--quality scores the \(kind.rawValue) sampler, which \(problem)")
        }
    }
    let (testProbabilities, testFeatures) = scorer.predict(test.intensities)
    let (trainingProbabilities, trainingFeatures) = scorer.predict(training.intensities)
    func statistics(_ features: ArraySlice<Float>) -> FeatureStatistics {
        FeatureStatistics(features: Array(features), dimension: Classifier.featureCount)
    }
    let reference = statistics(testFeatures[...]), trainingReference = statistics(trainingFeatures[...])
    let codec = LatentCodec(config: loaded.run.model)
    emit("| images | n | mean confidence | share > 0.9 | class entropy | FD to test | FD to training |")
    emit("| --- | --- | --- | --- | --- | --- | --- |")
    /// One row: the scores of `probabilities`, and the FD of `features` to each reference.
    func row(_ name: String, _ probabilities: [Float], _ features: [Float],
             toTest: (features: [Float], reference: FeatureStatistics)? = nil,
             toTraining: (features: [Float], reference: FeatureStatistics)? = nil) {
        let test = toTest ?? (features, reference), training = toTraining ?? (features, trainingReference)
        let quality = SampleQuality(probabilities: probabilities, features: test.features, reference: test.reference)
        let distances = [quality.frechetDistance, featureDistance(training.features, to: training.reference)].map { $0.map { String(format: "%.1f", $0) } ?? "–" }
        emit(String(format: "| %@ | %d | %.3f | %.1f%% | %.3f | %@ | %@ |", name, quality.count, quality.meanConfidence,
                    100 * quality.shareConfident, quality.classEntropy, distances[0], distances[1]))
    }
    /// `distances: false` leaves out the FDs of a set too small for 128 features' covariance to mean much.
    func row(_ name: String, images: [Float], distances: Bool = true) {
        let (probabilities, features) = scorer.predict(images)
        row(name, probabilities, distances ? features : [])
    }
    /// A real set's features and reference for its distance to itself, first half to second
    /// half; none when a half has too few rows.
    func halves(_ features: [Float]) -> (features: [Float], reference: FeatureStatistics) {
        let rows = features.count / Classifier.featureCount, half = rows / 2 * Classifier.featureCount
        return half / Classifier.featureCount > Classifier.featureCount
            ? (Array(features[..<half]), statistics(features[half...])) : ([], reference)
    }
    // A set of real images is compared with the other set, and with itself half to half. The
    // training images are what the model learned from: a sampler that drew exactly from their
    // distribution would score about their FD to the test images, because KMNIST's training
    // split lies that far from its test split (docs/quality.md, "How near the test images a
    // sample can get").
    row("test images (FD to test: first half to second half)", testProbabilities, testFeatures, toTest: halves(testFeatures))
    row("training images (what the model and the classifier learned from; FD to training: half to half)",
        trainingProbabilities, trainingFeatures, toTraining: halves(trainingFeatures))
    let conditional = loaded.run.model.conditional
    let reconstructions = codec.decodeMeans(loaded.model, z: codec.encodeMeans(loaded.model, images: test),
                                            labels: conditional ? test.labels : nil)
    row("reconstructions of the test images", images: reconstructions)
    let gifOptions = SamplingOptions()
    for kind in SamplerKind.allCases where kind.isAvailable(for: loaded.run.model) {
        if kind.needsTrainingImages { fitting(kind) }
        let fitted = try makeSampler(kind, model: loaded.model, codec: codec, training: training, seed: seed)
        for temperature in kind.takesTemperature ? temperatures : [1] {
            var random = Random(seed: seed)
            let samples = fitted.tempered(temperature).sample(count: qualitySamples, random: &random)
            let images = codec.decodeMeans(loaded.model, z: samples.z, labels: samples.labels)
            let name = kind.takesTemperature ? "\(kind.rawValue) samples, " + samplerDescription(kind, fitted, temperature: temperature)
                : "\(kind.rawValue) samples"
            let isGIFs = kind == gifOptions.source.kind(for: loaded.run.model) && (!kind.takesTemperature || temperature == gifOptions.temperature)
            row(name + (isGIFs ? " (the GIF's sampler)" : ""), images: images)
        }
    }
    let cells = try samplingPoints(gifOptions, final: loaded.model, test: test, training: training, codec: codec).samples
    row("the sampling GIF's cells", images: codec.decodeMeans(loaded.model, z: cells.z, labels: cells.labels))

    // The interpolation GIF's path should stay on characters between its ends: its in-between
    // images, and the midpoints of many random pairs (of one class for a conditional model,
    // decoded with it, as the GIF does), on either path, against the same pairs' pixels
    // crossfaded, which show two characters at once.
    let gifPath = InterpolationOptions(), pixels = test.intensities
    func interpolationRows(_ pairs: [ImagePair], steps: Int, name: String, distances: Bool) {
        let size = VAEConfig.inputSize, inner = pairs.count * size..<steps * pairs.count * size
        for spherical in [false, true] {
            let path = decodeInterpolations(pairs, steps: steps, spherical: spherical, model: loaded.model, test: test, codec: codec)
            row(name + (spherical ? ", spherical path" : ", straight path") + (spherical == gifPath.spherical ? " (the GIF's)" : ""),
                images: Array(path[inner]), distances: distances)
        }
        row(name + ", pixels crossfaded (no model)", images: crossfade(pixels, pairs: pairs, steps: steps), distances: distances)
    }
    let gifPairs = interpolationPairs(labels: test.labels, conditional: conditional)
    if !gifPairs.isEmpty {
        interpolationRows(gifPairs, steps: gifPath.steps, name: "the interpolation GIF's in-between images (\(count: gifPairs.count, "pair"), "
                          + "t = 1/\(gifPath.steps) to \(gifPath.steps - 1)/\(gifPath.steps))", distances: false)
    }
    var random = Random(seed: seed, stream: interpolationPairStream)
    let pairs = randomPairs(labels: test.labels, count: qualitySamples, sameClass: conditional, random: &random)
    if !pairs.isEmpty {
        interpolationRows(pairs, steps: 2, name: "midpoints of \(count: pairs.count, "random test pair")"
                          + (conditional ? " of one class" : ""), distances: true)
    } else {
        // Said in the table, so that a reader does not take the missing rows for a clean score.
        let why = conditional ? "no class of the \(count: test.count, "test image") has two" : "fewer than two test images"
        emit("| interpolation: no pair of test images to score (\(why)) | 0 | – | – | – | – | – |")
    }
}

/// The random stream of `writeQualityTable`'s interpolation pairs, apart from its samplers' draws.
let interpolationPairStream: UInt64 = 0x1E_9A1F
