import Foundation
import Testing
import TestSupport
import VAECore

// vae-train --augment-shift: every batch holds the training images at fresh offsets within the
// limit, reproducibly on any thread count, and the run records the limit.

/// One epoch in a single batch of all 60 images: each row of the batch the model saw is one of
/// them shifted by at most one pixel each way, every image is there once, and the offsets vary.
@Test func shiftedBatchesHoldEachTrainingImageAtAnOffsetWithinTheLimit() throws {
    let images = syntheticImageSet(count: 60, seed: 3)
    let data = KMNIST(train: images, test: syntheticImageSet(count: 10, seed: 4))
    let run = RunConfig(model: VAEConfig(hidden: [16], latentDim: 2, prior: .normal), epochs: 1, batchSize: 60, learningRate: 1e-3,
                        seed: 5, preset: "default", trainImages: 60, testImages: 10, augmentShift: 1)
    let trainer = Trainer(run: run, data: data)
    _ = try trainer.trainEpoch()
    let size = VAEConfig.inputSize
    var found = Set<Int>(), offsets = Set<[Int]>()
    images.pixels.withUnsafeBufferPointer { pixels in
        var shifted = [Float](repeating: 0, count: size)
        for row in 0..<60 {
            let seen = Array(UnsafeBufferPointer(start: trainer.workspace.input + row * size, count: size))
            var matches: [(image: Int, offset: [Int])] = []
            for image in 0..<60 where !found.contains(image) {
                for dy in -1...1 {
                    for dx in -1...1 {
                        loadShifted(pixels.baseAddress! + image * size, into: &shifted, dx: dx, dy: dy)
                        if shifted == seen { matches.append((image, [dx, dy])) }
                    }
                }
            }
            #expect(!matches.isEmpty, "row \(row) is no training image shifted by at most 1 pixel")
            if let first = matches.first {
                found.insert(first.image)
                if matches.count == 1 { offsets.insert(first.offset) }
            }
        }
    }
    #expect(found.count == 60, "every image once")
    #expect(offsets.count >= 5, "offsets drawn afresh: \(offsets.sorted { $0.lexicographicallyPrecedes($1) })")
}

/// Every offset up to 4 pixels moves each pixel by it and fills with 0 exactly what moved in, at
/// every edge: the image, inked everywhere, sits between two images of solid ink, which a read
/// past one of its edges would bring in.
@Test func shiftedImagesFillEveryEdgeWithZero() {
    let size = VAEConfig.inputSize, side = VAEConfig.imageSide
    let image = (0..<size).map { UInt8($0 % 250 + 1) }
    let buffer = [UInt8](repeating: 255, count: size) + image + [UInt8](repeating: 255, count: size)
    var shifted = [Float](repeating: -1, count: size)
    for dy in -4...4 {
        for dx in -4...4 {
            buffer.withUnsafeBufferPointer { loadShifted($0.baseAddress! + size, into: &shifted, dx: dx, dy: dy) }
            let expected = (0..<size).map { i -> Float in
                let y = i / side - dy, x = i % side - dx
                return (0..<side).contains(y) && (0..<side).contains(x) ? intensity(image[y * side + x]) : 0
            }
            #expect(shifted == expected, "dx \(dx), dy \(dy)")
            #expect(shifted.filter { $0 != 0 }.count == (side - abs(dx)) * (side - abs(dy)), "dx \(dx), dy \(dy)")
        }
    }
}

/// A limit of 2 draws all 25 offsets of -2...2 each way, and none beyond.
@Test func randomShiftsCoverEveryOffsetWithinTheLimit() {
    var random = Random(seed: 6)
    var seen = Set<[Int]>()
    for _ in 0..<1_000 {
        let (dx, dy) = randomShift(upTo: 2, random: &random)
        seen.insert([dx, dy])
    }
    #expect(seen == Set((-2...2).flatMap { dx in (-2...2).map { [dx, $0] } }))
}

/// Two epochs with --augment-shift 2 on one thread and on two give the same checkpoint, which
/// records the limit and differs from the same run without it; a run without it writes no key,
/// so its files are what they were before the option.
@Test func shiftAugmentedRunIsReproducibleAndRecorded() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let common = ["--data", syntheticData, "--no-download", "--epochs", "2", "--hidden", "24", "--latent-dim", "4",
                  "--batch-size", "50", "--prior", "normal", "--iwae-k", "0"]
    var checkpoints: [String: [UInt8]] = [:], firstLayers: [String: [Float]] = [:]
    for (name, flags) in [("shift-1", ["--augment-shift", "2", "--threads", "1"]), ("shift-2", ["--augment-shift", "2", "--threads", "2"]),
                          ("plain", ["--threads", "2"])] {
        let result = try runTool("vae-train", common + flags + ["--run-dir", folder + "/" + name])
        #expect(result.status == 0, "\(name): \(result.stderr)")
        #expect(result.stdout.contains("shifted by up to 2 pixels") == (name != "plain"), "\(result.stdout)")
        let path = folder + "/\(name)/checkpoints/epoch-0002.safetensors"
        checkpoints[name] = try readFile(path)
        let file = try readSafetensors(path)
        #expect(file.metadata["augment_shift"] == (name == "plain" ? nil : "2"), "\(name)")
        firstLayers[name] = try file.floats("encoder.hidden.0.weight", shape: [24, 784])
        #expect(try readCheckpoint(path).run.augmentShift == (name == "plain" ? 0 : 2))
    }
    expectIdentical(checkpoints["shift-1"]!, checkpoints["shift-2"]!, "checkpoints of --threads 1 and 2")
    expectDifferent(try #require(firstLayers["shift-1"]), try #require(firstLayers["plain"]), "the shifts changed what the model learnt")
}

/// A shifted run stopped after its first epoch and resumed to the second ends with the files of a
/// run that was never stopped: the limit comes back from the state, the offsets continue the
/// random stream.
@Test func shiftAugmentedRunResumesExactly() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let common = ["--data", syntheticData, "--no-download", "--hidden", "24", "--latent-dim", "4", "--batch-size", "50",
                  "--prior", "normal", "--iwae-k", "0", "--augment-shift", "1"]
    #expect(try runTool("vae-train", common + ["--run-dir", folder + "/straight", "--epochs", "2"]).status == 0)
    #expect(try runTool("vae-train", common + ["--run-dir", folder + "/stopped", "--epochs", "1"]).status == 0)
    // Without the flag: the stored run's limit, not the default's 0.
    let resumed = try runTool("vae-train", ["--resume", folder + "/stopped", "--epochs", "2", "--data", syntheticData, "--no-download"])
    #expect(resumed.status == 0 && resumed.stdout.contains("shifted by up to 1 pixel, "), "\(resumed.stderr)")
    for name in ["checkpoints/epoch-0002.safetensors", "state.safetensors"] {
        expectIdentical(try readFile(folder + "/stopped/" + name), try readFile(folder + "/straight/" + name), name)
    }
}
