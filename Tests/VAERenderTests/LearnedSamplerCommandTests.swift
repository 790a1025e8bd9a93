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
    var files: [[UInt8]] = []
    for (threads, seed) in [("1", "3"), ("2", "3"), ("2", "4")] {
        let out = folder + "/two-stage-\(threads)-\(seed).idx"
        let result = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--count", "20",
                                                "--sampler", "two-stage", "--seed", seed, "--threads", threads, "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        files.append(try readFile(out))
    }
    expectIdentical(files[0], files[1], "two-stage samples on 1 and 2 threads")
    #expect(files[1] != files[2], "another seed fits and draws another sampler")
}

/// --sampler vamp needs a VampPrior run: the fixture's normal prior is refused in one line.
@Test func vampSamplerNeedsAVampPriorRun() throws {
    let out = temporaryFolder() + "/vamp.idx"
    let result = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--count", "5",
                                            "--sampler", "vamp", "--out", out])
    #expect(result.status == 64, "\(result.stderr)")
    #expect(result.stderr == "vae-sample: --sampler vamp draws from a VampPrior, and this run has the normal prior "
            + "(vae-train --prior vamp makes one)\n")
    #expect(!FileManager.default.fileExists(atPath: out))
}
