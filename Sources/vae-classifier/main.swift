import ArgumentParser
import Foundation
import VAECommandLine
import VAECore

/// What --epochs accepts.
private let epochRange = 1...1000

struct VAEClassifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-classifier",
        abstract: "Train the KMNIST classifier that vae-eval --quality scores samples with.",
        discussion: """
            Trains a small CNN built from the project's own layers (two 3x3 stride-2 convolutions with 32 \
            and 64 channels, a dense layer of 128 ReLU units, 10 logits) on the KMNIST training images of \
            --data, each shifted by up to 2 pixels afresh every epoch, with Adam on the softmax \
            cross-entropy. The same seed and data give the same file byte for byte. Prints what it trains, \
            the loss and seconds of every epoch, and the accuracy on the test images, which the file's \
            metadata records.

            Exit codes: 0 done, 64 bad flags, 65 bad data, 66 missing data, 70 training diverged, 73 cannot write; \
            Ctrl-C or SIGTERM stops it with nothing half-written (the shell shows 130 or 143).
            """,
        version: versionDescription())

    @OptionGroup var dataOptions: DataOptions

    @Option(help: ArgumentHelp("Where to write the classifier (safetensors); an existing file there is replaced only if it is a writable classifier file.", valueName: "file"))
    var out: String = "classifier.safetensors"

    @Option(parsing: .unconditional, help: ArgumentHelp("Passes over the training images, \(rangeHelp(epochRange)).", valueName: "n"))
    var epochs: Int = ClassifierTrainingOptions().epochs

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the initialisation, the shuffling and the shifts, 0 to 2^64-1.", valueName: "n"))
    var seed: UInt64 = 0

    @OptionGroup var compute: ThreadOptions

    func validate() throws {
        try checkRange("--epochs", epochs, in: epochRange)
        if out.isEmpty { throw ValidationError("--out must name the file to write") }
        try checkNotADash(out, flag: "--out", naming: "file")
        try checkNotNamedAsAPicture(out, flag: "--out", writing: "a classifier's safetensors file", naming: "name it .safetensors")
        try checkNotNamed(as: [(["idx"], "an IDX file"), (["gz"], "gzip data")], out, flag: "--out",
                          writing: "a classifier's safetensors file", naming: "name it .safetensors")
    }

    func run() throws {
        try reportingErrors {
            compute.apply()
            // A classifier whose data were damaged is one still, and retraining is how to mend it.
            try checkOutputFile(out, replacingOnly: "a classifier file") {
                (try? readSafetensors($0, verifyingChecksum: false))?.metadata["format"] == classifierFormat
            }
            let data = try KMNIST.load(from: dataOptions.folder)
            let options = ClassifierTrainingOptions(epochs: epochs, seed: seed)
            // As vae-train starts: what is trained on what, then one line per epoch.
            print("vae-classifier: CNN (32, 64 channels, dense 128) on the \(count: data.train.count, "training image") of "
                  + "\(dataOptions.folder), batch \(options.batchSize), Adam \(options.learningRate), seed \(seed), "
                  + "\(count: epochs, "epoch"), \(count: ComputeThreads.shared.count, "thread"), into \(out)")
            fflush(nil)
            var epochStart = DispatchTime.now().uptimeNanoseconds
            let classifier = try trainClassifier(data.train, options: options) { epoch, loss in
                let now = DispatchTime.now().uptimeNanoseconds, seconds = Double(now - epochStart) / 1e9
                epochStart = now
                print(String(format: "%@  cross-entropy %.4f nats/image  %.2f s", epochCaption(epoch, of: epochs), loss, seconds))
                fflush(nil)
            }
            let accuracy = classifierAccuracy(classifier, data.test)
            try writeClassifier(classifier, metadata: [
                "seed": String(seed), "epochs": String(epochs), "max_shift": String(options.maxShift),
                "batch_size": String(options.batchSize), "learning_rate": String(options.learningRate),
                "train_images": String(data.train.count), "test_images": String(data.test.count),
                "test_accuracy": String(accuracy), "test_md5": data.test.md5,
            ], to: out)
            print(String(format: "test accuracy %.2f%% on %d images; wrote %@", 100 * accuracy, data.test.count, out))
        }
    }
}

VAEClassifier.mainCheckingOutput()
