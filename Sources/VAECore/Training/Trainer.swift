import Foundation

/// Where an epoch is, for progress bars.
public struct TrainingProgress: Sendable {
    public var epoch: Int
    public var batch: Int
    public var batches: Int
    public var imagesSeen: Int
    /// Mean training loss per image over the epoch's batches so far (the negative ELBO, or the
    /// negative importance-weighted bound of `--objective iwae`).
    public var runningLoss: Double
    public var seconds: Double
}

/// Owns the model, the optimizer, the random stream and the preallocated buffers of a run,
/// and trains and evaluates epoch by epoch.
public final class Trainer: @unchecked Sendable {
    public let run: RunConfig
    public let data: KMNIST
    /// The test images the run is evaluated on (binarised once for dynamic binarisation).
    public let testImages: ImageSet
    public let model: VAEModel
    public let optimizer: Adam
    /// Drives initialisation (and a VampPrior's pseudo-inputs), then every epoch's shuffling,
    /// and every batch's shifts (`--augment-shift`), binarisation (`--binarize dynamic`) and
    /// reparameterisation noise.
    public private(set) var random: Random
    public private(set) var completedEpochs = 0
    /// True while the run that `--overwrite` replaces still stands in the folder (until this
    /// run's first epoch is written): a resume would continue that run, not repeat these steps.
    var replacesARun = false

    /// The activations of the current step, for `batchSize` images (or an evaluation batch).
    public let workspace: Workspace
    private let order: UnsafeMutablePointer<Int32>

    public init(run: RunConfig, data: KMNIST) {
        precondition(run.trainImages == data.train.count && run.testImages == data.test.count)
        self.run = run
        self.data = data
        testImages = data.test.evaluationImages(for: run)
        model = VAEModel(config: run.model)
        optimizer = Adam(.init(learningRate: run.learningRate), count: model.layout.count)
        random = Random(seed: run.seed)
        model.initialize(random: &random)
        if model.layout.pseudoInputs > 0 { initializePseudoInputs(model, from: data.train, random: &random) }
        let size = Trainer.workspaceSize(run, trainImages: data.train.count)
        workspace = Workspace(layout: model.layout, capacity: size.capacity, sampleCapacity: size.sampleCapacity)
        order = .allocate(capacity: max(data.train.count, 1))
    }

    deinit {
        order.deallocate()
    }

    /// The rows of the one workspace training and evaluation share: a batch (a batch larger than
    /// the training set is the training set) or an evaluation's, and k samples per image for the
    /// importance-weighted objective.
    static func workspaceSize(_ run: RunConfig, trainImages: Int) -> (capacity: Int, sampleCapacity: Int) {
        let batchRows = min(run.batchSize, max(trainImages, 1))
        return (max(batchRows, evaluationBatchSize), max(batchRows * run.trainSamples, evaluationBatchSize))
    }

    /// One pass over the shuffled training set. Returns the mean loss terms per image.
    /// `shouldStop` is polled between batches; when it returns true the epoch is abandoned
    /// with `VAEError.Kind.interrupted` and nothing of it is kept by the caller.
    public func trainEpoch(shouldStop: () -> Bool = { false },
                           progress: (TrainingProgress) -> Void = { _ in }) throws -> LossTerms {
        let epoch = completedEpochs + 1
        let count = data.train.count, batchSize = run.batchSize, latent = run.model.latentDim
        let batches = Batches(count: count, size: batchSize)
        let start = DispatchTime.now().uptimeNanoseconds
        random.shuffle(order, count: count)
        var total = LossTerms()
        try data.train.pixels.withUnsafeBufferPointer { pixels in
            for batch in batches.indices {
                if shouldStop() {
                    throw VAEError(.interrupted, "interrupted during epoch \(epoch)")
                }
                let (first, rows) = batches[batch]
                loadBatch(pixels.baseAddress!, indices: order + first, rows: rows)
                data.train.labels.withUnsafeBufferPointer { workspace.loadLabels($0.baseAddress!, indices: order + first, rows: rows) }
                if run.binarization == .dynamic { workspace.binarizeInput(rows: rows, random: &random) }
                let samples = run.trainSamples
                random.fillNormal(workspace.eps, count: rows * samples * latent)
                let loss = run.objective == .iwae
                    ? model.forwardImportanceWeighted(workspace, rows: rows, samples: samples, computeGradients: true)
                    : model.forward(workspace, rows: rows, computeGradients: true)
                guard loss.total.isFinite else {
                    throw diverged(epoch: epoch, batch: (batch + 1, batches.count), "the loss is \(numberText(loss.total))")
                }
                if run.objective == .iwae {
                    model.backwardImportanceWeighted(workspace, rows: rows, samples: samples)
                } else {
                    model.backward(workspace, rows: rows, klWeight: klWeight(epoch: epoch, batch: batch, batches: batches.count))
                }
                guard optimizer.update(parameters: model.parameters, gradients: model.gradients) else {
                    throw diverged(epoch: epoch, batch: (batch + 1, batches.count), "a gradient is not finite")
                }
                total += loss
                let seen = first + rows
                progress(TrainingProgress(epoch: epoch, batch: batch + 1, batches: batches.count, imagesSeen: seen,
                                          runningLoss: total.total / Double(seen),
                                          seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            }
        }
        guard model.parameters.allFinite else { throw diverged(epoch: epoch, "a parameter is not finite") }
        completedEpochs = epoch
        return LossTerms(reconstruction: total.reconstruction / Double(count), kl: total.kl / Double(count))
    }

    /// The training images `indices` into the workspace's input, each shifted by its own offset
    /// with `--augment-shift`.
    private func loadBatch(_ pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int32>, rows: Int) {
        guard run.augmentShift > 0 else { return workspace.loadImages(pixels, indices: indices, rows: rows) }
        loadShiftedImages(pixels, indices: indices, rows: rows, upTo: run.augmentShift, into: workspace.input, random: &random)
    }

    /// The error that stops a run that diverged in `epoch` (at `batch`, its number of how many)
    /// because of `reason`, with what to change.
    private func diverged(epoch: Int, batch: (number: Int, of: Int)? = nil, _ reason: String) -> VAEError {
        let place = batch.map { "epoch \(epoch), batch \($0.number) of \($0.of)" } ?? "epoch \(epoch)"
        return VAEError(.failed, "training diverged in \(place): \(reason); no checkpoint was written from this state "
                        + "(\(divergenceAdvice(epoch: epoch)))")
    }

    /// What to change when a step diverges: the learning rate; the KL weight when it is above 1,
    /// whose gradients it scales up; a fixed σ, whose 1/σ² scales the reconstruction term. A
    /// resume keeps these flags and would repeat the very same steps, so the run starts again:
    /// with --overwrite once the folder holds a checkpoint (a divergence past `epoch` 1) or an old run.
    private func divergenceAdvice(epoch: Int) -> String {
        let lower = run.beta > 1 ? "a lower --lr or --beta" : "a lower --lr"
        let sigma = run.model.likelihood == .gaussianFixed ? " or a larger --sigma" : ""
        let overwrite = epoch > 1 || replacesARun ? "--overwrite and " : ""
        return "start again with \(overwrite)\(lower)\(sigma)" + (replacesARun ? "" : ": a resume would repeat the same steps")
    }

    /// β, ramped linearly over the warm-up epochs one step at a time.
    public func klWeight(epoch: Int, batch: Int, batches: Int) -> Float {
        guard run.klWarmupEpochs > 0 else { return Float(run.beta) }
        let progress = (Double(epoch - 1) + Double(batch + 1) / Double(batches)) / Double(run.klWarmupEpochs)
        return Float(run.beta * min(1, progress))
    }

    /// The epoch's negative ELBO of the test images; a non-finite one (a test image the model
    /// overflows on) is a divergence, which no checkpoint or metrics line may record.
    public func testLoss(epoch: Int) throws -> LossTerms {
        let loss = evaluate(testImages, epoch: epoch)
        guard loss.total.isFinite else { throw diverged(epoch: epoch, "the test loss is \(numberText(loss.total))") }
        return loss
    }

    /// Negative ELBO per image of `set` with one z sample each. The noise comes from its own
    /// stream, derived from the seed and `epoch`, so evaluating never shifts training.
    public func evaluate(_ set: ImageSet, epoch: Int) -> LossTerms {
        evaluateNegativeELBO(model: model, workspace: workspace, set: set,
                             random: Random(seed: run.seed, stream: UInt64(epoch)))
    }

    /// Makes the trainer continue after `epoch` from saved parameters, moments and random state.
    func restore(epoch: Int, parameters: [Float], m: [Float], v: [Float], step: Int, random: Random) {
        precondition(parameters.count == model.layout.count && m.count == parameters.count && v.count == parameters.count)
        parameters.withUnsafeBufferPointer { model.parameters.pointer.update(from: $0.baseAddress!, count: $0.count) }
        m.withUnsafeBufferPointer { optimizer.m.pointer.update(from: $0.baseAddress!, count: $0.count) }
        v.withUnsafeBufferPointer { optimizer.v.pointer.update(from: $0.baseAddress!, count: $0.count) }
        optimizer.step = step
        self.random = random
        completedEpochs = epoch
    }
}

/// A VampPrior's pseudo-inputs start as K distinct training images drawn with `random` (a partial
/// Fisher-Yates shuffle), scaled to [0, 1] like every input. (docs/models.md compares this start
/// with noise: no better in likelihood, less confident samples.)
func initializePseudoInputs(_ model: VAEModel, from train: ImageSet, random: inout Random) {
    let count = model.layout.pseudoInputs, size = VAEConfig.inputSize
    precondition(count <= train.count, "more pseudo-inputs than training images")
    var order = Array(0..<train.count)
    let target = model.parameters.pointer + model.layout.pseudoInputsOffset
    for i in 0..<count {
        order.swapAt(i, i + random.nextInt(below: train.count - i))
        let source = order[i] * size
        for p in 0..<size { target[i * size + p] = intensity(train.pixels[source + p]) }
    }
}
