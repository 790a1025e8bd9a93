import Foundation

/// A pixel byte as the models see it, in [0, 1]. Multiplying by 1/255 rounded to a Float, as
/// training always has, gives another Float than dividing by 255 for 126 of the 256 bytes, so
/// every place that turns bytes into model inputs calls this one function.
@inlinable @inline(__always)
public func intensity(_ byte: UInt8) -> Float { Float(byte) * (1 / 255) }

/// The pixel byte nearest to `intensity`, clamped to [0, 1]; NaN maps to 0.
public func pixelByte(_ intensity: Float) -> UInt8 {
    guard intensity > 0 else { return 0 }  // also catches NaN, which UInt8() would trap on
    return intensity < 1 ? UInt8((intensity * 255).rounded()) : 255
}

/// Images (UInt8, row-major 28x28 each) and their class labels. Pixels stay bytes in memory
/// and are scaled to [0, 1] one batch at a time.
public struct ImageSet: Sendable {
    public let pixels: [UInt8]
    public let labels: [UInt8]
    public var count: Int { labels.count }
    /// The MD5 of the images and then the labels, which a run records to know its data again.
    public var md5: String { md5Hex(pixels, labels) }

    public init(pixels: [UInt8], labels: [UInt8]) {
        precondition(pixels.count == labels.count * VAEConfig.inputSize)
        self.pixels = pixels
        self.labels = labels
    }

    /// The first `count` images, or all of them when there are fewer.
    public func prefix(_ count: Int) -> ImageSet {
        let kept = min(count, self.count)
        return ImageSet(pixels: Array(pixels[..<(kept * VAEConfig.inputSize)]), labels: Array(labels[..<kept]))
    }

    /// Every image's pixels in [0, 1], row-major `[count, 784]`.
    public var intensities: [Float] { pixels.map(intensity) }

    /// The pixels of the images at `indices`, in their order, as intensities in [0, 1], row-major
    /// `[indices.count, 784]`.
    public func intensities(at indices: [Int]) -> [Float] {
        let size = VAEConfig.inputSize
        var result = [Float](repeating: 0, count: indices.count * size)
        for (row, index) in indices.enumerated() {
            for i in 0..<size { result[row * size + i] = intensity(pixels[index * size + i]) }
        }
        return result
    }

    /// The images labelled `label`, in order.
    public func images(ofClass label: Int) -> ImageSet {
        let indices = labels.indices.filter { Int(labels[$0]) == label }
        let size = VAEConfig.inputSize
        return ImageSet(pixels: indices.flatMap { pixels[$0 * size..<($0 + 1) * size] },
                        labels: [UInt8](repeating: UInt8(label), count: indices.count))
    }

    /// The set with every pixel resampled once as 0 or 255 with probability pixel/255.
    public func binarized(seed: UInt64) -> ImageSet {
        var random = Random(seed: seed)
        let threshold: (UInt8) -> UInt8 = { random.nextUniform() * 255 < Float($0) ? 255 : 0 }
        return ImageSet(pixels: pixels.map(threshold), labels: labels)
    }

    /// The images a run is evaluated on: the set itself, or for dynamically binarised training
    /// its one fixed binarisation (the same for every run, so that runs compare).
    public func evaluationImages(for run: RunConfig) -> ImageSet {
        run.binarization == .dynamic ? binarized(seed: 0xB1A_5EED) : self
    }

    /// Loads an IDX image file and its label file and checks that they belong together.
    public static func load(images imagesPath: String, labels labelsPath: String) throws -> ImageSet {
        let images = try readIDX(imagesPath, magic: idxImagesMagic)
        let side = VAEConfig.imageSide
        guard images.dimensions.count == 3, images.dimensions[1] == side, images.dimensions[2] == side else {
            let shape = images.dimensions.map(String.init).joined(separator: "x")
            throw VAEError(.badData, "\(imagesPath): images are \(shape.isEmpty ? "?" : shape), expected Nx\(side)x\(side)")
        }
        guard images.dimensions[0] > 0 else {
            throw VAEError(.badData, "\(imagesPath): holds no images (its header says 0)")
        }
        let labels = try readIDX(labelsPath, magic: idxLabelsMagic)
        guard labels.dimensions[0] == images.dimensions[0] else {
            throw VAEError(.badData, "\(labelsPath): \(labels.dimensions[0]) labels but \(imagesPath) holds \(images.dimensions[0]) images")
        }
        if let bad = labels.payload.firstIndex(where: { $0 >= VAEConfig.classes }) {
            throw VAEError(.badData, "\(labelsPath): label \(labels.payload[bad]) of image \(bad) is not a class 0-\(VAEConfig.classes - 1)")
        }
        return ImageSet(pixels: images.payload, labels: labels.payload)
    }
}

/// The training and test splits of KMNIST.
public struct KMNIST: Sendable {
    public let train: ImageSet
    public let test: ImageSet

    public init(train: ImageSet, test: ImageSet) {
        self.train = train
        self.test = test
    }

    /// The images of the official training and test splits, which a download brings.
    public static let officialCounts = (train: 60_000, test: 10_000)

    /// The four files of the dataset, with the md5 of the official gzip files.
    public static let files: [(name: String, md5: String)] = [
        ("train-images-idx3-ubyte", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte", "7320c461ea6c1c855c0b718fb2a4b134"),
    ]

    /// The md5 of each official gzip file, by the file's name without .gz.
    public static let officialMD5 = Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.md5) })

    public static let officialURL = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"

    /// The data folder: the `--data` flag, else `$KMNIST_DIR`, else `./data/kmnist`.
    public static func folder(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        explicitFolder(flag: flag, environment: environment) ?? "data/kmnist"
    }

    /// The data folder the user named, by the `--data` flag or else `$KMNIST_DIR`; nil when neither
    /// names one (empty counts as unset).
    public static func explicitFolder(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let env = environment["KMNIST_DIR"], !env.isEmpty { return env }
        return nil
    }

    /// The path of each file in `folder`, `.gz` preferred over raw; nil when neither exists.
    public static func locate(in folder: String) -> [String?] {
        files.map { file in
            [folder + "/" + file.name + ".gz", folder + "/" + file.name]
                .first { FileManager.default.fileExists(atPath: $0) }
        }
    }

    /// The files missing from `folder`, by the names download gives them ("t10k-images-idx3-ubyte.gz").
    static func missingFiles(in folder: String) -> [String] { missingFiles(locate(in: folder)) }

    /// The files that `located` (as `locate` returns it) lacks among those at `indices` of `files`.
    private static func missingFiles(_ located: [String?], among indices: [Int] = Array(files.indices)) -> [String] {
        indices.filter { located[$0] == nil }.map { files[$0].name + ".gz" }
    }

    /// Refuses a `folder` that is a file, which would otherwise be reported as a folder missing
    /// every KMNIST file.
    static func checkNotAFile(_ folder: String) throws {
        if PathKind(folder) == .file {
            throw VAEError(.missingInput, "\(folder) is a file, not a folder of KMNIST files; point --data or KMNIST_DIR at the folder")
        }
    }

    /// Loads the dataset from `folder`.
    public static func load(from folder: String) throws -> KMNIST {
        try checkNotAFile(folder)
        let paths = locate(in: folder)
        let missing = missingFiles(paths)
        if !missing.isEmpty {
            throw VAEError(.missingInput, missingFilesMessage(missing, folder: folder))
        }
        let train = try ImageSet.load(images: paths[0]!, labels: paths[1]!)
        let test = try ImageSet.load(images: paths[2]!, labels: paths[3]!)
        return KMNIST(train: train, test: test)
    }

    public enum Split: String, Sendable { case training, test }

    /// One split alone, for the tools that read a trained run and need nothing else: they never
    /// download. Returns the set and its images file's path; a missing file is named, then
    /// `advice` says what to do.
    public static func loadSplit(_ split: Split, from folder: String, advice: String) throws -> (images: ImageSet, path: String) {
        try checkNotAFile(folder)
        guard PathKind(folder) == .folder else { throw VAEError(.missingInput, "the data folder \(folder) does not exist; \(advice)") }
        // `files` lists the training images and labels, then the test images and labels.
        let first = split == .training ? 0 : 2
        let paths = locate(in: folder)
        guard let imagesPath = paths[first], let labelsPath = paths[first + 1] else {
            let missing = missingFiles(paths, among: [first, first + 1])
            throw VAEError(.missingInput, "KMNIST \(split.rawValue) files missing in \(folder): \(missing.joined(separator: ", ")); \(advice)")
        }
        return (try ImageSet.load(images: imagesPath, labels: labelsPath), imagesPath)
    }

    /// What to do when a split a trained run needs is missing.
    public static let runDataAdvice = "point --data or KMNIST_DIR at the folder the run was trained on"

    /// What to do about `folder` when it holds other data than a run's; names $KMNIST_DIR when
    /// that chose it, since it comes before the folder a run records, and may be set unawares.
    public static func otherDataAdvice(folder: String?) -> String {
        let advice = "pass the --data folder the run was trained on"
        guard let folder, let named = ProcessInfo.processInfo.environment["KMNIST_DIR"], !named.isEmpty, sameFile(named, folder)
        else { return advice }
        return advice + " ($KMNIST_DIR names \(named), which comes before the folder a run records)"
    }

    /// A folder that does not exist is said to be missing, not told to be filled: its name may be mistyped.
    static func missingFilesMessage(_ missing: [String], folder: String) -> String {
        if PathKind(folder) == .nothing {
            return "the data folder \(folder) does not exist; point --data or KMNIST_DIR at a folder that has the KMNIST "
                + "files, or download them from \(officialURL) into it"
        }
        return "KMNIST files missing in \(folder): \(missing.joined(separator: ", ")); download them from "
            + "\(officialURL) into \(folder) (or point --data or KMNIST_DIR at a folder that has them)"
    }
}
