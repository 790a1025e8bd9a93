import Foundation
import VAECore
import VAERender
import VAETesting

/// The seed corpora of the fuzz targets in Fuzz/, one folder per target under `folder`: small
/// valid inputs, so that the fuzzers start from files that reach deep into each parser instead
/// of rediscovering the formats byte by byte. Everything is seeded, so reruns give equal bytes.
enum FuzzSeeds {
    static func write(to folder: String) throws {
        try writeIDXSeeds(to: folder + "/idx")
        try writeSafetensorsSeeds(to: folder + "/safetensors")
        try writeGIFSeeds(to: folder + "/gif")
    }

    /// Two synthetic images and their labels, raw and gzip-compressed. The IDX fuzzer reads the
    /// first byte as its selector (bit 0: images magic, bit 1: a .gz name), the rest as the file.
    private static func writeIDXSeeds(to folder: String) throws {
        try createFolders(folder, what: "the fuzz seed folder")
        var random = Random(seed: 7)
        let set = SyntheticShapes.make(count: 2, random: &random)
        let side = VAEConfig.imageSide
        let images = encodeIDX(magic: idxImagesMagic, dimensions: [set.count, side, side], payload: set.pixels)
        let labels = encodeIDX(magic: idxLabelsMagic, dimensions: [set.count], payload: set.labels)
        let seeds: [(String, UInt8, [UInt8])] = [
            ("labels-raw", 0b00, labels), ("images-raw", 0b01, images),
            ("labels-gzip", 0b10, gzipCompress(labels)), ("images-gzip", 0b11, gzipCompress(images)),
        ]
        for (name, selector, bytes) in seeds {
            try writeFileAtomically([selector] + bytes, to: folder + "/" + name)
        }
    }

    /// A checkpoint of the smallest model with a hidden layer, 784-1-1 (its two 784-wide layers
    /// make it 11 KB), and a small safetensors file with every dtype the reader knows.
    private static func writeSafetensorsSeeds(to folder: String) throws {
        try createFolders(folder, what: "the fuzz seed folder")
        let run = RunConfig(model: VAEConfig(hidden: [1], latentDim: 1), epochs: 1, batchSize: 1, learningRate: 1e-3,
                            seed: 1, preset: "fuzz-seed", trainImages: 1, testImages: 1)
        let model = VAEModel(config: run.model)
        var random = Random(seed: run.seed)
        model.initialize(random: &random)
        let metrics = EpochMetrics(epoch: 1, train: LossTerms(reconstruction: 500, kl: 2),
                                   test: LossTerms(reconstruction: 510, kl: 2), seconds: 0, imagesPerSecond: 0)
        try writeCheckpoint(model, run: run, metrics: metrics, to: folder + "/checkpoint-784-1-1.safetensors")

        let floats: [Float] = [0, 1, -2.5, 3, .infinity, .nan]
        let words: [UInt64] = [1, 2, 3, .max]
        let integers: [Int64] = [-1]
        try floats.withUnsafeBytes { floats in
            try words.withUnsafeBytes { words in
                try integers.withUnsafeBytes { integers in
                    try writeSafetensors([
                        SafetensorsEntry(name: "floats", dtype: .F32, shape: [2, 3], bytes: floats),
                        SafetensorsEntry(name: "words", dtype: .U64, shape: [4], bytes: words),
                        SafetensorsEntry(name: "integers", dtype: .I64, shape: [1], bytes: integers),
                    ], metadata: ["format": "fuzz-seed"], to: folder + "/three-dtypes.safetensors")
                }
            }
        }
    }

    /// Two animations as vae-render writes them: a looping one of two frames, and one frame
    /// with a loop count of 3 (the NETSCAPE block's repeats after the first play).
    private static func writeGIFSeeds(to folder: String) throws {
        try createFolders(folder, what: "the fuzz seed folder")
        var first = Canvas(width: 8, height: 6)
        first.fillRect(x: 1, y: 1, width: 4, height: 3, index: Palette.maxGray)
        var second = first
        second.fillRect(x: 3, y: 2, width: 5, height: 4, index: Palette.accent)
        let twoFrames = try encodeGIF([GIFFrame(canvas: first, delayCentiseconds: 10),
                                       GIFFrame(canvas: second, delayCentiseconds: 25)])
        try writeFileAtomically(twoFrames, to: folder + "/two-frames.gif")
        let once = try encodeGIF([GIFFrame(canvas: Canvas(width: 3, height: 2, fill: 100), delayCentiseconds: 0)],
                                 loopCount: 3)
        try writeFileAtomically(once, to: folder + "/loop-three-times.gif")
    }
}
