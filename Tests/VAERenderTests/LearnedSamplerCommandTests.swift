import Foundation
import Testing
import TestSupport
import VAECore
import VAERender

// The two-stage and VampPrior samplers through vae-sample.

/// The second stage is fitted afresh from the seed: one thread and two give the same file, and
/// another seed another one.
@Test func twoStageSamplesAreTheSameOnEveryThreadCount() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    var files: [[UInt8]] = []
    for (threads, seed) in [("1", "3"), ("2", "3"), ("2", "4")] {
        let out = folder + "/two-stage-\(threads)-\(seed).idx"
        let result = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--count", "20",
                                                "--sampler", "two-stage", "--seed", seed, "--threads", threads, "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        files.append(try readFile(out))
    }
    expectIdentical(files[0], files[1], "two-stage samples on 1 and 2 threads")
    expectDifferent(files[1], files[2], "another seed fits and draws another sampler")
}

/// --sampler vamp needs a VampPrior run: the fixture's normal prior is refused in one line.
@Test func vampSamplerNeedsAVampPriorRun() throws {
    let out = temporaryFolder() + "/vamp.idx"
    defer { removeTemporaryFolder(out) }
    let result = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--count", "5",
                                            "--sampler", "vamp", "--out", out])
    #expect(result.status == 64, "\(result.stderr)")
    #expect(result.stderr == "vae-sample: --sampler vamp draws from a VampPrior, and this run has the normal prior "
            + "(vae-train --prior vamp makes one)\n")
    #expect(!FileManager.default.fileExists(atPath: out))
}

/// Without --sampler, vae-sample draws what the sampling GIF draws: a VampPrior run's own prior,
/// else the GMM (byte for byte the files of the named sampler, and not those of the other one).
@Test func theDefaultSamplerIsTheRunsOwn() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let vampRun = folder + "/vamp"
    let trained = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", vampRun, "--epochs", "1",
                                            "--hidden", "16", "--latent-dim", "3", "--pseudo-inputs", "10", "--iwae-k", "0"])
    #expect(trained.status == 0, "\(trained.stderr)")
    func sample(_ run: String, _ flags: [String]) throws -> [UInt8] {
        let out = folder + "/samples.idx"
        // The training images only for the samplers fitted to them: --data is refused beside the others.
        let fitted = ["gmm", "gmm-diagonal", "two-stage"].contains(flags.last ?? (run == vampRun ? "vamp" : "gmm"))
        let result = try runTool("vae-sample", ["--run-dir", run, "--count", "8", "--out", out] + flags
                                 + (fitted ? ["--data", syntheticData] : []))
        #expect(result.status == 0, "\(flags): \(result.stderr)")
        return try readFile(out)
    }
    for (run, own, other) in [(vampRun, "vamp", "gmm"), (fixtureRun("latent3"), "gmm", "prior")] {
        let standard = try sample(run, [])
        expectIdentical(standard, try sample(run, ["--sampler", own]), "\(run): the default against --sampler \(own)")
        expectDifferent(standard, try sample(run, ["--sampler", other]), "\(run): --sampler \(other) draws other samples")
    }
    let ignored = try runTool("vae-sample", ["--run-dir", vampRun, "--data", syntheticData, "--count", "8", "--out", folder + "/x.idx"])
    #expect(ignored.status == 64)
    #expect(ignored.stderr == "vae-sample: --data: the vamp sampler, this run's default, reads no training images "
            + "(only gmm, gmm-diagonal and two-stage do)\n", "\(ignored.stderr)")
    let vamp = VAEConfig(hidden: [16], latentDim: 3, prior: .vamp, pseudoInputs: 10)
    #expect(SamplingSource.standard.kind(for: vamp) == .vamp && SamplingSource.standard.kind(for: VAEConfig(hidden: [16], latentDim: 3)) == .gmm)
    #expect(SamplingSource.plane.kind(for: vamp) == nil && SamplingSource.sampler(.prior).kind(for: vamp) == .prior)
}

/// A fitted sampler refuses, in one line naming the flag, a training split too small to fit it:
/// a mixture holds out every tenth point, and a conditional model fits one sampler per class.
@Test func fittedSamplersRefuseTooFewTrainingImages() throws {
    func images(_ labels: [UInt8]) -> ImageSet {
        ImageSet(pixels: [UInt8](repeating: 0, count: labels.count * VAEConfig.inputSize), labels: labels)
    }
    for conditional in [false, true] {
        let model = VAEModel(config: VAEConfig(hidden: [8], latentDim: 2, conditional: conditional))
        var random = Random(seed: 1)
        model.initialize(random: &random)
        let codec = LatentCodec(config: model.config)
        // Ten images of every class but class 3, which has nine.
        let labels = (0..<10).flatMap { c in [UInt8](repeating: UInt8(c), count: c == 3 ? 9 : 10) }
        let (few, enough) = conditional ? (images(labels), images(labels + [3])) : (images(Array(labels.prefix(9))), images(labels))
        for kind in [SamplerKind.gmm, .gmmDiagonal] {
            let scope = conditional ? " of each class" : "", which = conditional ? " of class 3" : ""
            #expect(throws: VAEError(.usage, "--sampler \(kind.rawValue) is fitted to the encoded training images and needs at least "
                                     + "10 images\(scope), but the training split has 9\(which); use --sampler prior")) {
                try makeSampler(kind, model: model, codec: codec, training: few, seed: 0)
            }
            _ = try makeSampler(kind, model: model, codec: codec, training: enough, seed: 0)
        }
        // The second stage fits any number of points but none.
        let none = conditional ? images(labels.filter { $0 != 3 }) : images([])
        let scope = conditional ? " of each class" : "", which = conditional ? " of class 3" : ""
        #expect(throws: VAEError(.usage, "--sampler two-stage is fitted to the encoded training images and needs at least 1 image\(scope), "
                                 + "but the training split has 0\(which); use --sampler prior")) {
            try makeSampler(.twoStage, model: model, codec: codec, training: none, seed: 0)
        }
    }
    // vae-eval --quality has no --sampler: it says which sampler it fits, before its first line.
    let loaded = try readCheckpoint(RunDirectory(fixtureRun("latent3")).checkpoint(epoch: 3))
    var lines: [String] = []
    #expect(throws: VAEError(.usage, "--quality scores the gmm sampler, which is fitted to the encoded training images and needs "
                             + "at least 10 images, but the training split has 9")) {
        try writeQualityTable(loaded, scorer: Classifier(), test: images([0, 1]), training: images(Array(repeating: 0, count: 9)),
                              samples: 10, temperatures: [1], seed: 0) { lines.append($0) }
    }
    #expect(lines.isEmpty)
}
