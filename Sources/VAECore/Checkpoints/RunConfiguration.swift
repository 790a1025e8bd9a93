/// Everything a run was started with: the model's shape and the training hyperparameters.
///
/// `RunConfig.fields` is the one list of its fields: how each is written to a checkpoint's
/// metadata, read back, compared between checkpoints, and which vae-train flag sets it.
public struct RunConfig: Equatable, Sendable {
    public var model: VAEConfig
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Double
    public var seed: UInt64
    /// The preset the values came from ("default" or e.g. "pytorch-example"), for the record.
    public var preset: String
    public var trainImages: Int
    public var testImages: Int
    /// The MD5 of each split as vae-train read it, images then labels (`ImageSet.md5`), or nil
    /// in checkpoints written before it was recorded: the tools that read a split of the run's
    /// data again refuse other images of the same count.
    public var trainMD5: String?
    public var testMD5: String?
    /// Weight of the KL term in the training objective (1: the ELBO; β-VAE otherwise).
    public var beta: Double
    /// Epochs over which the KL weight ramps linearly from 0 to `beta`, step by step (0: none).
    public var klWarmupEpochs: Int
    public var binarization: Binarization
    /// What training minimises: the negative ELBO, or the importance-weighted bound with
    /// `trainSamples` draws per image.
    public var objective: Objective
    /// Draws of z per image in the training objective: k of the importance-weighted bound, 1 for the ELBO.
    public var trainSamples: Int
    /// Each training image is shifted by up to this many pixels in x and y, drawn afresh for every
    /// batch (0: as they are). The test images are never shifted.
    public var augmentShift: Int

    public init(model: VAEConfig, epochs: Int, batchSize: Int, learningRate: Double, seed: UInt64,
                preset: String, trainImages: Int, testImages: Int, beta: Double = 1, klWarmupEpochs: Int = 0,
                binarization: Binarization = .none, objective: Objective = .elbo, trainSamples: Int = 1, augmentShift: Int = 0,
                trainMD5: String? = nil, testMD5: String? = nil) {
        self.model = model
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
        self.preset = preset
        self.trainImages = trainImages
        self.testImages = testImages
        self.beta = beta
        self.klWarmupEpochs = klWarmupEpochs
        self.binarization = binarization
        self.objective = objective
        self.trainSamples = objective == .iwae ? trainSamples : 1
        self.augmentShift = augmentShift
        self.trainMD5 = trainMD5
        self.testMD5 = testMD5
    }

    /// Refuses the `split`, read from the file `source` in `folder`, when it cannot be the one the
    /// run (`runName`, "the run in runs/x") was trained and evaluated on: another count, or other
    /// images or labels than it recorded.
    public func checkSplit(_ images: ImageSet, _ split: KMNIST.Split, source: String, folder: String, runName: String) throws {
        let expected = split == .training ? trainImages : testImages
        guard images.count == expected else {
            throw VAEError(.usage, "\(runName) was trained with \(expected) \(split.rawValue) images, but \(source) "
                           + "holds \(images.count); " + KMNIST.otherDataAdvice(folder: folder))
        }
        try checkRecordedMD5(of: images, split, source: folder)
    }

    /// The `split` of the KMNIST folder `folder`, refused by `checkSplit` unless it can be the
    /// run's; `advice` says what to do when its files are missing.
    public func loadSplit(_ split: KMNIST.Split, from folder: String, runName: String,
                          advice: String = KMNIST.runDataAdvice) throws -> ImageSet {
        let (images, path) = try KMNIST.loadSplit(split, from: folder, advice: advice)
        try checkSplit(images, split, source: path, folder: folder, runName: runName)
        return images
    }

    /// Refuses the `split` read from the folder `source` when the run recorded other images or
    /// labels: a folder of the same counts (MNIST's, say) would otherwise pass for the run's data.
    public func checkRecordedMD5(of images: ImageSet, _ split: KMNIST.Split, source: String) throws {
        guard let recorded = split == .training ? trainMD5 : testMD5 else { return }
        let md5 = images.md5
        guard md5 == recorded else {
            throw VAEError(.usage, "the \(split.rawValue) images and labels in \(source) are not the ones the run was trained on "
                           + "(md5 \(md5), recorded \(recorded)); " + KMNIST.otherDataAdvice(folder: source))
        }
    }
}

/// The training loss.
public enum Objective: String, Sendable, CaseIterable {
    /// The negative ELBO, one z draw per image (the KL term in closed form for the normal prior).
    case elbo
    /// The importance-weighted bound of Burda et al. (2016), -log (1/k) Σ_i p(x, z_i) / q(z_i|x)
    /// with k draws per image, which is tighter than the ELBO for k > 1.
    case iwae
}

/// How pixels in [0, 1] are presented to the model.
public enum Binarization: String, Sendable, CaseIterable {
    /// As grey levels: the Bernoulli likelihood then scores soft targets, not a true likelihood.
    case none
    /// Each training batch resampled as Bernoulli(pixel); the test set binarised once with a
    /// fixed seed. The Bernoulli NLL is then a likelihood comparable to published figures.
    case dynamic
}

/// One field of `RunConfig`: its metadata key, where its value comes from, and how it is
/// written and read back.
public struct RunField: Sendable {
    public enum Source: Sendable, Equatable {
        /// A vae-train flag sets it; a resumed run keeps the stored value, so the flag may only repeat it.
        case flag(String)
        /// Counted from the data; `train` refuses data of other sizes.
        case data
        /// Follows from other fields (the conv channels from --arch, the activation from the code).
        case derived
    }

    public let key: String
    public let source: Source
    /// Whether every checkpoint of one run has the same value; the planned epochs do not,
    /// since resuming may raise them.
    public let identifiesRun: Bool
    /// The value as written, or nil when the configuration has no such field.
    public let write: @Sendable (RunConfig) -> String?
    /// Sets the field from its written value, or from the default of checkpoints written before
    /// the key existed when the value is nil.
    let read: @Sendable (inout RunConfig, String?, MetadataReader) throws -> Void
    /// What an absent value means, in messages.
    var absent = "none"

    /// A field written with `String(value)` and read by `parse`, which returns nil for a bad value
    /// (told with `expected`, the values it takes, when given).
    static func value<Value: Sendable>(
        _ key: String, _ source: Source, _ path: WritableKeyPath<RunConfig, Value> & Sendable,
        identifiesRun: Bool = true, defaultForOldFiles: String? = nil, format: @escaping @Sendable (Value) -> String,
        parse: @escaping @Sendable (String) -> Value?, expected: String? = nil
    ) -> RunField {
        RunField(key: key, source: source, identifiesRun: identifiesRun,
                 write: { format($0[keyPath: path]) },
                 read: { run, text, meta in
                     guard let text = text ?? defaultForOldFiles else { _ = try meta.string(key); return }
                     guard let value = parse(text) else { throw meta.invalid(key, text, expected: expected) }
                     run[keyPath: path] = value
                 })
    }

    /// A whole number in `range`; a value outside it is told with the range, which a limit lowered
    /// since the file was written (latent_dim's) makes the reason.
    static func integer(_ key: String, _ source: Source, _ path: WritableKeyPath<RunConfig, Int> & Sendable,
                        range: ClosedRange<Int>, identifiesRun: Bool = true, defaultForOldFiles: String? = nil) -> RunField {
        value(key, source, path, identifiesRun: identifiesRun, defaultForOldFiles: defaultForOldFiles, format: { String($0) },
              parse: { Int($0).flatMap { range.contains($0) ? $0 : nil } },
              expected: range.upperBound == Int.max ? "\(range.lowerBound) or more" : "\(range.lowerBound) to \(range.upperBound)")
    }

    static func choice<Value: RawRepresentable & Sendable>(_ key: String, _ source: Source,
                                                          _ path: WritableKeyPath<RunConfig, Value> & Sendable,
                                                          defaultForOldFiles: String? = nil) -> RunField
        where Value.RawValue == String {
        value(key, source, path, defaultForOldFiles: defaultForOldFiles, format: { $0.rawValue }, parse: Value.init(rawValue:))
    }

    /// An on/off switch written as "true" when on and left out when off, so that the metadata of
    /// configurations without it stays as it was; absent reads as off.
    static func switchedOn(_ key: String, _ flag: String, _ path: WritableKeyPath<RunConfig, Bool> & Sendable) -> RunField {
        RunField(key: key, source: .flag(flag), identifiesRun: true,
                 write: { $0[keyPath: path] ? "true" : nil },
                 read: { run, text, meta in
                     guard let text else { run[keyPath: path] = false; return }
                     guard text == "true" else { throw meta.invalid(key, text) }
                     run[keyPath: path] = true
                 }, absent: "false")
    }

    /// A field written only when `writtenWhen` holds (a feature that is off leaves the metadata
    /// as it was without it) and read only then; otherwise, and in files from before the key, the
    /// configuration keeps the value it starts with, which must be what those files did.
    static func optional<Value: Sendable>(
        _ key: String, _ source: Source, _ path: WritableKeyPath<RunConfig, Value> & Sendable,
        writtenWhen: @escaping @Sendable (RunConfig) -> Bool, absent: String = "none", format: @escaping @Sendable (Value) -> String,
        parse: @escaping @Sendable (String) -> Value?
    ) -> RunField {
        RunField(key: key, source: source, identifiesRun: true,
                 write: { run in writtenWhen(run) ? format(run[keyPath: path]) : nil },
                 read: { run, text, meta in
                     guard let text else { return }
                     guard let value = parse(text) else { throw meta.invalid(key, text) }
                     run[keyPath: path] = value
                 }, absent: absent)
    }

    /// A split's MD5, 32 lowercase hex digits; absent in files written before it was recorded.
    static func md5(_ key: String, _ path: WritableKeyPath<RunConfig, String?> & Sendable) -> RunField {
        RunField(key: key, source: .data, identifiesRun: true,
                 write: { $0[keyPath: path] },
                 read: { run, text, meta in
                     guard let text else { return }
                     guard text.utf8.count == 32, text.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                         throw meta.invalid(key, text)
                     }
                     run[keyPath: path] = text
                 }, absent: "unrecorded")
    }

    /// Comma-separated layer widths ("" for none), each in `range`, at most
    /// `maximumHiddenLayers` of them.
    static func widths(_ key: String, _ source: Source, _ path: WritableKeyPath<RunConfig, [Int]> & Sendable,
                       range: ClosedRange<Int> = RunConfig.widthRange,
                       writtenWhen: @escaping @Sendable (RunConfig) -> Bool = { _ in true }) -> RunField {
        RunField(key: key, source: source, identifiesRun: true,
                 write: { run in writtenWhen(run) ? run[keyPath: path].map(String.init).joined(separator: ",") : nil },
                 read: { run, text, meta in
                     guard writtenWhen(run) else { return }
                     let text = try meta.string(key)
                     let widths = text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
                     guard widths.count <= RunConfig.maximumHiddenLayers, widths.allSatisfy({ $0.map(range.contains) ?? false }) else {
                         throw meta.invalid(key, text)
                     }
                     run[keyPath: path] = widths.map { $0! }
                 })
    }
}

extension RunConfig {
    /// Every field, in the order they are read (the architecture before what depends on it).
    /// Keys added after the first checkpoints were written read as what those runs did.
    public static let fields: [RunField] = [
        .choice("arch", .flag("--arch"), \.model.arch),
        // Only conv models have convolutions; an MLP's checkpoint has no such key.
        .widths("conv_channels", .derived, \.model.convChannels, range: convChannelRange, writtenWhen: { $0.model.arch == .conv }),
        .widths("hidden", .flag("--hidden"), \.model.hidden),
        .integer("latent_dim", .flag("--latent-dim"), \.model.latentDim, range: latentDimRange),
        .choice("likelihood", .flag("--likelihood"), \.model.likelihood),
        .value("sigma", .flag("--sigma"), \.model.sigma, defaultForOldFiles: "0.1", format: { String($0) },
               parse: { Float($0).flatMap { isValidSigma(Double($0)) ? $0 : nil } }),
        .choice("activation", .derived, \.model.activation),
        .switchedOn("conditional", "--conditional", \.model.conditional),
        .integer("epochs", .flag("--epochs"), \.epochs, range: 1...Int.max, identifiesRun: false),
        .integer("batch_size", .flag("--batch-size"), \.batchSize, range: batchSizeRange),
        .value("learning_rate", .flag("--lr"), \.learningRate, format: { String($0) },
               parse: { Double($0).flatMap { isValidLearningRate($0) ? $0 : nil } }),
        .value("seed", .flag("--seed"), \.seed, format: { String($0) }, parse: { UInt64($0) }),
        .value("preset", .flag("--preset"), \.preset, format: { $0 }, parse: { $0 }),
        .integer("train_images", .data, \.trainImages, range: 1...Int.max),
        .integer("test_images", .data, \.testImages, range: 0...Int.max),
        .md5("train_md5", \.trainMD5),
        .md5("test_md5", \.testMD5),
        .value("beta", .flag("--beta"), \.beta, defaultForOldFiles: "1.0", format: { String($0) },
               parse: { Double($0).flatMap { isValidKLWeight($0) ? $0 : nil } }),
        .integer("kl_warmup_epochs", .flag("--kl-warmup"), \.klWarmupEpochs, range: 0...Int.max, defaultForOldFiles: "0"),
        .choice("binarize", .flag("--binarize"), \.binarization, defaultForOldFiles: "none"),
        .optional("prior", .flag("--prior"), \.model.prior, writtenWhen: { $0.model.prior != .normal },
                  absent: Prior.normal.rawValue, format: { $0.rawValue }, parse: Prior.init(rawValue:)),
        .optional("pseudo_inputs", .flag("--pseudo-inputs"), \.model.pseudoInputs, writtenWhen: { $0.model.prior == .vamp },
                  format: { String($0) }, parse: { Int($0).flatMap { pseudoInputRange.contains($0) ? $0 : nil } }),
        .optional("objective", .flag("--objective"), \.objective, writtenWhen: { $0.objective != .elbo },
                  absent: Objective.elbo.rawValue, format: { $0.rawValue }, parse: Objective.init(rawValue:)),
        .optional("train_k", .flag("--train-k"), \.trainSamples, writtenWhen: { $0.objective == .iwae }, format: { String($0) },
                  parse: { Int($0).flatMap { trainSampleRange.contains($0) ? $0 : nil } }),
        .optional("augment_shift", .flag("--augment-shift"), \.augmentShift, writtenWhen: { $0.augmentShift > 0 }, absent: "0",
                  format: { String($0) }, parse: { Int($0).flatMap { augmentShiftRange.contains($0) && $0 > 0 ? $0 : nil } }),
    ]

    /// Adam computes in Float: a rate that is 0 or subnormal there would train nothing.
    public static func isValidLearningRate(_ rate: Double) -> Bool { rate > 0 && Float(rate).isNormal }
    /// The gaussian-fixed likelihood divides by σ² in Float: σ² and 1/σ² must both be normal
    /// Floats, which holds from about 1.1e-19 to 9.2e18.
    public static func isValidSigma(_ sigma: Double) -> Bool {
        let square = Float(sigma) * Float(sigma)
        return sigma > 0 && square.isNormal && (1 / square).isNormal
    }
    /// The KL weight is a Float in the backward pass, where a larger one would be infinite and a
    /// smaller one 0 or subnormal (flushed to 0).
    public static func isValidKLWeight(_ beta: Double) -> Bool { beta == 0 || (beta > 0 && Float(beta).isNormal) }

    /// The VampPrior's pseudo-inputs a run may have.
    public static let pseudoInputRange = 1...5000
    /// The importance-weighted objective's draws per image a run may take.
    public static let trainSampleRange = 1...100
    /// The largest shifts of `--augment-shift`: a few pixels move a character within the frame,
    /// more would cut its strokes off.
    public static let augmentShiftRange = 0...4
    /// Hidden layer widths a checkpoint may hold, and the most hidden layers: far beyond
    /// any model trained here, yet small enough that a hostile header cannot describe a layout
    /// whose tensor list alone fills memory (1,1,1,... costs two bytes a layer). vae-train
    /// refuses a run outside them, whose checkpoints no tool could read.
    public static let widthRange = 1...65536
    /// Latent sizes up to the image's 784 pixels: a wider code adds nothing a decoder could use,
    /// and what the tools fit to a run's codes grows with the square of its size (the latent
    /// map's principal plane, the gmm sampler's covariances): 65,536 had them ask for 34 GB.
    public static let latentDimRange = 1...VAEConfig.inputSize
    /// The channels a checkpoint's convolution may have: far beyond the conv preset's 32 and 64
    /// (no flag sets them), since a layer's activations are 196 floats an image per channel: a
    /// 210 MB checkpoint of 65,536 channels would have every tool allocate 100 GB to evaluate it.
    public static let convChannelRange = 1...1024
    public static let maximumHiddenLayers = 1024
    /// Batch sizes a run may have: far beyond any useful batch, and small enough that sizes
    /// computed from them cannot overflow.
    public static let batchSizeRange = 1...1_000_000
    /// The most parameters a model may have: its parameters, gradients and Adam's two moments
    /// then take 4 GB, and a checkpoint 1 GB.
    public static let maximumParameters = 250_000_000

    /// Why `model` is too large to train, or nil when it is not: more than `maximumParameters`.
    public static func tooManyParameters(_ model: VAEConfig) -> String? {
        let parameters = ParameterLayout(model).count
        guard parameters > maximumParameters else { return nil }
        return "the model would have \(parameters) parameters, more than the \(maximumParameters) a training run takes "
            + "(4 GB for them, their gradients and Adam's moments); choose a smaller --hidden or --latent-dim"
    }

    /// The configuration as safetensors metadata strings, with the two facts every model of this
    /// code shares: its input and its optimizer.
    public var metadata: [String: String] {
        var metadata = ["input_shape": "\(VAEConfig.imageSide),\(VAEConfig.imageSide)", "optimizer": "adam"]
        for field in RunConfig.fields {
            metadata[field.key] = field.write(self)
        }
        return metadata
    }

    /// Reads the configuration from metadata, with errors that name the file and the key.
    init(_ meta: MetadataReader) throws {
        var run = RunConfig(model: VAEConfig(hidden: [], latentDim: 1), epochs: 1, batchSize: 1, learningRate: 1, seed: 0,
                            preset: "", trainImages: 1, testImages: 0)
        for field in RunConfig.fields {
            try field.read(&run, meta.metadata[field.key], meta)
        }
        // Every model here reads 28x28 images; a file for other images is not one of ours.
        if let shape = meta.metadata["input_shape"], shape != "\(VAEConfig.imageSide),\(VAEConfig.imageSide)" {
            throw meta.invalid("input_shape", shape)
        }
        // A state's moments are Adam's: another optimizer's could not be resumed.
        if let optimizer = meta.metadata["optimizer"], optimizer != "adam" { throw meta.invalid("optimizer", optimizer) }
        let model = run.model
        if model.arch == .conv && model.convChannels.isEmpty { throw meta.invalid("conv_channels", "") }
        if model.prior == .vamp && meta.metadata["pseudo_inputs"] == nil {
            throw VAEError(.badData, "\(meta.path): metadata prior \"vamp\" needs pseudo_inputs")
        }
        if model.prior != .normal && model.conditional {
            throw VAEError(.badData, "\(meta.path): metadata prior \"\(model.prior.rawValue)\" is not possible with a conditional model")
        }
        if run.objective == .iwae {
            if meta.metadata["train_k"] == nil { throw VAEError(.badData, "\(meta.path): metadata objective \"iwae\" needs train_k") }
            if model.conditional {
                throw VAEError(.badData, "\(meta.path): metadata objective \"iwae\" is not possible with a conditional model")
            }
            // vae-train refuses --beta and --kl-warmup with iwae: the bound has no KL term to weight.
            if run.beta != 1 || run.klWarmupEpochs != 0 {
                throw VAEError(.badData, "\(meta.path): metadata objective \"iwae\" has no KL term to weight: it needs beta 1.0 "
                               + "and kl_warmup_epochs 0, not \(run.beta) and \(run.klWarmupEpochs)")
            }
        }
        guard model.arch.supports(model.likelihood) else {
            throw VAEError(.badData, "\(meta.path): metadata likelihood \"\(model.likelihood.rawValue)\" is not possible with "
                           + "arch \"\(model.arch.rawValue)\"")
        }
        // Through the initialiser, which keeps sigma at its default unless the likelihood uses it.
        run.model = VAEConfig(arch: model.arch, convChannels: model.convChannels, hidden: model.hidden, latentDim: model.latentDim,
                              likelihood: model.likelihood, sigma: model.sigma, activation: model.activation,
                              conditional: model.conditional, prior: model.prior, pseudoInputs: model.pseudoInputs)
        run.trainSamples = run.objective == .iwae ? run.trainSamples : 1
        self = run
    }

    /// The fields that identify a run and differ from `reference`'s, each as
    /// "key value instead of value" (the field's `absent` text, such as "normal" for `prior`,
    /// for a field one of them does not have).
    public func differences(from reference: RunConfig) -> [String] {
        RunConfig.fields.filter(\.identifiesRun).compactMap { field in
            let value = field.write(self), expected = field.write(reference)
            return value == expected ? nil
                : "\(field.key) \(value.map(describe) ?? field.absent) instead of \(expected.map(describe) ?? field.absent)"
        }
    }

    /// The run stored in a resume state, continued with what the command line asked for:
    /// `requested` carries the flags' values (the preset's where a flag was not given) and
    /// `explicitFlags` the flags that were given. Only the planned epochs may change; a flag
    /// that repeats the stored value is accepted; without --epochs the run keeps its own.
    public func resumed(with requested: RunConfig, explicitFlags: Set<String>, statePath: String) throws -> RunConfig {
        for field in RunConfig.fields where field.identifiesRun {
            guard case .flag(let flag) = field.source, explicitFlags.contains(flag) else { continue }
            let stored = field.write(self).map(describe) ?? field.absent, asked = field.write(requested).map(describe) ?? field.absent
            if stored != asked {
                throw VAEError(.usage, "\(flag) cannot change when resuming: \(statePath) has \(field.key) \(stored), "
                               + "\(flag) asks for \(asked)")
            }
        }
        var run = self
        if explicitFlags.contains("--epochs") { run.epochs = requested.epochs }
        return run
    }

    /// A one-line description for logs and messages.
    public var summary: String {
        let convolutions = model.convolutions
        let input = convolutions.first.map { "\($0.height)x\($0.width)x\($0.imageChannels)" } ?? String(VAEConfig.inputSize)
        let widths = [input] + convolutions.map { "\($0.gridHeight)x\($0.gridWidth)x\($0.gridChannels)" }
            + (model.hidden + [model.latentDim]).map(String.init)
        // Only hidden layers and convolutions have an activation.
        let activation = model.hidden.isEmpty && convolutions.isEmpty ? "" : " " + model.activation.rawValue
        return "\(model.arch.rawValue) \(widths.joined(separator: "-"))\(activation), "
            + "\(model.likelihood.rawValue)\(model.likelihood == .gaussianFixed ? " sigma \(model.sigma)" : ""), "
            + (beta != 1 ? "beta \(beta), " : "") + (klWarmupEpochs > 0 ? "KL warm-up \(count: klWarmupEpochs, "epoch"), " : "")
            + (binarization == .dynamic ? "dynamically binarised, " : "")
            + (model.conditional ? "conditional on the class, " : "")
            + (model.prior == .vamp ? "VampPrior with \(count: model.pseudoInputs, "pseudo-input"), " : "")
            + (objective == .iwae ? "importance-weighted bound with k=\(trainSamples), " : "")
            + (augmentShift > 0 ? "shifted by up to \(count: augmentShift, "pixel"), " : "")
            + "batch \(batchSize), lr \(learningRate), seed \(seed), "
            + "\(count: epochs, "epoch"), \(trainImages) train / \(testImages) test images"
    }
}

/// An empty list of widths reads as "none" in messages.
private func describe(_ written: String) -> String {
    written.isEmpty ? "none" : written
}
