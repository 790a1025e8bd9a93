import Foundation
import Testing
import TestSupport
import VAECore

// Runs with a VampPrior and the importance-weighted objective: reproducible on any thread
// count, resumed exactly, recorded in the checkpoint and the state, and refused where they
// cannot work.

private let vampIWAEFlags = ["--prior", "vamp", "--pseudo-inputs", "6", "--objective", "iwae", "--train-k", "3"]

/// Two epochs on one thread and on two give the same checkpoints (the final IWAE estimate with
/// the VampPrior's density included); the checkpoint holds the pseudo-inputs as a tensor and the
/// configuration in its metadata, and the first run's state carries Adam's moments for them.
@Test func vampPriorIWAERunIsReproducibleOnAnyThreadCount() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    var checkpoints: [[UInt8]] = []
    for threads in ["1", "2"] {
        let result = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder + "/" + threads,
                                               "--epochs", "2", "--hidden", "24", "--latent-dim", "4", "--batch-size", "50",
                                               "--threads", threads, "--iwae-k", "20"] + vampIWAEFlags)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("VampPrior with 6 pseudo-inputs, importance-weighted bound with k=3"), "\(result.stdout)")
        checkpoints.append(try readFile(folder + "/\(threads)/checkpoints/epoch-0002.safetensors"))
    }
    expectIdentical(checkpoints[0], checkpoints[1], "checkpoints of --threads 1 and 2")

    let checkpoint = try readCheckpoint(folder + "/1/checkpoints/epoch-0002.safetensors")
    #expect(checkpoint.run.model.prior == .vamp && checkpoint.run.model.pseudoInputs == 6)
    #expect(checkpoint.run.objective == .iwae && checkpoint.run.trainSamples == 3)
    let file = try readSafetensors(folder + "/1/checkpoints/epoch-0002.safetensors")
    #expect(file.metadata["prior"] == "vamp" && file.metadata["pseudo_inputs"] == "6")
    #expect(file.metadata["objective"] == "iwae" && file.metadata["train_k"] == "3")
    let pseudoInputs = try file.floats("prior.pseudo_inputs", shape: [6, 784])
    // Training moved them away from the training images they started as, which are multiples of 1/255.
    #expect(pseudoInputs.contains { ($0 * 255 - ($0 * 255).rounded()).magnitude > 1e-3 })

    let state = try readTrainingState(folder + "/1/state.safetensors")
    let layout = ParameterLayout(checkpoint.run.model)
    #expect(state.m.count == layout.count && layout.pseudoInputsOffset + 6 * 784 == layout.count)
    #expect(state.v[layout.pseudoInputsOffset...].contains { $0 > 0 }, "Adam's second moments of the pseudo-inputs")
}

/// A run of the normal prior and the ELBO writes none of the new keys, so its files are what
/// they were before the options existed: --prior normal, the other presets, and --conditional
/// alone. The default preset learns a VampPrior of 500 pseudo-inputs.
@Test func theDefaultPresetAloneLearnsAVampPrior() throws {
    for (flags, prior) in [(["--prior", "normal"], nil), (["--preset", "pytorch-example"], nil), (["--preset", "conv"], nil),
                           (["--conditional"], nil), ([], "vamp")] as [([String], String?)] {
        let folder = temporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let result = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder, "--epochs", "1",
                                               "--hidden", "16", "--latent-dim", "2", "--iwae-k", "0"] + flags)
        #expect(result.status == 0, "\(flags): \(result.stderr)")
        for path in [folder + "/checkpoints/epoch-0001.safetensors", folder + "/state.safetensors"] {
            let metadata = try readSafetensors(path).metadata
            #expect(metadata["prior"] == prior && metadata["pseudo_inputs"] == prior.map { _ in "500" }, "\(flags): \(path)")
            #expect(metadata["objective"] == nil && metadata["train_k"] == nil, "\(flags): \(path)")
        }
    }
}

/// A VampPrior run trained on the importance-weighted bound, stopped after its first epoch and
/// resumed to the third, ends with the files of a run that was never stopped: the pseudo-inputs,
/// their Adam moments and the random stream all continue. A flag that would change its prior or
/// objective is refused when resuming.
@Test func vampPriorIWAERunResumesExactly() throws {
    let common = ["--data", syntheticData, "--no-download", "--hidden", "24", "--latent-dim", "4", "--batch-size", "50",
                  "--threads", "2"] + vampIWAEFlags
    let straight = temporaryFolder() + "/straight", stopped = temporaryFolder() + "/stopped"
    defer {
        removeTemporaryFolder(straight)
        removeTemporaryFolder(stopped)
    }
    #expect(try runTool("vae-train", common + ["--run-dir", straight, "--epochs", "3"]).status == 0)
    #expect(try runTool("vae-train", common + ["--run-dir", stopped, "--epochs", "1"]).status == 0)
    let state = RunDirectory(stopped).statePath
    for (flags, message) in [
        (["--pseudo-inputs", "7"], "--pseudo-inputs cannot change when resuming: \(state) has pseudo_inputs 6, --pseudo-inputs asks for 7"),
        (["--train-k", "2"], "--train-k cannot change when resuming: \(state) has train_k 3, --train-k asks for 2"),
        (["--objective", "elbo"], "--objective cannot change when resuming: \(state) has objective iwae, --objective asks for elbo"),
    ] {
        let refused = try runTool("vae-train", ["--resume", stopped, "--epochs", "3", "--data", "/nonexistent"] + flags)
        #expect(refused.status == 64 && refused.stderr == "vae-train: \(message)\n", "\(flags): \(refused.stderr)")
    }
    let resumed = try runTool("vae-train", ["--resume", stopped, "--epochs", "3"] + common)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    for name in ["checkpoints/epoch-0003.safetensors", "state.safetensors"] {
        expectIdentical(try readFile(stopped + "/" + name), try readFile(straight + "/" + name), name)
    }
}

/// The pseudo-inputs start as distinct training images, so there cannot be more of them.
@Test func morePseudoInputsThanTrainingImagesAreRefused() throws {
    let folder = temporaryFolder() + "/run"
    defer { removeTemporaryFolder(folder) }
    let result = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder, "--prior", "vamp",
                                           "--pseudo-inputs", "601"])
    #expect(result.status == 64)
    #expect(result.stderr == "vae-train: --pseudo-inputs 601 is more than the 600 training images they start from; "
                           + "pass --pseudo-inputs 600 or fewer, or --prior normal\n")
    #expect(!FileManager.default.fileExists(atPath: folder))
    // As many as there are is the most, and trains.
    let most = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder, "--prior", "vamp",
                                         "--pseudo-inputs", "600", "--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--iwae-k", "0"])
    #expect(most.status == 0, "\(most.stderr)")
}

/// Each of an image's k draws in an importance-weighted step has noise of its own: after an
/// epoch of whole batches, the last batch's k·latent values per image are all fresh draws (none
/// left at the workspace's initial zeros), and the k draws of an image differ.
@Test func importanceWeightedStepsDrawNoiseForEverySample() throws {
    let data = KMNIST(train: syntheticImageSet(count: 100, seed: 7), test: syntheticImageSet(count: 10, seed: 8))
    let run = RunConfig(model: VAEConfig(hidden: [16], latentDim: 4), epochs: 1, batchSize: 50, learningRate: 1e-3, seed: 2,
                        preset: "default", trainImages: 100, testImages: 10, objective: .iwae, trainSamples: 3)
    let trainer = Trainer(run: run, data: data)
    _ = try trainer.trainEpoch()
    let eps = Array(UnsafeBufferPointer(start: trainer.workspace.eps, count: 50 * 3 * 4))
    #expect(!eps.contains(0), "noise for all 150 draws of the last batch")
    #expect(eps[0..<4] != eps[4..<8] && eps[4..<8] != eps[8..<12], "an image's draws differ")
}
