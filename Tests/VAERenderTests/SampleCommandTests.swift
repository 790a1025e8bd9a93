import Foundation
import Testing
import TestSupport
import VAECore
import VAERender

// vae-sample, vae-classifier and vae-eval --quality as a user runs them.

@Test func sampleCommandWritesTheDecoderMeansAsIDX() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    for (name, sampler) in [("prior.idx", "prior"), ("gmm.idx.gz", "gmm")] {
        let result = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--count", "7",
                                                "--seed", "5", "--sampler", sampler, "--out", folder + "/" + name])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("7 samples (\(sampler), seed 5) of epoch 3"), "\(result.stdout)")
    }
    let raw = try readFile(folder + "/prior.idx")
    #expect(Array(raw[0..<4]) == [0, 0, 8, 3], "magic 0x00000803, uncompressed")
    let prior = try readIDX(folder + "/prior.idx", magic: idxImagesMagic)
    #expect(prior.dimensions == [7, 28, 28])
    // The same images as the prior sampler, decoded by the final checkpoint, as bytes.
    let fixture = try LoadedFixture("latent3")
    var random = Random(seed: 5)
    let z = PriorSampler(latent: 3).sample(count: 7, random: &random).z
    let expected = fixture.codec.decodeMeans(fixture.replay.final.model, z: z).map { UInt8(($0 * 255).rounded()) }
    expectIdentical(prior.payload, expected, "the prior's samples")

    let gmm = try readFile(folder + "/gmm.idx.gz")
    #expect(Array(gmm[0..<2]) == [0x1f, 0x8b], "gzip for .gz")
    let decoded = try readIDX(folder + "/gmm.idx.gz", magic: idxImagesMagic)
    #expect(decoded.dimensions == [7, 28, 28])
    expectDifferent(decoded.payload, prior.payload, "the GMM's samples against the prior's")
    let again = folder + "/again.idx.gz"
    _ = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--count", "7", "--seed", "5",
                                   "--out", again])
    expectIdentical(try readFile(again), gmm, "gmm is the default, and the same seed gives the same bytes")
}

@Test(arguments: [
    (["--count", "0"], 64, "--count must be between 1 and 1000000, got 0"),
    (["--count", "3", "--epoch", "0"], 64, "--epoch must be at least 1, got 0"),
    (["--count", "3", "--class", "10"], 64, "--class must be a class between 0 and 9, got 10"),
    (["--count", "3", "--sampler", "vamp"], 64, "--sampler"),
    (["--count", "3", "--epoch", "9"], 66, "--epoch 9: "),
    (["--count", "3", "--class", "2"], 64, "--class needs a class-conditional run"),
    (["--count", "3", "--sampler", "prior", "--temperature", "2"], 64, "--temperature applies to the samplers other than prior"),
    (["--count", "3", "--temperature", "0"], 64, "--temperature must be above 0 and at most 10, got 0.0"),
])
func sampleCommandRefusesBadRequests(arguments: [String], status: Int32, message: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/samples.idx"
    let result = try runTool("vae-sample", arguments + ["--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--out", out])
    #expect(result.status == status, "\(result.stderr)")
    #expect(result.stderr.contains(message), "\(result.stderr)")
    #expect(result.stderr.split(separator: "\n").count == 1 || status == 64, "one line: \(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: out))
}

@Test func sampleCommandNamesAMissingRun() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool("vae-sample", ["--run-dir", "/nonexistent/run", "--count", "3", "--out", scratch + "/x.idx"])
    #expect(result.status == 66)
    #expect(result.stderr == "vae-sample: the run folder /nonexistent/run does not exist\n")
}

@Test func classifierAndQualityCommands() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let path = scratch + "/classifier.safetensors"
    let trained = try runTool("vae-classifier", ["--data", syntheticData, "--epochs", "2", "--out", path])
    #expect(trained.status == 0, "\(trained.stderr)")
    #expect(trained.stdout.contains("epoch 2/2: cross-entropy") && trained.stdout.contains("test accuracy"), "\(trained.stdout)")
    let metadata = try readSafetensors(path).metadata
    #expect(metadata["format"] == classifierFormat && metadata["test_images"] == "100" && Double(metadata["test_accuracy"]!) != nil)

    let checkpoint = fixtureRun("latent3") + "/checkpoints/epoch-0003.safetensors"
    let result = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--quality", "--classifier", path,
                                          "--quality-samples", "300"])
    #expect(result.status == 0, "\(result.stderr)")
    let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| images") && !$0.hasPrefix("| ---") }
    // Test and training images, reconstructions, the prior, each GMM and the two-stage sampler at temperatures 1 and the
    // GIF's, the GIF's cells.
    #expect(rows.count == 11, "\(result.stdout)")
    // 100 test images are too few for an FD of 128 features half to half, 600 training images are not.
    #expect(rows[0].hasPrefix("| test images (FD to test: first half to second half) | 100 |") && rows[0].contains("| – | "),
            "\(rows[0])")
    #expect(rows[1].hasPrefix("| training images (what the model and the classifier learned from; FD to training: half to half) | 600 |")
            && !rows[1].contains("–"), "\(rows[1])")
    #expect(rows.filter { $0.contains("(the GIF's sampler)") }.count == 1)
    #expect(rows.contains { $0.contains("gmm samples") && $0.contains("temperature \(defaultSamplingTemperature) (the GIF's sampler) | 300 |") })
    #expect(rows.last!.hasPrefix("| the sampling GIF's cells | 25 |") && rows.last!.hasSuffix("| – | – |"), "\(rows.last!)")
    // Both distances of a sampler's row are numbers.
    let samplerDistances = rows.filter { $0.contains("samples") }.map { $0.split(separator: "|").suffix(2) }
    #expect(samplerDistances.allSatisfy { $0.allSatisfy { Double($0.trimmingCharacters(in: .whitespaces)) != nil } },
            "\(result.stdout)")
    #expect(samplerDistances.contains { $0.first != $0.last }, "two references, two distances: \(result.stdout)")

    let refused = try runTool("vae-eval", [checkpoint, "--quality"])
    #expect(refused.status == 64 && refused.stderr.contains("--quality and --classifier go together"))
}
