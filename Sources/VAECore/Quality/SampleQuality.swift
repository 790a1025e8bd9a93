import Foundation

/// How character-like a set of images is, as the quality classifier sees it.
public struct SampleQuality: Sendable {
    public let count: Int
    /// The mean of each image's top-class probability.
    public let meanConfidence: Double
    /// The share of images whose top-class probability exceeds 0.9.
    public let shareConfident: Double
    /// The entropy in nats of the histogram of predicted classes: ln 10 ≈ 2.30 when every class
    /// is predicted equally often, 0 when all images get one class.
    public let classEntropy: Double
    /// The Fréchet distance of the images' penultimate features to the reference set's; nil
    /// when either set has no more images than features, whose covariance would be singular.
    public let frechetDistance: Double?

    /// Scores from the classifier's outputs: the confidences from `probabilities` (`[n, 10]`),
    /// the Fréchet distance from `features` (`[m, 128]`) alone.
    public init(probabilities: [Float], features: [Float], reference: FeatureStatistics) {
        let n = probabilities.count / Classifier.classes
        count = n
        var confidence = 0.0, confident = 0
        var histogram = [Int](repeating: 0, count: Classifier.classes)
        for r in 0..<n {
            let best = predictedClass(probabilities, row: r)
            let p = Double(probabilities[r * Classifier.classes + best])
            confidence += p
            if p > 0.9 { confident += 1 }
            histogram[best] += 1
        }
        meanConfidence = confidence / Double(max(n, 1))
        shareConfident = Double(confident) / Double(max(n, 1))
        classEntropy = histogram.filter { $0 > 0 }.reduce(0) { entropy, k in
            let p = Double(k) / Double(n)
            return entropy - p * log(p)
        }
        frechetDistance = featureDistance(features, to: reference)
    }
}

/// The Fréchet distance of the classifier's `features` (`[m, 128]`) to `reference`; nil when
/// either has no more rows than features, whose covariance would be singular: a distance to the
/// features of a few test images (`vae-eval --quality --images 2`) is a number that means nothing.
public func featureDistance(_ features: [Float], to reference: FeatureStatistics) -> Double? {
    features.count / Classifier.featureCount > Classifier.featureCount && reference.count > Classifier.featureCount
        ? frechetDistance(FeatureStatistics(features: features, dimension: Classifier.featureCount), reference) : nil
}
