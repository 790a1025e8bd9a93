import Foundation
import Testing
import TestSupport
import VAECore
@testable import VAERender
import VAETesting

// Reading a run back: what is refused, with which message, and what is accepted.

private func everything(_ run: String, data: String = syntheticData) -> RenderRequest {
    RenderRequest(runDirectory: run, dataFolder: data, interpolation: InterpolationOptions(steps: 2),
                  sampling: SamplingOptions(grid: 2, source: .plane), reconstruction: ReconstructionOptions(indices: [0, 1]),
                  style: FrameStyle(scale: 1))
}

private func truncate(_ path: String) throws {
    let bytes = try readFile(path)
    try writeFileAtomically(Array(bytes.prefix(bytes.count / 2)), to: path)
}

@Test func aMissingRunFolderIsNamed() {
    expectVAEError(.missingInput, containing: ["the run folder /nonexistent/run does not exist"]) {
        _ = try RunReplay(runDirectory: "/nonexistent/run")
    }
}

@Test func aRunWithoutCheckpointsIsNamed() throws {
    let run = try copyOfFixtureRun("latent2", epochs: [])
    defer { removeTemporaryFolder(run.path) }
    expectVAEError(.missingInput, containing: ["\(run.checkpointsFolder) holds no checkpoints", "vae-train"]) {
        _ = try RunReplay(runDirectory: run.path)
    }
    // A file where the folder belongs is damage, not a run to train first.
    rmdir(run.checkpointsFolder)
    write([1], to: run.checkpointsFolder)
    expectVAEError(.badData, containing: ["\(run.checkpointsFolder) is not a folder, where the run keeps its checkpoints"]) {
        _ = try RunReplay(runDirectory: run.path)
    }
    // A folder that cannot be listed is not an empty one: its reason is given (here a link to
    // itself; a folder of another user's without read permission takes the same path, which
    // tests running as root cannot show).
    unlink(run.checkpointsFolder)
    #expect(symlink("checkpoints", run.checkpointsFolder) == 0)
    expectVAEError(.missingInput, containing: ["cannot read \(run.checkpointsFolder): Too many levels of symbolic links"]) {
        _ = try RunReplay(runDirectory: run.path)
    }
}

/// A run that has not completed its first epoch (a trainer in it, or stopped in it, as here) is
/// told as such, with how to continue it, where vae-render read it as never trained (the GIFs)
/// or as a file it could not open (the loss curve); a --compare folder that is not there is told
/// as --run-dir's is.
@Test func aRunInItsFirstEpochIsToldAsSuch() throws {
    let data = try KMNIST.load(from: syntheticData)
    let run = RunConfig(model: VAEConfig(hidden: [8], latentDim: 2), epochs: 1, batchSize: 50, learningRate: 1e-3, seed: 4,
                        preset: "test", trainImages: data.train.count, testImages: data.test.count)
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let directory = RunDirectory(scratch + "/run")
    #expect(throws: VAEError.self) { try train(run, data: data, directory: directory, mode: .fresh, shouldStop: { true }) }
    #expect(directory.isInItsFirstEpoch && directory.checkpointEpochs().isEmpty)
    let advice = " yet: the run has not completed its first epoch (a trainer is in it; or it was stopped, and "
        + "vae-train --resume \(directory.path) continues it; or it diverged, and needs --overwrite with what that error advised)\n"
    let gifs = try runTool("vae-render", ["--all", "--run-dir", directory.path, "--data", syntheticData, "--out", scratch + "/out"])
    #expect(gifs.status == 66 && gifs.stderr == "vae-render: \(directory.checkpointsFolder) holds no checkpoints "
            + "(epoch-NNNN.safetensors)" + advice, "\(gifs.stderr)")
    let curve = try runTool("vae-render", ["--loss-curve", "--run-dir", directory.path, "--out", scratch + "/out"])
    #expect(curve.status == 66 && curve.stderr == "vae-render: \(directory.metricsPath) does not exist" + advice, "\(curve.stderr)")
    #expect(!FileManager.default.fileExists(atPath: scratch + "/out"))
    // A run that diverged in its first epoch is told by its record.
    var diverging = run
    diverging.learningRate = 1e30
    #expect(throws: VAEError.self) { try train(diverging, data: data, directory: directory, mode: .fresh) }
    let divergence = try #require(try directory.recordedDivergence())
    #expect(divergence.hasPrefix("training diverged in epoch 1"))
    let diverged = try runTool("vae-render", ["--all", "--run-dir", directory.path, "--data", syntheticData, "--out", scratch + "/out"])
    #expect(diverged.status == 66 && diverged.stderr == "vae-render: \(directory.checkpointsFolder) holds no checkpoints "
            + "(epoch-NNNN.safetensors): \(directory.path)/diverged records that \(divergence)\n", "\(diverged.stderr)")
    // Not said of a run never started, or of a folder that is not there.
    let never = RunDirectory(scratch + "/never")
    try FileManager.default.createDirectory(atPath: never.checkpointsFolder, withIntermediateDirectories: true)
    #expect(!never.isInItsFirstEpoch && never.untrainedAdvice == "; train the run with vae-train first")
    let trained = RunDirectory(scratch + "/trained")
    try train(run, data: data, directory: trained, mode: .fresh)
    let compared = try runTool("vae-render", ["--loss-curve", "--run-dir", trained.path, "--compare", scratch + "/none",
                                              "--out", scratch + "/out"])
    #expect(compared.status == 66 && compared.stderr == "vae-render: the run folder \(scratch)/none does not exist\n", "\(compared.stderr)")
}

/// A checkpoint, a run file or (to the library) the checkpoints folder given for the run folder:
/// the message names the run folder meant. The tools read a run's checkpoints folder as the run.
@Test func aPathInsideARunNamesTheRunFolder() throws {
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    let meant = " (did you mean the run folder \(run.path)?)"
    expectVAEError(.missingInput, containing: ["\(run.checkpoint(epoch: 2)) is a file, not a run folder" + meant]) {
        _ = try RunReplay(runDirectory: run.checkpoint(epoch: 2))
    }
    write([1], to: run.metricsPath)
    expectVAEError(.missingInput, containing: ["\(run.metricsPath) is a file, not a run folder" + meant]) {
        _ = try RunReplay(runDirectory: run.metricsPath)
    }
    let inside = RunDirectory(run.checkpointsFolder)
    let error = #expect(throws: VAEError.self) { _ = try RunReplay(runDirectory: inside.path) }
    #expect(error?.message == "\(inside.checkpointsFolder) does not exist" + meant)
    #expect(RunDirectory(run.path).enclosingRunHint == "" && RunDirectory("/").enclosingRunHint == "")
    // Named from inside the run folder, the run folder is "."; from inside its checkpoints, "..".
    #expect(RunDirectory(".").enclosingRunHint == "" && RunDirectory("/").enclosingRunHint == "")
    let fromRun = try runTool("vae-sample", ["--run-dir", run.path, "--count", "2", "--out", run.path + "/run.idx"],
                              environment: ["KMNIST_DIR": syntheticData])
    #expect(fromRun.status == 0)
    // A link to the checkpoints folder reads the run the link leads into; a run folder that is
    // named "checkpoints" is read as itself.
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    try FileManager.default.createSymbolicLink(atPath: scratch + "/link", withDestinationPath: run.checkpointsFolder)
    try FileManager.default.createDirectory(atPath: scratch + "/nest", withIntermediateDirectories: false)
    try FileManager.default.copyItem(atPath: run.path, toPath: scratch + "/nest/checkpoints")
    let realRun = URL(fileURLWithPath: run.path).resolvingSymlinksInPath().path
    for (runDir, folder, read) in [(".", run.checkpointsFolder, ".."), (run.checkpointsFolder + "/.", run.path, run.path),
                                   (scratch + "/link", run.path, realRun),
                                   (scratch + "/nest/checkpoints", run.path, scratch + "/nest/checkpoints")] {
        let result = try runTool("vae-sample", ["--run-dir", runDir, "--count", "2", "--out", scratch + "/x.idx"],
                                 environment: ["KMNIST_DIR": syntheticData], workingDirectory: folder)
        #expect(result.status == 0 && result.stdout.hasSuffix(" of epoch 3 of \(read)\n"), "--run-dir \(runDir): \(result)")
        #expect(try readFile(scratch + "/x.idx") == readFile(run.path + "/run.idx"), "--run-dir \(runDir)")
    }
    // vae-render, for --run-dir (a trailing slash too) and --compare: the run above, whose checkpoints
    // the GIF replays and whose curve is the run's own.
    let render = try runTool("vae-render", ["--sampling", "--run-dir", run.checkpointsFolder + "/", "--data", syntheticData,
                                            "--out", run.path + "/out"])
    let renderRun = try runTool("vae-render", ["--sampling", "--run-dir", run.path, "--data", syntheticData, "--out", run.path + "/out-run"])
    #expect(render.status == 0 && renderRun.status == 0, "\(render) \(renderRun)")
    #expect(try readFile(run.path + "/out/sampling.gif") == readFile(run.path + "/out-run/sampling.gif"))
    let compared = try runTool("vae-render", ["--loss-curve", "--run-dir", run.path, "--compare", run.checkpointsFolder,
                                              "--out", run.path + "/out"])
    #expect(compared.status == 64 && compared.stderr.hasPrefix("vae-render: --compare \(run.path) is on the loss curve already"),
            "\(compared.stderr)")
    let comparedHere = try runTool("vae-render", ["--loss-curve", "--run-dir", run.path, "--compare", ".", "--out", run.path + "/out"],
                                   workingDirectory: run.checkpointsFolder)
    #expect(comparedHere.status == 64 && comparedHere.stderr.hasPrefix("vae-render: --compare .. is on the loss curve already"),
            "\(comparedHere.stderr)")
    // A folder of checkpoints outside a run (a copy) is no run for them.
    let copy = run.path + "-copy"
    try FileManager.default.copyItem(atPath: run.checkpointsFolder, toPath: copy)
    defer { removeTemporaryFolder(copy) }
    let fromCopy = try runTool("vae-sample", ["--run-dir", copy, "--count", "1", "--out", run.path + "/z.idx"])
    #expect(fromCopy.status == 66 && fromCopy.stderr.contains("\(copy) is not a run folder: it holds checkpoints itself"),
            "\(fromCopy.stderr)")
    for inside in ["checkpoints/epoch-0002.safetensors", "metrics.jsonl"] {
        let result = try runTool("vae-sample", ["--run-dir", inside, "--count", "1", "--out", "x.idx"], workingDirectory: run.path)
        #expect(result.status == 66)
        #expect(result.stderr == "vae-sample: \(inside) is a file, not a run folder (did you mean the run folder .?)\n", "\(result.stderr)")
    }
}

/// A folder that is no run's (no checkpoints/, no run started in it, other files) is told as
/// such, and a copy of a checkpoints folder as a folder of checkpoints, not a run folder.
@Test func aFolderThatIsNoRunIsToldAsSuch() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    write([1], to: scratch + "/notes.txt")
    expectVAEError(.missingInput, containing: ["\(scratch) is not a run folder: it holds notes.txt, and no checkpoints/ folder; "
                                               + "name the folder vae-train --run-dir wrote"]) {
        _ = try RunReplay(runDirectory: scratch)
    }
    let copy = scratch + "/copy"
    try FileManager.default.copyItem(atPath: run.checkpointsFolder, toPath: copy)
    let render = try runTool("vae-render", ["--sampling", "--run-dir", copy, "--data", syntheticData, "--out", scratch + "/out"])
    #expect(render.status == 66 && render.stderr == "vae-render: \(copy) is not a run folder: it holds checkpoints itself, where a run "
            + "keeps them in \(copy)/checkpoints; name the folder vae-train --run-dir wrote\n", "\(render.stderr)")
    // An empty folder is still a run not yet trained, and told that it has no checkpoints folder.
    try FileManager.default.createDirectory(atPath: scratch + "/empty", withIntermediateDirectories: false)
    expectVAEError(.missingInput, containing: ["\(scratch)/empty/checkpoints does not exist; train the run with vae-train first"]) {
        _ = try RunReplay(runDirectory: scratch + "/empty")
    }
}

@Test(arguments: [2, 3])
func aCorruptCheckpointIsNamed(epoch: Int) throws {
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    try truncate(run.checkpoint(epoch: epoch))
    expectVAEError(.badData, containing: [run.checkpoint(epoch: epoch) + ": the file is cut short"]) {
        _ = try renderAnimations(everything(run.path))
    }
}

@Test func checkpointsOfAnotherConfigurationAreRefusedNamingTheOddFile() throws {
    let run = try copyOfFixtureRun("latent2", epochs: [1, 3])
    defer { removeTemporaryFolder(run.path) }
    try FileManager.default.copyItem(atPath: RunDirectory(fixtureRun("latent3")).checkpoint(epoch: 2), toPath: run.checkpoint(epoch: 2))
    expectVAEError(.badData, containing: [
        "\(run.checkpoint(epoch: 2)) comes from a different configuration than \(run.checkpoint(epoch: 1)): latent_dim 3 instead of 2",
    ]) {
        _ = try renderAnimations(everything(run.path))
    }
}

@Test func aCheckpointNamedForAnotherEpochIsRefused() throws {
    let run = try copyOfFixtureRun("latent2", epochs: [1, 2])
    defer { removeTemporaryFolder(run.path) }
    try FileManager.default.copyItem(atPath: RunDirectory(fixtureRun("latent2")).checkpoint(epoch: 3), toPath: run.checkpoint(epoch: 4))
    expectVAEError(.badData, containing: ["\(run.checkpoint(epoch: 4)) holds epoch 3, not the epoch 4 its name says"]) {
        _ = try RunReplay(runDirectory: run.path)
    }
}

@Test func testDataOfAnotherSizeIsRefused() throws {
    let data = temporaryFolder()
    defer { removeTemporaryFolder(data) }
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let side = VAEConfig.imageSide
    try writeFileAtomically(encodeIDX(magic: idxImagesMagic, dimensions: [50, side, side], payload: Array(test.pixels.prefix(50 * side * side))),
                            to: data + "/t10k-images-idx3-ubyte")
    try writeFileAtomically(encodeIDX(magic: idxLabelsMagic, dimensions: [50], payload: Array(test.labels.prefix(50))),
                            to: data + "/t10k-labels-idx1-ubyte")
    expectVAEError(.usage, containing: ["was trained with 100 test images, but \(data)/t10k-images-idx3-ubyte holds 50", "--data"]) {
        _ = try renderAnimations(everything(fixtureRun("latent2"), data: data))
    }
    unlink(data + "/t10k-labels-idx1-ubyte")
    expectVAEError(.missingInput, containing: ["KMNIST test files missing in \(data): t10k-labels-idx1-ubyte.gz; point --data"]) {
        _ = try renderAnimations(everything(fixtureRun("latent2"), data: data))
    }
    let error = #expect(throws: VAEError.self) { _ = try renderAnimations(everything(fixtureRun("latent2"), data: data + "/none")) }
    #expect(error?.kind == .missingInput
            && error?.message == "the data folder \(data)/none does not exist; point --data or KMNIST_DIR at the folder the run was trained on")
}

/// The fitted samplers need the training split; a folder without it is named with the fix.
@Test func aFittedSamplerWithoutTheTrainingImagesNamesTheMissingFiles() throws {
    let data = temporaryFolder()
    defer { removeTemporaryFolder(data) }
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
        try FileManager.default.createSymbolicLink(atPath: data + "/" + name + ".gz", withDestinationPath: syntheticData + "/" + name + ".gz")
    }
    let run = try RunReplay(runDirectory: fixtureRun("latent2")).run
    #expect(try loadTrainingImages(from: data, for: run).count == run.trainImages)
    var larger = run
    larger.trainImages += 1
    #expect(throws: VAEError(.usage, "the run was trained with \(run.trainImages + 1) training images, but "
                             + "\(data)/train-images-idx3-ubyte.gz holds \(run.trainImages); pass the --data folder the run was trained on")) {
        try loadTrainingImages(from: data, for: larger)
    }
    try FileManager.default.removeItem(atPath: data + "/train-images-idx3-ubyte.gz")
    try FileManager.default.removeItem(atPath: data + "/t10k-labels-idx1-ubyte.gz")
    expectVAEError(.missingInput, containing: ["KMNIST training files missing in \(data): train-images-idx3-ubyte.gz; "
                                               + "the gmm, gmm-diagonal and two-stage samplers are fitted to the encoded training images"]) {
        _ = try loadTrainingImages(from: data, for: run)
    }
    expectVAEError(.missingInput, containing: ["KMNIST test files missing in \(data): t10k-labels-idx1-ubyte.gz; point --data"]) {
        _ = try KMNIST.loadTestImages(from: data)
    }
}

@Test func indicesOutsideTheTestSetAreRefusedNamingTheFlag() {
    var request = everything(fixtureRun("latent2"))
    request.reconstruction = ReconstructionOptions(indices: [3, 100])
    expectVAEError(.usage, containing: ["--indices: image 100 is outside the test set, which has 100 images (0...99)"]) {
        _ = try renderAnimations(request)
    }
    request = everything(fixtureRun("latent2"))
    request.interpolation = InterpolationOptions(pairs: [ImagePair(a: 250, b: 1)])
    expectVAEError(.usage, containing: ["--pairs: image 250 is outside the test set"]) {
        _ = try renderAnimations(request)
    }
}

@Test func oneCheckpointIsEnough() throws {
    let run = try copyOfFixtureRun("latent3", epochs: [1])
    defer { removeTemporaryFolder(run.path) }
    let gifs = try renderAnimations(everything(run.path))
    #expect(gifs.map(\.animation) == [.interpolation, .sampling, .reconstruction])
    let decoded = try gifs.map { try decodeGIF($0.bytes) }
    #expect(decoded.map(\.frames.count) == [4, 1, 1])
    #expect(decoded[1].frames[0].delayCentiseconds == FrameStyle().hold, "a lone frame is the last one, so it is held")
    #expect(gifs.map(\.frameCount) == [4, 1, 1])
    #expect(zip(gifs, decoded).allSatisfy { $0.width == $1.width && $0.height == $1.height })
}

/// A run that stopped short of its plan (checkpoints 1 and 2 of 3: still training, or stopped) is
/// captioned with its plan, "epoch 2/3": its frames are the whole run's first two, in the GIFs
/// whose frames do not depend on the final model (a 2-D latent's plane is the prior's).
@Test func aRunShortOfItsPlanIsCaptionedWithThePlan() throws {
    let run = try copyOfFixtureRun("latent2", epochs: [1, 2])
    defer { removeTemporaryFolder(run.path) }
    func frames(_ folder: String) throws -> [[[UInt8]]] {
        let request = RenderRequest(runDirectory: folder, dataFolder: syntheticData, sampling: SamplingOptions(grid: 2, source: .plane),
                                    reconstruction: ReconstructionOptions(indices: [0, 1]), style: FrameStyle(scale: 1, tolerance: 0))
        return try renderAnimations(request).map { try decodeGIF($0.bytes).frames.map(\.indices) }
    }
    let short = try frames(run.path), whole = try frames(fixtureRun("latent2"))
    #expect(short.map(\.count) == [2, 2] && whole.map(\.count) == [3, 3])
    for (gif, (shortFrames, wholeFrames)) in zip(["sampling", "reconstruction"], zip(short, whole)) {
        #expect(shortFrames == Array(wholeFrames.prefix(2)), "\(gif).gif")
    }
}

/// A checkpoint deleted from the middle of a run is skipped, and the report says it is missing.
@Test func aMissingMiddleCheckpointIsCounted() throws {
    let run = try copyOfFixtureRun("latent3")
    defer { removeTemporaryFolder(run.path) }
    try FileManager.default.removeItem(atPath: run.checkpoint(epoch: 2))
    let replay = try RunReplay(runDirectory: run.path)
    #expect(replay.epochs == [1, 3])
    #expect(replay.epochsFound() == "epochs 1-3 of 3 planned, no checkpoint of epoch 2")
    #expect(replay.epochsFound(finalOnly: true) == "epoch 3 of 3 planned")
    #expect(try RunReplay(runDirectory: fixtureRun("latent3")).epochsFound() == "epochs 1-3 of 3 planned")
    try FileManager.default.removeItem(atPath: run.checkpoint(epoch: 1))
    #expect(try RunReplay(runDirectory: run.path).epochsFound() == "epoch 3 of 3 planned, no checkpoint of epochs 1 and 2")
}

@Test func aResumedRunWithMoreEpochsReplaysAgainstItsNewPlan() throws {
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    let last = try readCheckpoint(run.checkpoint(epoch: 3))
    var extended = last.run
    extended.epochs = 5
    try writeCheckpoint(last.model, run: extended,
                        metrics: EpochMetrics(epoch: 4, train: LossTerms(), test: LossTerms(), seconds: 0, imagesPerSecond: 0),
                        to: run.checkpoint(epoch: 4))
    let replay = try RunReplay(runDirectory: run.path)
    #expect(replay.epochs == [1, 2, 3, 4])
    #expect(replay.run.epochs == 5)
}

/// `--frames n` replays n checkpoints of a longer run: the first, the last and those nearest to
/// evenly spaced in log time between, each frame exactly the full replay's of its epoch (at
/// tolerance 0), paced by the epochs it stands for; the report says how many of how many, and
/// the final-model GIFs are as before.
@Test func framesThinsTheCheckpointsEvenlyInLogTime() throws {
    let seven = [1, 2, 3, 4, 5, 6, 7]
    // 3 of 7: targets e^0, e^(ln 7 / 2) = 2.65 (3 is nearer in log than 2), 7.
    #expect(spacedInLogTime(seven, atMost: 3) == [1, 3, 7])
    // 4 of 7: targets 1, 1.91, 3.66 (4 nearer than 3), 7.
    #expect(spacedInLogTime(seven, atMost: 4) == [1, 2, 4, 7])
    #expect(spacedInLogTime(seven, atMost: 2) == [1, 7])
    #expect(spacedInLogTime(seven, atMost: 7) == seven)
    #expect(spacedInLogTime([1, 2, 3], atMost: 100) == [1, 2, 3])
    // 10 of 30: targets 1, 1.46, 2.13, 3.12, 4.56, 6.66, 9.74, 14.2, 20.8, 30; an epoch once picked
    // is not picked again (1.46 takes 2, so 2.13 takes 3).
    #expect(spacedInLogTime(Array(1...30), atMost: 10) == [1, 2, 3, 4, 5, 7, 10, 14, 21, 30])
    // Checkpoints missing, or a first one after epoch 1: targets among the epochs there are.
    #expect(spacedInLogTime([1, 2, 5, 9, 30], atMost: 3) == [1, 5, 30])
    #expect(spacedInLogTime(Array(3...12), atMost: 3) == [3, 6, 12])
    // A pick leaves room for those to come: of 1, 2, 3, 4, 100 the target 4.64 is nearest 4, but
    // 4 would leave only 100 for the targets 21.5 and 100; it takes 3.
    #expect(spacedInLogTime([1, 2, 3, 4, 100], atMost: 4) == [1, 3, 4, 100])
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let run = scratch + "/run"
    let trained = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", run, "--epochs", "7",
                                            "--hidden", "8", "--latent-dim", "2", "--prior", "normal", "--iwae-k", "0"])
    try #require(trained.status == 0, "\(trained.stderr)")
    let flags = ["--run-dir", run, "--data", syntheticData, "--reconstruction", "--interpolation", "--indices", "0,1",
                 "--pairs", "0:1", "--steps", "2", "--tolerance", "0"]
    let full = try runTool("vae-render", flags + ["--out", scratch + "/full"])
    let thinned = try runTool("vae-render", flags + ["--out", scratch + "/thinned", "--frames", "3"])
    try #require(full.status == 0 && thinned.status == 0, "\(full.stderr)\(thinned.stderr)")
    let every = try decodeGIF(readFile(scratch + "/full/reconstruction.gif")).frames
    let three = try decodeGIF(readFile(scratch + "/thinned/reconstruction.gif")).frames
    try #require(every.count == 7 && three.count == 3)
    #expect(three.map(\.indices) == [0, 2, 6].map { every[$0].indices })
    // Epoch 1 stands for epochs 1-3 (80 x log2(3/1) = 126.8), epoch 3 for 80 x log2(7/3) = 97.8.
    #expect(three.map(\.delayCentiseconds) == [127, 98, FrameStyle().hold])
    #expect(every.map(\.delayCentiseconds) == [80, 47, 33, 26, 21, 18, FrameStyle().hold])
    #expect(thinned.stdout.contains("reconstruction.gif: 3 frames (epochs 1, 3 and 7 of the 7 checkpoints of epochs 1-7 of 7 planned), "),
            "\(thinned.stdout)")
    #expect(thinned.stdout.contains("interpolation.gif: 4 frames (epoch 7 of 7 planned), "), "\(thinned.stdout)")
    #expect(try readFile(scratch + "/thinned/interpolation.gif") == readFile(scratch + "/full/interpolation.gif"))
    // Six frames are all named, not cut short to "and 2 more" as lists of missing checkpoints are.
    let six = try RunReplay(runDirectory: run, frames: 6)
    #expect(six.epochs == [1, 2, 3, 4, 5, 7])
    #expect(six.epochsFound() == "epochs 1, 2, 3, 4, 5 and 7 of the 7 checkpoints of epochs 1-7 of 7 planned")
    // A checkpoint deleted by hand is named as well, and the spacing is over the ones there are:
    // without epoch 3, the middle target (2.65) takes 2, nearer in log time than 4.
    try FileManager.default.removeItem(atPath: RunDirectory(run).checkpoint(epoch: 3))
    let replay = try RunReplay(runDirectory: run, frames: 3)
    #expect(replay.epochs == [1, 2, 7])
    #expect(replay.epochsFound() == "epochs 1, 2 and 7 of the 6 checkpoints of epochs 1-7 of 7 planned, no checkpoint of epoch 3")
    #expect(try RunReplay(runDirectory: run, frames: 6).epochsFound() == "epochs 1-7 of 7 planned, no checkpoint of epoch 3")
}
