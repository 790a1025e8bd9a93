import Foundation

public struct ClassifierTrainingOptions: Sendable, Equatable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Double
    public var seed: UInt64
    /// Each training image is shifted by up to this many pixels in x and y, drawn afresh every
    /// epoch: the augmentation that keeps 7,011 images from being learnt by heart.
    public var maxShift: Int

    public init(epochs: Int = 30, batchSize: Int = 64, learningRate: Double = 1e-3, seed: UInt64 = 0, maxShift: Int = 2) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
        self.maxShift = maxShift
    }
}

/// Trains a classifier on `train` with Adam, deterministically for a seed (initialisation,
/// shuffling and shifts all come from it). `progress` receives each epoch and its mean loss.
/// Throws if a gradient stops being finite.
public func trainClassifier(_ train: ImageSet, options: ClassifierTrainingOptions,
                            progress: (Int, Double) -> Void = { _, _ in }) throws -> Classifier {
    precondition(train.count > 0 && options.epochs >= 1 && options.batchSize >= 1)
    let classifier = Classifier()
    var random = Random(seed: options.seed)
    classifier.initialize(random: &random)
    let optimizer = Adam(.init(learningRate: options.learningRate), count: classifier.parameters.count)
    let ws = ClassifierWorkspace(classifier, capacity: options.batchSize)
    let order = UnsafeMutablePointer<Int32>.allocate(capacity: train.count)
    defer { order.deallocate() }
    try train.pixels.withUnsafeBufferPointer { pixels in
        for epoch in 1...options.epochs {
            random.shuffle(order, count: train.count)
            var total = 0.0
            for (first, rows) in Batches(count: train.count, size: options.batchSize) {
                loadShiftedImages(pixels.baseAddress!, indices: order + first, rows: rows, upTo: options.maxShift, into: ws.input,
                                  random: &random)
                for row in 0..<rows { ws.labels[row] = train.labels[Int(order[first + row])] }
                classifier.forward(ws, rows: rows)
                total += classifier.loss(ws, rows: rows, computeGradients: true)
                guard optimizer.update(parameters: classifier.parameters, gradients: classifier.gradients) else {
                    throw VAEError(.failed, "the classifier's training diverged in epoch \(epoch): a gradient is not finite")
                }
            }
            progress(epoch, total / Double(train.count))
        }
    }
    return classifier
}

/// The share of `images` whose most probable class is their label.
public func classifierAccuracy(_ classifier: Classifier, _ images: ImageSet) -> Double {
    let probabilities = classifier.predict(images.intensities).probabilities
    let correct = (0..<images.count).filter { predictedClass(probabilities, row: $0) == Int(images.labels[$0]) }.count
    return Double(correct) / Double(max(images.count, 1))
}

/// The most probable class of row `row` of `[n, 10]` probabilities.
public func predictedClass(_ probabilities: [Float], row: Int) -> Int {
    let start = row * Classifier.classes
    var best = 0
    for c in 1..<Classifier.classes where probabilities[start + c] > probabilities[start + best] { best = c }
    return best
}
