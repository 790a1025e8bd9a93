import Foundation
import Testing
import TestSupport
import VAECore
import VAERender
import VAETesting

// vae-render as a user runs it: the built executable, its output, exit codes and messages.

/// Spaces around the items of a list are allowed, as a shell user quoting "0, 1, 2" writes them.
private let smallRender = ["--grid", "2", "--steps", "2", "--pairs", " 0:1", "--indices", "0, 1,2", "--scale", "1"]

@Test func helpExplainsTheAnimationsAndEveryOption() throws {
    let result = try runTool("vae-render", ["--help"])
    #expect(result.status == 0)
    for text in ["interpolation.gif", "sampling.gif", "reconstruction.gif", "latent-map.gif", "traversal.gif", "principal directions",
                 "0.01 nats", "Tableau 10", "--all", "--interpolation", "--sampling", "--reconstruction", "--latent-map", "--traversal",
                 "--run-dir", "--out", "--data", "--pairs", "--spherical", "--no-spherical", "--steps", "--grid", "--sampler", "--seed", "--temperature",
                 "--indices", "--map-images", "--dims", "--scale", "--delay", "--hold", "--doubling", "--tolerance", "Exit codes"] {
        #expect(result.stdout.contains(text), "--help should mention \(text)")
    }
}

/// Each numeric flag's help gives the values the refusals below hold it to.
@Test func helpGivesEveryNumericFlagsRange() throws {
    let help = try runTool("vae-render", ["--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    for text in ["points each way, 2 x steps frames as the ends are shared (1 to 1000; default: 16)", "n x n grid (1 to 64; default: 5)", "(1 to 100000, at most the test set's count; default: 2000,",
                 "one per row (1 to 256; default: 8)", "n from 1 to 16;", "the least an epoch's frame shows, 2 to 65535 (default: 10).",
                 "the most an epoch's frame shows, 2 to 65535 (default: 200).", "0 to 65535; 0 shows every epoch but the last for --delay (default: 80).", "Steps of the 254-grey ramp (0 to 253;", "(above 0 and at most 10; default: 1.15)"] {
        #expect(help.contains(text), "--help should say \(text)")
    }
}

@Test(arguments: [
    ([], "say what to render: --all, or any of --interpolation, --sampling, --reconstruction, --latent-map, --traversal, --loss-curve"),
    (["--all", "--grid", "0"], "--grid must be between 1 and 64, got 0"),
    (["--all", "--grid", "-2"], "--grid must be between 1 and 64, got -2"),
    (["--all", "--steps", "0"], "--steps must be between 1 and 1000, got 0"),
    (["--all", "--scale", "17"], "--scale must be between 1 and 16, got 17"),
    (["--all", "--delay", "1"], "--delay must be between 2 and 65535 centiseconds, got 1"),
    (["--all", "--hold", "70000"], "--hold must be between 2 and 65535 centiseconds, got 70000"),
    (["--all", "--tolerance", "254"], "--tolerance must be between 0 and 253 grey steps, got 254"),
    (["--all", "--frames", "1"], "--frames must be between 2 and 100000, got 1"),
    (["--interpolation", "--traversal", "--frames", "5"],
     "--frames applies to the GIFs of every epoch; add --sampling, --reconstruction, --latent-map or --all"),
    (["--all", "--doubling", "-1"], "--doubling must be between 0 and 65535 centiseconds, got -1"),
    (["--sampling", "--delay", "300"], "--delay 300 is longer than --hold 200 (its default); no frame may show longer than the ends hold"),
    (["--traversal", "--delay", "30", "--hold", "20"], "--delay 30 is longer than --hold 20; no frame may show longer than the ends hold"),
    (["--all", "--hold", "5"], "--delay 10 (its default) is longer than --hold 5; no frame may show longer than the ends hold"),
    (["--interpolation", "--doubling", "40"],
     "--doubling applies to the GIFs of every epoch; add --sampling, --reconstruction, --latent-map or --all"),
    (["--loss-curve", "--frames", "5"], "--frames applies to the GIFs of every epoch; add --sampling, --reconstruction, --latent-map or --all"),
    (["--interpolation", "--grid", "4"], "--grid applies to the sampling animation; add --sampling or --all"),
    (["--sampling", "--spherical"], "--spherical applies to the interpolation; add --interpolation or --all"),
    (["--sampling", "--no-spherical"], "--no-spherical applies to the interpolation; add --interpolation or --all"),
    (["--sampling", "--indices", "1"], "--indices applies to the reconstruction; add --reconstruction or --all"),
    (["--all", "--sampler", "plane", "--seed", "3"], "--seed applies to a sampler, or to --sampler plane of a conditional run"),
    (["--all", "--sampler", "prior", "--temperature", "1.2"], "--temperature does not apply to --sampler prior; it spreads gmm, gmm-diagonal, vamp, two-stage"),
    (["--all", "--sampler", "plane", "--temperature", "1.2"], "--temperature does not apply to --sampler plane; it spreads gmm, gmm-diagonal, vamp, two-stage"),
    (["--all", "--map-images", "0"], "--map-images must be between 1 and 100000, got 0"),
    (["--all", "--dims", "257"], "--dims must be between 1 and 256, got 257"),
    (["--loss-curve"] + Array(repeating: ["--compare", "runs/other"], count: 10).flatMap { $0 },
     "--compare takes at most 9 runs: the loss curve tells 10 runs apart by colour"),
    (["--traversal", "--map-images", "50"], "--map-images applies to the latent map; add --latent-map or --all"),
    (["--loss-curve", "--compare", fixtureRun("latent2") + "/"], "is on the loss curve already (as --run-dir or an earlier --compare)"),
    (["--loss-curve", "--compare", "runs/a", "--compare", "./runs/a"],
     "--compare ./runs/a is on the loss curve already (as --run-dir or an earlier --compare)"),
    (["--loss-curve", "--scale", "3"], "--scale applies to the GIFs, not the loss curve; add an animation or --all"),
    (["--loss-curve", "--hold", "300"], "--hold applies to the GIFs, not the loss curve; add an animation or --all"),
    (["--loss-curve", "--data", "/nonexistent"], "--data applies to the GIFs, not the loss curve, which reads only the runs; add an animation or --all"),
    (["--latent-map", "--tolerance", "3"], "--tolerance does not apply to the latent map, which is stored exactly"),
    (["--latent-map", "--dims", "2"], "--dims applies to the traversal; add --traversal or --all"),
    (["--all", "--pairs", "1-2"], "--pairs"),
    (["--all", "--pairs", "0:7,3:3"], "--pairs 3:3 joins a test image to itself, a path of one point; name two images"),
    (["--all", "--indices", "4,9,1,9"], "--indices names test image 9 twice; each image is shown once"),
    (["--all", "--indices", "4,-1"], "--indices"),
    (["--all", "--indices", "4,,1"], "The value '4,,1' is invalid for '--indices <i,...>'"),
    (["--all", "--pairs", "0:1,"], "The value '0:1,' is invalid for '--pairs <a:b,...>'"),
    (["--all", "--indices", "-1"], "The value '-1' is invalid for '--indices <i,...>'"),
    (["--all", "--pairs", "-1:2"], "The value '-1:2' is invalid for '--pairs <a:b,...>'"),
    // ArgumentParser lists the values of an option with six or more on lines of their own.
    (["--sampling", "--sampler", "bogus"], "The value 'bogus' is invalid for '--sampler <name>'. Please provide one of the following: "
                                           + "prior, gmm, gmm-diagonal, vamp, two-stage, plane (see vae-render --help)\n"),
    (["--sampling", "--grid", "64", "--scale", "16"], "sampling.gif would be 30752x30960 pixels, more than 16384 per side"),
])
func badRequestsAreRefusedBeforeAnyWork(arguments: [String], message: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/out"
    let result = try runTool("vae-render", arguments + ["--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--out", out])
    #expect(result.status == 64, "exit \(result.status): \(result.stderr)")
    #expect(result.stderr.contains(message), "\(result.stderr)")
    #expect(result.stderr.hasPrefix("vae-render: ") && result.stderr.filter { $0 == "\n" }.count == 1, "one line: \(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: out))
}

/// A sampling frame too large is refused before the sampler is fitted: from a data folder
/// without the training images the GMM would need, the size is the error, not the missing files.
@Test func anOversizedSamplingFrameIsRefusedBeforeTheFit() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let testOnly = scratch + "/data"
    try FileManager.default.createDirectory(atPath: testOnly, withIntermediateDirectories: true)
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        try FileManager.default.createSymbolicLink(atPath: testOnly + "/" + name, withDestinationPath: syntheticData + "/" + name)
    }
    let result = try runTool("vae-render", ["--sampling", "--sampler", "gmm", "--grid", "64", "--scale", "16", "--run-dir",
                                            fixtureRun("latent3"), "--data", testOnly, "--out", scratch + "/out"])
    #expect(result.status == 64, "exit \(result.status): \(result.stderr)")
    #expect(result.stderr == "vae-render: sampling.gif would be 30752x30960 pixels, more than 16384 per side; lower --scale or "
            + "show fewer images\n")
}

/// Every animation's frame size is checked before its first frame: 1,750 pairs or 2,600
/// reconstructions (175 and 260 groups of 10 at scale 1), or 178 traversal rows at scale 4 (the
/// active dimensions of a one-epoch run of 200; 137 would do). Small scales and few frames, so
/// that a missing check fails within a minute, by drawing what it should have refused.
@Test func everyOversizedFrameIsRefusedBeforeItIsDrawn() throws {
    let data = try KMNIST.load(from: syntheticData)
    let wide = RunDirectory(temporaryFolder() + "/run")
    defer { removeTemporaryFolder(wide.path) }
    try train(RunConfig(model: VAEConfig(hidden: [64], latentDim: 200), epochs: 1, batchSize: 32, learningRate: 1e-3, seed: 2,
                        preset: "default", trainImages: data.train.count, testImages: data.test.count),
              data: data, directory: wide, mode: .fresh)
    // Without rows enough, the traversal would fit and the test would blame its check.
    let activity = latentActivity(try RunReplay(runDirectory: wide.path).final.model, data.test)
    try #require(activity.activeDimensions.count >= 137, "\(activity.activeDimensions.count) active dimensions")
    func images(_ count: Int) -> [Int] { (0..<count).map { $0 % data.test.count } }
    let requests: [(Animation, RenderRequest)] = [
        (.interpolation, RenderRequest(runDirectory: fixtureRun("latent3"), dataFolder: syntheticData,
                                       interpolation: InterpolationOptions(pairs: images(1750).map { ImagePair(a: $0, b: 0) }, steps: 1),
                                       style: FrameStyle(scale: 1))),
        (.reconstruction, RenderRequest(runDirectory: fixtureRun("latent3"), dataFolder: syntheticData,
                                        reconstruction: ReconstructionOptions(indices: images(2600)), style: FrameStyle(scale: 1))),
        (.traversal, RenderRequest(runDirectory: wide.path, dataFolder: syntheticData, traversal: TraversalOptions(dims: 200),
                                   style: FrameStyle(scale: 4))),
    ]
    for (animation, request) in requests {
        #expect {
            _ = try renderAnimations(request)
        } throws: { error in
            let message = (error as? VAEError)?.message ?? "\(error)"
            return message.hasPrefix("\(animation.fileName) would be ") && message.hasSuffix(" pixels, more than 16384 per side; "
                                                                                        + "lower --scale or show fewer images")
        }
    }
}

/// An empty path is a mistake, not the current folder or a default; `--out -` is no standard
/// output, and a picture's name no name for vae-render's folder.
@Test(arguments: [
    ("vae-train", ["--data", "", "--run-dir", "run"], "--data must name a folder"),
    ("vae-train", ["--run-dir", ""], "--run-dir must name a folder"),
    ("vae-render", ["--all", "--run-dir", ""], "--run-dir must name a folder"),
    ("vae-render", ["--all", "--run-dir", "run", "--out", ""], "--out must name a folder"),
    ("vae-train", ["--run-dir", "-"], "--run-dir - would make a folder named \"-\", not write to standard output (for that name, pass ./-)"),
    ("vae-render", ["--all", "--run-dir", "run", "--out", "-"],
     "--out - would make a folder named \"-\", not write to standard output (for that name, pass ./-)"),
    ("vae-render", ["--all", "--run-dir", "run", "--out", "anim.GIF"], "--out anim.GIF is named as a picture, but it would hold "
     + "the GIFs, as a folder of that name (--out names the folder that sampling.gif and the others are written into)"),
    ("vae-eval", ["checkpoint.safetensors", "--data", ""], "--data must name a folder"),
    ("vae-eval", [""], "the checkpoint path is empty; name a checkpoint file"),
    ("vae-eval", ["checkpoint.safetensors", "--quality", "--classifier", ""], "--classifier must name a file"),
    ("vae-sample", ["--run-dir", "", "--count", "3", "--out", "x.idx"], "--run-dir must name a folder"),
    ("vae-render", ["--loss-curve", "--run-dir", "run", "--compare", ""], "--compare must name a run folder"),
])
func emptyPathsAreRefused(tool: String, arguments: [String], message: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool(tool, arguments, workingDirectory: scratch)
    #expect(result.status == 64, "exit \(result.status): \(result.stderr)")
    #expect(result.stderr.contains(message), "\(result.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)
}

/// A run that records no data folder (the fixture runs), read with no --data or $KMNIST_DIR
/// where ./data/kmnist does not exist, is told as such, not as a missing ./data/kmnist alone.
@Test(arguments: ["vae-render", "vae-sample", "vae-eval"])
func aRunThatRecordsNoDataFolderSaysSo(tool: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let run = RunDirectory(packageRoot + "/fixtures/runs/latent2")
    let arguments = ["vae-render": ["--reconstruction", "--run-dir", run.path, "--out", scratch + "/out"],
                     "vae-sample": ["--run-dir", run.path, "--count", "3", "--sampler", "gmm", "--out", scratch + "/s.idx"],
                     "vae-eval": [run.checkpoint(epoch: 3), "--k", "0"]][tool]!
    let result = try runTool(tool, arguments, environment: ["KMNIST_DIR": ""], workingDirectory: scratch)
    #expect(result.status == 66 && result.stderr == "\(tool): \(run.path) records no data folder (\(run.dataFolderRecordPath) is "
            + "missing) and data/kmnist does not exist; point --data or KMNIST_DIR at the folder the run was trained on\n",
            "\(result.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)
}

/// A path that cannot be written is named with the system's reason, before anything is read
/// or rendered (the run below has a corrupt checkpoint, whose error would come first otherwise);
/// an output that cannot be written stops the set before any GIF is replaced.
@Test func outputsInTheWayAreNamedAndNothingIsHalfReplaced() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    let bad = run.checkpoint(epoch: 2)
    try writeFileAtomically(Array(try readFile(bad).prefix(1000)), to: bad)
    write([1], to: scratch + "/file")
    try FileManager.default.createSymbolicLink(atPath: scratch + "/dangling", withDestinationPath: scratch + "/nothing")
    for (out, reason) in [
        ("/file/out", "Not a directory"),
        ("/file", "a file of that name is in the way"),
        ("/file/a/b", "\(scratch)/file/a: Not a directory"),
        ("/dangling", "a symbolic link to \(scratch)/nothing, which does not exist"),
        ("/dangling/a", "\(scratch)/dangling: a symbolic link to \(scratch)/nothing, which does not exist"),
    ] {
        let blocked = try runTool("vae-render", ["--all", "--run-dir", run.path, "--data", syntheticData, "--out", scratch + out]
                                                + smallRender)
        #expect(blocked.status == 73)
        #expect(blocked.stderr == "vae-render: cannot create the output folder \(scratch + out): \(reason)\n")
        #expect(blocked.stdout.isEmpty)
    }
    // Creating says the same, where mkdir alone would say "No such file or directory".
    let creating = #expect(throws: VAEError.self) { try createFolders(scratch + "/dangling/a", what: "the output folder") }
    #expect(creating?.message == "cannot create the output folder \(scratch)/dangling/a: \(scratch)/dangling: a symbolic link to "
            + "\(scratch)/nothing, which does not exist")
    let notAFolder = try runTool("vae-render", ["--all", "--run-dir", scratch + "/file", "--out", scratch + "/out"])
    #expect(notAFolder.status == 66)
    #expect(notAFolder.stderr == "vae-render: \(scratch)/file is a file, not a run folder\n")

    let out = scratch + "/out"
    try FileManager.default.createDirectory(atPath: out + "/sampling.gif", withIntermediateDirectories: true)
    let earlier = Array("GIF89a".utf8) + [7]
    write(earlier, to: out + "/interpolation.gif")
    let blocked = try runTool("vae-render", ["--all", "--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--out", out]
                                            + smallRender)
    #expect(blocked.status == 73)
    #expect(blocked.stderr == "vae-render: cannot write \(out)/sampling.gif: it is a folder, not a file\n")
    #expect(try readFile(out + "/interpolation.gif") == earlier, "the earlier GIF is not replaced")
    #expect(fileNames(in: out) == ["interpolation.gif", "sampling.gif"])

    // loss.svg is one of the set, and every output is checked before anything is rendered: a
    // corrupt run's error would come first otherwise.
    let curveOut = scratch + "/curve"
    try FileManager.default.createDirectory(atPath: curveOut + "/loss.svg", withIntermediateDirectories: true)
    let curveBlocked = try runTool("vae-render", ["--reconstruction", "--loss-curve", "--run-dir", run.path, "--data", syntheticData,
                                                  "--out", curveOut, "--indices", "0,1", "--scale", "1"])
    #expect(curveBlocked.status == 73)
    #expect(curveBlocked.stderr == "vae-render: cannot write \(curveOut)/loss.svg: it is a folder, not a file\n")
    #expect(curveBlocked.stdout.isEmpty)
    #expect(fileNames(in: curveOut) == ["loss.svg"])
}

/// A file of an output's name that vae-render did not write (not a GIF; an SVG that is not its
/// loss curve), a read-only or unreadable one, or an --out that is a run's checkpoints folder, is refused with
/// exit 64 before anything is rendered, and left as it was, as vae-sample and vae-classifier
/// refuse such an --out.
@Test func outputsOntoOtherFilesAreRefusedBeforeRendering() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/out", arguments = ["--run-dir", fixtureRun("latent2"), "--data", syntheticData]
    let reconstruction = arguments + ["--reconstruction", "--indices", "0,1"]
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let drawing = Array("<svg>my drawing</svg>".utf8), note = Array("notes".utf8)
    write(drawing, to: out + "/loss.svg")
    write(note, to: out + "/reconstruction.gif")
    for (flags, file, kind) in [(["--run-dir", fixtureRun("latent2"), "--loss-curve"], "loss.svg", "a loss curve vae-render drew"),
                                (reconstruction, "reconstruction.gif", "a GIF")] {
        let refused = try runTool("vae-render", flags + ["--out", out])
        #expect(refused.status == 64 && refused.stdout.isEmpty, "\(refused.stderr)")
        #expect(refused.stderr == "vae-render: --out \(out): its \(file) exists and is not \(kind); not replacing it (name another "
                + "folder, or remove it first)\n")
    }
    #expect(try readFile(out + "/loss.svg") == drawing && readFile(out + "/reconstruction.gif") == note)

    // Its own GIF it replaces; a read-only one it keeps.
    #expect(unlink(out + "/reconstruction.gif") == 0)
    #expect(try runTool("vae-render", reconstruction + ["--out", out]).status == 0)
    #expect(try runTool("vae-render", reconstruction + ["--out", out, "--scale", "1"]).status == 0)
    let gif = try readFile(out + "/reconstruction.gif")
    // One this user may not read (access(2) refused by the fault-injection library: root reads
    // anything) is not called "not a GIF", which it may well be.
    let unreadable = try runTool("vae-render", reconstruction + ["--out", out],
                                 environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_DENY_READ": "/reconstruction.gif"])
    #expect(unreadable.status == 64 && unreadable.stderr == "vae-render: --out \(out): its reconstruction.gif cannot be read (Permission "
            + "denied), so it cannot be told to be a GIF; not replacing it (name another folder, or make it readable first)\n",
            "\(unreadable.stderr)")
    #expect(chmod(out + "/reconstruction.gif", 0o444) == 0)
    let readOnly = try runTool("vae-render", reconstruction + ["--out", out])
    #expect(readOnly.status == 64 && readOnly.stderr == "vae-render: --out \(out): its reconstruction.gif is read-only; not replacing "
            + "it (name another folder, or make it writable first)\n", "\(readOnly.stderr)")
    #expect(try readFile(out + "/reconstruction.gif") == gif)

    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    let checkpoints = run.checkpointsFolder, before = fileNames(in: checkpoints)
    let amongCheckpoints = try runTool("vae-render", reconstruction + ["--out", checkpoints])
    #expect(amongCheckpoints.status == 64 && amongCheckpoints.stderr == "vae-render: --out \(checkpoints) is the checkpoints folder "
            + "of the run in \(run.path), which holds only the checkpoints vae-train writes; name another folder\n",
            "\(amongCheckpoints.stderr)")
    #expect(fileNames(in: checkpoints) == before)
    // Nor a folder inside it, new, or made there before (by hand, or by a render before this check).
    let inside = checkpoints + "/inside"
    try FileManager.default.createDirectory(atPath: inside, withIntermediateDirectories: false)
    for out in [checkpoints + "/new/deeper", inside, inside + "/new"] {
        let result = try runTool("vae-render", reconstruction + ["--out", out])
        #expect(result.status == 64 && result.stderr == "vae-render: --out \(out) is in the checkpoints folder of the run in \(run.path), "
                + "which holds only the checkpoints vae-train writes; name another folder\n", "\(result.stderr)")
    }
    #expect(PathKind(checkpoints + "/new") == .nothing && fileNames(in: inside).isEmpty)
}

@Test func indicesOutsideTheTestSetExitWithUsage() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/out"
    let result = try runTool("vae-render", ["--reconstruction", "--indices", "5,100", "--run-dir", fixtureRun("latent2"),
                                            "--data", syntheticData, "--out", out])
    #expect(result.status == 64)
    #expect(result.stderr == "vae-render: --indices: image 100 is outside the test set, which has 100 images (0...99)\n")
    #expect(!FileManager.default.fileExists(atPath: out))
}

@Test func aCorruptCheckpointFailsWithItsNameAndLeavesNoGIF() throws {
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    let bad = run.checkpoint(epoch: 2)
    try writeFileAtomically(Array(try readFile(bad).prefix(1000)), to: bad)
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/out"
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let result = try runTool("vae-render", ["--all", "--run-dir", run.path, "--data", syntheticData, "--out", out] + smallRender)
    #expect(result.status == 65)
    #expect(result.stderr.hasPrefix("vae-render: \(bad): "), "\(result.stderr)")
    #expect(result.stderr.filter { $0 == "\n" }.count == 1, "one line: \(result.stderr)")
    #expect(result.stdout.isEmpty)
    #expect(fileNames(in: out) == [], "nothing, not even a temporary file, is left in the output folder")
    let newOut = scratch + "/new/out"
    let failed = try runTool("vae-render", ["--all", "--run-dir", run.path, "--data", syntheticData, "--out", newOut] + smallRender)
    #expect(failed.status == 65)
    #expect(!FileManager.default.fileExists(atPath: scratch + "/new"), "a failed render creates no output folder")
}

/// The write itself checks every path again before it replaces the first, for a path that became
/// unwritable while the GIFs rendered (after the check before rendering passed), and replaces
/// the files only once every one is written.
@Test func writingTheOutputsChecksEveryPathBeforeTheFirst() throws {
    let out = temporaryFolder()
    defer { removeTemporaryFolder(out) }
    write([7], to: out + "/a.gif")
    try FileManager.default.createDirectory(atPath: out + "/b.gif", withIntermediateDirectories: true)
    let refused = #expect(throws: VAEError.self) {
        try writeOutputs([(name: "a.gif", bytes: [1, 2]), (name: "b.gif", bytes: [3])], to: out)
    }
    #expect(refused?.message == "cannot write \(out)/b.gif: it is a folder, not a file")
    #expect(try readFile(out + "/a.gif") == [7], "the first file is not replaced")
    #expect(try writeOutputs([(name: "a.gif", bytes: [1, 2])], to: out + "/new") == [out + "/new/a.gif"])
    #expect(try readFile(out + "/new/a.gif") == [1, 2])

    // A write that fails once the first file is written in full (here another writer holds the
    // second's temporary file, as a full disk would stop it) replaces none of the set either.
    unlink(out + "/b.gif")
    rmdir(out + "/b.gif")
    write([8], to: out + "/b.gif")
    let other = open(out + "/.b.gif" + temporaryFileSuffix, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
    defer { close(other) }
    #expect(other >= 0 && flock(other, LOCK_EX) == 0)
    let stopped = #expect(throws: VAEError.self) {
        try writeOutputs([(name: "a.gif", bytes: [1, 2]), (name: "b.gif", bytes: [3])], to: out)
    }
    #expect(stopped?.message.hasPrefix("cannot write \(out)/b.gif: another process is writing it") == true, "\(String(describing: stopped))")
    #expect(try readFile(out + "/a.gif") == [7] && readFile(out + "/b.gif") == [8], "both files as they were")
    #expect(!FileManager.default.fileExists(atPath: out + "/.a.gif" + temporaryFileSuffix), "the first file's temporary is removed")

    // A set that fails in folders made for it leaves none of them (here a name too long to create).
    let tooLong = String(repeating: "x", count: 300) + ".gif"
    #expect(throws: VAEError.self) { try writeOutputs([(name: "a.gif", bytes: [1]), (name: tooLong, bytes: [2])], to: out + "/made/deeper") }
    #expect(!FileManager.default.fileExists(atPath: out + "/made"), "the folders made for the set are removed")
}

/// A Ctrl-C while the set is put in place waits for the last rename: the render dies of it with
/// the new set whole, never a mix of two renders, no temporary file left, and a line said for
/// each file. So it does when its parent started it with Ctrl-C blocked (from a worker thread,
/// say), which the tool undoes.
@Test(arguments: [false, true])
func aCtrlCBetweenTheRenamesLandsAfterTheLast(blockedByTheParent: Bool) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    func render(scale: String, into out: String, environment: [String: String] = [:]) throws -> ProcessOutput {
        let arguments = ["--all", "--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--out", out,
                         "--grid", "2", "--steps", "2", "--pairs", "0:1", "--indices", "0,1,2", "--scale", scale]
        guard blockedByTheParent && !environment.isEmpty else { return try runTool("vae-render", arguments, environment: environment) }
        let blocking = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}); os.execv(sys.argv[1], sys.argv[1:])"
        let tool = try ChildProcess(testPython, ["-c", blocking, try toolPath("vae-render")] + arguments, environment: environment)
        defer { tool.stop() }
        return try tool.finish()
    }
    let out = scratch + "/out", reference = scratch + "/reference"
    #expect(try render(scale: "1", into: out).status == 0)
    #expect(try render(scale: "2", into: reference).status == 0)
    let names = fileNames(in: reference)
    #expect(names.count > 2 && fileNames(in: out) == names, "\(names)")
    #expect(try readFile(out + "/" + names[1]) != readFile(reference + "/" + names[1]), "the two renders differ")

    let interrupted = try render(scale: "2", into: out, environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_INTERRUPT_AT_RENAME": "2",
    ])
    #expect(interrupted.status == SIGINT, "killed by the Ctrl-C: \(interrupted.stderr)")
    #expect(fileNames(in: out) == names, "no temporary file is left")
    #expect(interrupted.stdout.split(separator: "\n").map { $0.prefix { $0 != ":" } }.sorted() == names.map { Substring(out + "/" + $0) },
            "a line for each file written: \(interrupted.stdout)")
    for name in names { #expect(try readFile(out + "/" + name) == readFile(reference + "/" + name), "\(name) is the new render's") }
}

/// A folder whose fsync fails: EIO after creating `--out` in a folder the render made is exit 73
/// naming both, with every folder it made removed; EINVAL (a file system that cannot sync
/// folders) after the GIFs' renames is no error, and the set is written.
@Test func aFolderFsyncThatFailsIsAnErrorUnlessTheFileSystemCannotSyncFolders() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let arguments = ["--reconstruction", "--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--indices", "0,1"]
    let out = scratch + "/made/out"
    let failed = try runTool("vae-render", arguments + ["--out", out],
                             environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_FAIL_FSYNC": "/made"])
    #expect(failed.status == 73, "\(failed.stderr)")
    #expect(failed.stderr == "vae-render: cannot fsync the folder \(scratch)/made after creating \(out): Input/output error\n")
    #expect(fileNames(in: scratch).isEmpty, "\(fileNames(in: scratch))")

    let unsupported = try runTool("vae-render", arguments + ["--out", out], environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_FAIL_FSYNC": "/made/out", "VAE_FSYNC_ERRNO": "\(EINVAL)",
    ])
    #expect(unsupported.status == 0, "\(unsupported.stderr)")
    #expect(fileNames(in: out) == ["reconstruction.gif"])
}

/// Ctrl-C as the set's write begins (raised by the fault-injection library just after the write
/// first reads SIGINT's handler, before it defers the signal) leaves nothing: the folders for the
/// set are made within the write, and Ctrl-C used to land between them and it, leaving them empty.
@Test func ctrlCAsTheWriteBeginsLeavesNoEmptyFolder() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/made/out"
    let interrupted = try runTool("vae-render", ["--reconstruction", "--run-dir", fixtureRun("latent2"), "--data", syntheticData,
                                                 "--out", out],
                                  environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_INTERRUPT_AT_QUERY": "1"])
    #expect(interrupted.status == SIGINT && interrupted.stdout.isEmpty, "\(interrupted.stderr)")
    #expect(fileNames(in: scratch).isEmpty, "\(fileNames(in: scratch))")
    // That query is the write's, the only one, and comes before the folders are made: in an
    // uninterrupted render it is the first line of the trace, before the fsync that follows
    // making made/ in the scratch folder.
    let trace = temporaryFolder() + "/trace"
    defer { removeTemporaryFolder(URL(fileURLWithPath: trace).deletingLastPathComponent().path) }
    let rendered = try runTool("vae-render", ["--reconstruction", "--run-dir", fixtureRun("latent2"), "--data", syntheticData,
                                              "--out", out],
                               environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_TRACE_RENAMES": trace])
    #expect(rendered.status == 0, "\(rendered.stderr)")
    let events = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
    #expect(events.filter { $0 == "query SIGINT" }.count == 1 && events.first == "query SIGINT", "\(events)")
    #expect(events.dropFirst().first?.hasPrefix("fsync-folder ") == true && events.dropFirst().first?.hasSuffix(scratch) == true,
            "\(events)")
}

/// An `--out` folder the user may not write (access(2) refused by the fault-injection library:
/// root may write anywhere) is refused with exit 73 naming it, before any rendering; the GIFs
/// already there stay as they were.
@Test func anOutputFolderTheUserMayNotWriteIsRefused() throws {
    let out = temporaryFolder() + "/out"
    defer { removeTemporaryFolder(out) }
    let arguments = ["--reconstruction", "--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--indices", "0,1", "--out", out]
    #expect(try runTool("vae-render", arguments).status == 0)
    let before = try readFile(out + "/reconstruction.gif")
    let refused = try runTool("vae-render", arguments + ["--scale", "3"],
                              environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_DENY_ACCESS": "/out"])
    #expect(refused.status == 73 && refused.stdout.isEmpty, "\(refused.stderr)")
    #expect(refused.stderr == "vae-render: cannot write into the output folder \(out): Permission denied\n")
    #expect(fileNames(in: out) == ["reconstruction.gif"])
    #expect(try readFile(out + "/reconstruction.gif") == before)
}

@Test func aRenderPrintsOneLinePerGIFAndNothingElse() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/nested/out"
    let result = try runTool("vae-render", ["--all", "--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--out", out,
                                            "--spherical", "--delay", "5", "--hold", "60", "--doubling", "30"] + smallRender)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.isEmpty)
    #expect(fileNames(in: out) == ["interpolation.gif", "latent-map.gif", "reconstruction.gif", "sampling.gif", "traversal.gif"])
    let lines = result.stdout.split(separator: "\n").map(String.init)
    let expectedFrames = ["interpolation": 4, "sampling": 3, "reconstruction": 3, "latent-map": 3, "traversal": 16]
    // The sampling GIF of this N(0, I) run draws from the mixture fitted to its encoded training
    // means, and its line says how many components the held-out images chose.
    let fixture = try LoadedFixture("latent3")
    let mixture = try makeSampler(.gmm, model: fixture.replay.final.model, codec: fixture.codec,
                                  training: loadTrainingImages(from: syntheticData, for: fixture.replay.run), seed: 0)
    #expect((mixture as? GaussianMixture)?.components ?? 0 > 1, "the fixture's mixture is chosen among several counts")
    // The map's line gives its final accuracy: that of the fixture's whole test set, under 2,000 images.
    let finalMeans = fixture.codec.encodeMeans(fixture.replay.final.model, images: fixture.test, indices: Array(0..<fixture.test.count))
    let finalAccuracy = try #require(nearestNeighbourAccuracy(finalMeans, dimension: 3, labels: fixture.test.labels.map(Int.init)))
    // The traversal's gives the active dimensions and the KL of its rows, as its tiles do.
    let activity = latentActivity(fixture.replay.final.model, fixture.test)
    let rows = activity.activeDimensions.prefix(8).map { TraversalAnimation.natsLabel(activity.klPerDimension[$0]) }
    #expect(rows.count == 3, "every dimension of the fixture is active")
    #expect(lines.count == 5)
    for (line, name) in zip(lines, ["interpolation", "sampling", "reconstruction", "latent-map", "traversal"]) {
        let path = out + "/" + name + ".gif"
        let gif = try decodeGIF(try readFile(path))
        #expect(gif.frames.count == expectedFrames[name])
        // A sweep holds its two ends and its first frame (the traversal starts at the mean, a quarter
        // of its cycle before its top end); a GIF of every epoch gives epoch e 30 x log2((e + 1) / e)
        // and holds the last.
        if ["interpolation", "traversal"].contains(name) {
            let held = gif.frames.indices.filter { gif.frames[$0].delayCentiseconds == 60 }
            #expect(held == (name == "interpolation" ? [0, 2] : [0, 4, 12]), "\(name)")
            #expect(gif.frames.allSatisfy { [5, 60].contains($0.delayCentiseconds) })
        } else {
            #expect(gif.frames.map(\.delayCentiseconds) == [30, 18, 60], "\(name)")
        }
        let epochs = ["interpolation", "traversal"].contains(name) ? "epoch 3 of 3 planned" : "epochs 1-3 of 3 planned"
        let final = fixture.replay.final.metrics.test
        let note = name == "sampling" ? "; z ~ gmm: \(mixture.summary), temperature 1.15; test loss \(String(format: "%.1f", final.total)) at epoch 3"
            : name == "reconstruction" ? "; test recon \(String(format: "%.1f", final.reconstruction)) at epoch 3"
            : name == "latent-map" ? "; 5-NN accuracy \(String(format: "%.1f", 100 * finalAccuracy))% at epoch 3"
            : name == "traversal" ? "; 3/3 dimensions active; the 3 rows' KL \(rows[0]) to \(rows[2]) nats" : ""
        #expect(line == "\(path): \(gif.frames.count) frames (\(epochs)), \(gif.width)x\(gif.height), \(try readFile(path).count) bytes"
                + note)
    }
}

/// A map of 5 characters or fewer has no 5-NN accuracy (each needs 5 others): its line says why
/// there is none, where a map of 6 gives it.
@Test func aMapTooSmallForItsAccuracySaysSo() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    for (images, note) in [("5", "; no 5-NN accuracy: it needs more than 5 characters on the map (--map-images)\n"),
                           ("6", "% at epoch 3\n")] {
        let result = try runTool("vae-render", ["--latent-map", "--map-images", images, "--run-dir", fixtureRun("latent2"),
                                                "--data", syntheticData, "--out", scratch + "/" + images])
        #expect(result.status == 0 && result.stdout.hasSuffix(note), "\(result.stdout)\(result.stderr)")
    }
}

/// Without --out the GIFs go to output/ in the working folder, where the README's commands look.
@Test func theGIFsGoToOutputByDefault() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool("vae-render", ["--reconstruction", "--run-dir", fixtureRun("latent2"), "--data", syntheticData],
                             workingDirectory: scratch)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(fileNames(in: scratch) == ["output"] && fileNames(in: scratch + "/output") == ["reconstruction.gif"])
    #expect(result.stdout.hasPrefix("output/reconstruction.gif: "), "\(result.stdout)")
}

/// The interpolation follows the great circle unless --no-spherical asks for the straight line:
/// each command's frames are the library's for that path.
@Test func theInterpolationTakesTheGreatCircleUnlessToldNot() throws {
    let fixture = try LoadedFixture("latent3")
    let pair = ImagePair(a: 0, b: 1), style = FrameStyle(scale: 1, tolerance: 0)
    var rendered: [Bool: [[UInt8]]] = [:]
    for spherical in [true, false] {
        let animation = try InterpolationAnimation(options: InterpolationOptions(pairs: [pair], spherical: spherical, steps: 2),
                                                   style: style, test: fixture.test)
        rendered[spherical] = animation.frames(model: fixture.replay.final.model, test: fixture.test, codec: fixture.codec).map(\.canvas.pixels)
    }
    expectDifferent(rendered[true]![1], rendered[false]![1], "the two paths' frames at t = 1/2")
    for (flags, spherical) in [([String](), true), (["--no-spherical"], false), (["--spherical"], true)] {
        let scratch = temporaryFolder()
        defer { removeTemporaryFolder(scratch) }
        let result = try runTool("vae-render", ["--interpolation", "--run-dir", fixtureRun("latent3"), "--data", syntheticData,
                                                "--out", scratch, "--pairs", "0:1", "--steps", "2", "--scale", "1", "--tolerance", "0"] + flags)
        #expect(result.status == 0, "\(result.stderr)")
        let gif = try decodeGIF(try readFile(scratch + "/interpolation.gif"))
        expectIdentical(gif.frames.map(\.indices), rendered[spherical]!, "\(flags) should take the \(spherical ? "spherical" : "straight") path")
    }
}

@Test func eachNewAnimationRendersAloneAsALoopingGIF() throws {
    for (flag, file, frames) in [("--latent-map", "latent-map.gif", 3), ("--traversal", "traversal.gif", 16)] {
        let scratch = temporaryFolder()
        defer { removeTemporaryFolder(scratch) }
        let out = scratch + "/out"
        let result = try runTool("vae-render", [flag, "--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--out", out,
                                                "--scale", "1"])
        #expect(result.status == 0, "\(flag): \(result.stderr)")
        #expect(fileNames(in: out) == [file])
        let gif = try decodeGIF(try readFile(out + "/" + file))
        #expect(gif.version == "GIF89a" && gif.loopCount == 0 && gif.loopCountPrecedesFirstFrame && gif.frames.count == frames, "\(file)")
        expectIdentical(gif.palette, file == "latent-map.gif" ? Palette.latentMapRGB : Palette.rgb, "\(file)'s colour map")
    }
}

/// vae-render's flags reach the renderer: the golden case latent3 asked for by its flags renders
/// the same bytes as its request does in process (every animation, each with non-default
/// options and timing), and so do a sampler's --temperature and --seed and a --tolerance.
@Test func theFlagsRenderWhatTheirOptionsDo() throws {
    let out = temporaryFolder()
    defer { removeTemporaryFolder(out) }
    let golden = try #require(GoldenCase.all.first { $0.name == "latent3" })
    let custom = RenderRequest(runDirectory: fixtureRun("latent3"), dataFolder: syntheticData,
                               sampling: SamplingOptions(grid: 3, source: .sampler(.gmmDiagonal), seed: 3, temperature: 0.5),
                               style: FrameStyle(scale: 1, tolerance: 0))
    for (request, flags) in [
        (golden.request(fixtures: fixturesFolder, data: syntheticData),
         ["--all", "--pairs", "6:7,8:9", "--steps", "4", "--grid", "4", "--indices", "5,6,7,8", "--map-images", "60", "--dims", "2",
          "--scale", "1", "--delay", "7", "--hold", "120"]),
        (custom, ["--sampling", "--grid", "3", "--sampler", "gmm-diagonal", "--seed", "3", "--temperature", "0.5", "--scale", "1",
                  "--tolerance", "0"]),
    ] {
        let result = try runTool("vae-render", flags + ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        for gif in try renderAnimations(request) {
            expectIdentical(try readFile(out + "/" + gif.animation.fileName), gif.bytes, "\(gif.animation.fileName) of \(flags)")
        }
    }
}

/// A run folder that is a link to itself is named with the system's reason, exit 66 like a
/// checkpoint that is one (not "does not exist", nor exit 65 for vae-eval); a run folder given
/// with a trailing slash is named without a doubled one in the files' paths.
@Test func aRunFolderLinkedToItselfAndATrailingSlashAreNamedAsTyped() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let loop = scratch + "/loop"
    try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: loop)
    let render = try runTool("vae-render", ["--all", "--run-dir", loop])
    #expect(render.status == 66 && render.stderr == "vae-render: cannot open the run folder \(loop): Too many levels of symbolic links\n",
            "\(render.stderr)")
    let eval = try runTool("vae-eval", [loop])
    #expect(eval.status == 66 && eval.stderr == "vae-eval: cannot open \(loop): Too many levels of symbolic links\n", "\(eval.stderr)")

    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    let damaged = run.checkpoint(epoch: 2)
    try writeFileAtomically(Array(try readFile(damaged).prefix(1000)), to: damaged)
    let slashed = try runTool("vae-render", ["--reconstruction", "--run-dir", run.path + "/", "--data", syntheticData,
                                             "--out", scratch + "/out"])
    #expect(slashed.status == 65 && slashed.stderr.hasPrefix("vae-render: \(damaged): "), "\(slashed.stderr)")
}
