import ArgumentParser
import Foundation
import VAECommandLine
import VAECore

/// What --count accepts.
private let countRange = 1...1_000_000

struct VAESample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-sample",
        abstract: "Decode samples of a trained run into an IDX image file any tool can read.",
        discussion: """
            Draws --count latent points from --sampler for the checkpoint of --epoch (default: the last) \
            of the run in --run-dir, and writes the decoder's mean images as an IDX file (magic \
            0x00000803, count x 28 x 28 unsigned bytes, each intensity times 255 rounded), gzipped when \
            --out ends in .gz, in any case. The default sampler and temperature are the sampling GIF's. The GMM and two-stage \
            samplers are fitted to that checkpoint's encoded training means, so the run's training files must be \
            at hand: they are read from --data (refused with the other samplers, which read none), else $KMNIST_DIR, \
            else the folder the run was trained on. \
            The same run, epoch, sampler and seed give the same file byte for byte. A class-conditional \
            run's samples come in ten blocks by class, unless --class names one: class c's block starts at \
            sample floor(c x count / 10).

            Exit codes: 0 done, 64 bad flags or data that does not match the run, 65 a corrupt checkpoint or \
            data file, 66 missing run, epoch or data, 70 the sampler's fit failed, 73 cannot write; \
            Ctrl-C or SIGTERM stops it with nothing half-written (the shell shows 130 or 143).
            """,
        version: versionDescription())

    @Option(help: ArgumentHelp("The run folder vae-train wrote (or its checkpoints folder).", valueName: "dir"),
            transform: RunDirectory.folderToRead)
    var runDir: String

    @Option(parsing: .unconditional, help: ArgumentHelp("The epoch whose checkpoint decodes (default: the last one).", valueName: "n"))
    var epoch: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Images to write, \(rangeHelp(countRange)).", valueName: "n"))
    var count: Int

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the sampler's fit and draw, 0 to 2^64-1.", valueName: "n"))
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("The IDX file to write; .gz (in any case) compresses it. An existing file is replaced only if it is a writable IDX image file and no KMNIST data file.", valueName: "file"))
    var out: String

    @Option(help: ArgumentHelp("gmm (a Gaussian mixture fitted to the encoded training means), gmm-diagonal (the same with diagonal covariances), two-stage (a second VAE fitted to the encoded training means), vamp (a VampPrior run's own prior) or prior (z ~ N(0, I)) (default: as the sampling GIF, vamp for a VampPrior run, else gmm).",
                               valueName: "name"))
    var sampler: SamplerKind?

    @Option(parsing: .unconditional, help: ArgumentHelp("Spreads the samples: the GMM and vamp samplers' covariances are scaled by its square, the two-stage sampler's two draws (its N(0, I) point and its decoder's noise) by it (above 0 and at most \(Int(maximumSamplingTemperature)); default: \(defaultSamplingTemperature), as the sampling GIF).",
                                                        valueName: "t"))
    var temperature: Double?

    @Option(name: .customLong("class"), parsing: .unconditional, help: ArgumentHelp("Draw every sample for this class 0-9 (class-conditional runs only).",
                                                                                    valueName: "c"))
    var label: Int?

    @OptionGroup var dataOptions: RunDataOptions

    @OptionGroup var compute: ThreadOptions

    func validate() throws {
        try checkRange("--count", count, in: countRange)
        if let epoch, epoch < 1 { throw ValidationError("--epoch must be at least 1, got \(epoch)") }
        try checkTemperature(temperature, sampler: sampler?.rawValue ?? "", takesTemperature: sampler?.takesTemperature ?? true)
        if let label, !(0..<VAEConfig.classes).contains(label) {
            throw ValidationError("--class must be a class between 0 and \(VAEConfig.classes - 1), got \(label)")
        }
        if out.isEmpty { throw ValidationError("--out must name the file to write") }
        try checkNotADash(out, flag: "--out", naming: "file")
        try checkNotNamedAsAPicture(out, flag: "--out", writing: "an IDX image file",
                                    naming: "name it .idx, or .idx.gz to compress it; vae-render draws GIFs")
        // Only .gz compresses: a name that promises another compression would lie, as would a
        // safetensors name (an existing checkpoint is refused also by checkOutputFile).
        try checkNotNamed(as: [(["bz2", "xz", "zst", "lz4", "lzma", "zip", "7z", "tgz", "z"], "another tool's compressed file"),
                               (["safetensors"], "a checkpoint or a classifier")],
                          out, flag: "--out", writing: "an IDX image file", naming: "name it .idx, or .idx.gz to compress it")
        // In any folder, new or not: beside a dataset's other files the samples would be read as
        // its images (a .gz even where the raw file is, since the tools read the .gz first).
        if KMNIST.files.contains(where: { [$0.name, $0.name + ".gz"].contains(URL(fileURLWithPath: out).lastPathComponent) }) {
            throw ValidationError("--out \(out) is named as a KMNIST data file, where the samples would pass for that dataset's "
                                  + "images; name another file")
        }
        if runDir.isEmpty { throw ValidationError("--run-dir must name a folder") }
    }

    func run() throws {
        try reportingErrors {
            compute.apply()
            try checkOutputFile(out, replacingOnly: "an IDX image file") { (try? readIDX($0, magic: idxImagesMagic)) != nil }
            let run = RunDirectory(runDir)
            // Data files are IDX images too: those this command reads and those the run records,
            // under any name that leads to them (validate() refuses their own names).
            let dataFolders = [try? dataOptions.folder(readingRun: run), try? run.recordedDataFolder()].compactMap { $0 }
            if let folder = dataFolders.first(where: { KMNIST.locate(in: $0).contains { $0.map { sameFile($0, out) } ?? false } }) {
                throw VAEError(.usage, "--out \(out) is one of the KMNIST files in \(folder), which \(runDir) reads; not replacing it")
            }
            let epochs = try run.requiredCheckpointEpochs(), chosen = epoch ?? epochs[epochs.count - 1]
            guard epochs.contains(chosen) else {
                throw VAEError(.missingInput, "--epoch \(chosen): \(run.checkpoint(epoch: chosen)) does not exist (the run has "
                               + "\(epochList(epochs)))")
            }
            let checkpoint = try run.checkedCheckpoint(epoch: chosen)
            if label != nil && !checkpoint.run.model.conditional {
                throw VAEError(.usage, "--class needs a class-conditional run (vae-train --conditional), and \(runDir) is not one")
            }
            let sampler = self.sampler ?? .standard(for: checkpoint.run.model)
            // (A vamp sampler the run does not have is refused by makeSampler, which says why.)
            if dataOptions.data != nil && !sampler.needsTrainingImages && sampler.isAvailable(for: checkpoint.run.model) {
                let readers = SamplerKind.allCases.filter(\.needsTrainingImages).map(\.rawValue)
                throw VAEError(.usage, "--data: the \(sampler.rawValue) sampler\(self.sampler == nil ? ", this run's default," : "") "
                               + "reads no training images (only \(readers.dropLast().joined(separator: ", ")) and \(readers.last!) do)")
            }
            let training = sampler.needsTrainingImages
                ? try loadTrainingImages(from: try dataOptions.folder(readingRun: run), for: checkpoint.run) : nil
            let codec = LatentCodec(config: checkpoint.run.model)
            let temperature = self.temperature ?? defaultSamplingTemperature
            let fitted = try makeSampler(sampler, model: checkpoint.model, codec: codec, training: training, seed: seed,
                                     temperature: temperature)
            var random = Random(seed: seed)
            // A conditional run's samples come in blocks by class, or all of --class, drawn by that
            // class's own sampler.
            let samples: LatentSamples, drawing: any LatentSampler
            if let label {
                guard let byClass = fitted as? ClassConditionalSampler else {
                    preconditionFailure("makeSampler fits one sampler per class for a conditional run")
                }
                (samples, drawing) = (byClass.sample(count: count, label: label, random: &random), byClass.perClass[label])
            } else {
                (samples, drawing) = (fitted.sample(count: count, random: &random), fitted)
            }
            let pixels = codec.decodeMeanPixels(checkpoint.model, z: samples.z, labels: samples.labels)
            let header = idxHeader(magic: idxImagesMagic, dimensions: [count, VAEConfig.imageSide, VAEConfig.imageSide])
            // Header and pixels written as they are: a million samples are 784 MB.
            try header.withUnsafeBytes { header in
                try pixels.withUnsafeBytes { pixels in
                    if out.lowercased().hasSuffix(".gz") {
                        try writeFileAtomically(gzipCompress(pieces: [header, pixels]), to: out)
                    } else {
                        try writeFileAtomically(to: out, pieces: [header, pixels])
                    }
                }
            }
            print("\(out): \(count: count, "sample")\(label.map { " of class \($0)" } ?? "") (\(sampler.rawValue): "
                  + "\(samplerDescription(sampler, drawing, temperature: temperature)); seed \(seed)) of epoch \(checkpoint.epoch) of \(runDir)")
        }
    }
}

extension SamplerKind: ExpressibleByArgument {}

VAESample.mainCheckingOutput()
