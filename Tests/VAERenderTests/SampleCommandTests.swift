import Foundation
import Testing
import TestSupport
import VAECore
import VAERender
import VAETesting

// vae-sample, vae-classifier and vae-eval --quality as a user runs them.

@Test func sampleCommandWritesTheDecoderMeansAsIDX() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let fixture = try LoadedFixture("latent3")
    let mixture = try makeSampler(.gmm, model: fixture.replay.final.model, codec: fixture.codec,
                                  training: loadTrainingImages(from: syntheticData, for: fixture.replay.run), seed: 5)
    for (name, sampler, fittedAs) in [("prior.idx", "prior", "N(0, I)"),
                                      ("gmm.idx.gz", "gmm", "\(mixture.summary), temperature 1.15")] {
        let data = sampler == "gmm" ? ["--data", syntheticData] : []
        let result = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--count", "7",
                                                "--seed", "5", "--sampler", sampler, "--out", folder + "/" + name] + data)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("7 samples (\(sampler): \(fittedAs); seed 5) of epoch 3"), "\(result.stdout)")
    }
    let raw = try readFile(folder + "/prior.idx")
    #expect(Array(raw[0..<4]) == [0, 0, 8, 3], "magic 0x00000803, uncompressed")
    let prior = try readIDX(folder + "/prior.idx", magic: idxImagesMagic)
    #expect(prior.dimensions == [7, 28, 28])
    // The same images as the prior sampler, decoded by the final checkpoint, as bytes.
    var random = Random(seed: 5)
    let z = StandardNormalSampler(latent: 3).sample(count: 7, random: &random).z
    let expected = fixture.codec.decodeMeans(fixture.replay.final.model, z: z).map { UInt8(($0 * 255).rounded()) }
    expectIdentical(prior.payload, expected, "the prior's samples")

    let gmm = try readFile(folder + "/gmm.idx.gz")
    #expect(Array(gmm[0..<2]) == [0x1f, 0x8b], "gzip for .gz")
    let decoded = try readIDX(folder + "/gmm.idx.gz", magic: idxImagesMagic)
    #expect(decoded.dimensions == [7, 28, 28])
    expectDifferent(decoded.payload, prior.payload, "the GMM's samples against the prior's")
    // .gz in any case compresses.
    let again = folder + "/again.IDX.GZ"
    _ = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--count", "7", "--seed", "5",
                                   "--out", again])
    expectIdentical(try readFile(again), gmm, "gmm is the default, the same seed gives the same bytes, and .GZ compresses")

    // --data beside a sampler that reads no training images would be ignored: it is refused.
    let ignored = try runTool("vae-sample", ["--run-dir", fixtureRun("latent3"), "--data", syntheticData, "--count", "7",
                                             "--sampler", "prior", "--out", folder + "/ignored.idx"])
    #expect(ignored.status == 64)
    #expect(ignored.stderr == "vae-sample: --data: the prior sampler reads no training images (only gmm, gmm-diagonal and two-stage do)\n")
    #expect(!FileManager.default.fileExists(atPath: folder + "/ignored.idx"))
}

/// `--out /dev/stdout` with standard output redirected to a file is refused: renaming a file over
/// that one would leave the stream, and the report line, writing to the replaced file.
@Test func sampleCommandRefusesItsOwnStandardOutput() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runToolWithFileSizeLimit("vae-sample", ["--run-dir", fixtureRun("latent2"), "--data", syntheticData,
                                                             "--count", "3", "--out", "/dev/stdout"],
                                              blocks: 1000, standardOutput: scratch + "/out.txt")
    #expect(result.status == 73)
    #expect(result.stderr == "vae-sample: cannot write /dev/stdout: it is /proc/self/fd/1, one of this process's streams; files "
            + "are written whole (a temporary file renamed into place), so name a regular file\n", "\(result.stderr)")
    #expect(try readFile(scratch + "/out.txt").isEmpty && FileManager.default.contentsOfDirectory(atPath: scratch) == ["out.txt"])
}

@Test(arguments: [
    (["--count", "0"], 64, "--count must be between 1 and 1000000, got 0"),
    (["--count", "3", "--epoch", "0"], 64, "--epoch must be at least 1, got 0"),
    (["--count", "3", "--class", "10"], 64, "--class must be a class between 0 and 9, got 10"),
    (["--count", "3", "--class", "-1"], 64, "--class must be a class between 0 and 9, got -1"),
    (["--count", "3", "--sampler", "vamp"], 64, "--sampler"),
    (["--count", "3", "--epoch", "9"], 66, "--epoch 9: "),
    (["--count", "3", "--class", "2"], 64, "--class needs a class-conditional run"),
    (["--count", "3", "--sampler", "prior", "--temperature", "2"], 64, "--temperature does not apply to --sampler prior; it spreads gmm, gmm-diagonal, vamp, two-stage"),
    (["--count", "3", "--temperature", "0"], 64, "--temperature must be above 0 and at most 10, got 0.0"),
    (["--count", "3", "--temperature", "10.5"], 64, "--temperature must be above 0 and at most 10, got 10.5"),
])
func sampleCommandRefusesBadRequests(arguments: [String], status: Int32, message: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/samples.idx"
    let result = try runTool("vae-sample", arguments + ["--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--out", out])
    #expect(result.status == status, "\(result.stderr)")
    #expect(result.stderr.contains(message), "\(result.stderr)")
    #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: out))
}

/// The IDX bytes under a picture's name would be taken for a broken picture.
@Test(arguments: ["s.png", "S.JPG", "out/s.gif", "s.jpeg", "s.BMP", "s.tif", "s.tiff", "s.webp", "s.svg"])
func sampleCommandRefusesAPicturesName(name: String) throws {
    let result = try runTool("vae-sample", ["--run-dir", "x", "--count", "3", "--out", name])
    #expect(result.status == 64 && result.stderr.hasPrefix("vae-sample: --out \(name) is named as a picture, but it would hold an "
                                                         + "IDX image file (name it .idx, or .idx.gz to compress it; vae-render draws GIFs)"),
            "\(result.stderr)")
    // vae-classifier's file likewise; from a folder of its own and without data, so that a
    // classifier that took the name would write nothing in the repository.
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let classifier = try runTool("vae-classifier", ["--data", scratch + "/none", "--out", name], workingDirectory: scratch)
    #expect(classifier.status == 64 && classifier.stderr.hasPrefix("vae-classifier: --out \(name) is named as a picture, but it would "
                                                                 + "hold a classifier's safetensors file (name it .safetensors)"),
            "\(classifier.stderr)")
}

/// A name that promises what the file will not be is refused before any work: another compression
/// than gzip, or a safetensors name, for vae-sample's IDX file; an IDX file or gzip data for
/// vae-classifier's safetensors file.
@Test(arguments: [("vae-sample", "s.bz2", "another tool's compressed file"), ("vae-sample", "s.idx.XZ", "another tool's compressed file"),
                  ("vae-sample", "s.zst", "another tool's compressed file"), ("vae-sample", "s.SafeTensors", "a checkpoint or a classifier"),
                  ("vae-classifier", "c.idx", "an IDX file"), ("vae-classifier", "c.IDX", "an IDX file"),
                  ("vae-classifier", "c.idx.gz", "gzip data")])
func outputNamedAsAnotherKindIsRefused(tool: String, name: String, kind: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let arguments = tool == "vae-sample" ? ["--run-dir", "x", "--count", "3", "--out", name] : ["--data", scratch + "/none", "--out", name]
    let result = try runTool(tool, arguments, workingDirectory: scratch)
    let holds = tool == "vae-sample" ? "an IDX image file (name it .idx, or .idx.gz to compress it)"
        : "a classifier's safetensors file (name it .safetensors)"
    #expect(result.status == 64 && result.stderr == "\(tool): --out \(name) is named as \(kind), but it would hold \(holds) (see \(tool) --help)\n",
            "\(result.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)
}

/// vae-classifier's epochs are checked before any work, at both ends of their range.
@Test(arguments: ["0", "1001"])
func classifierRefusesEpochsOutsideItsRange(epochs: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool("vae-classifier", ["--epochs", epochs, "--data", scratch + "/none", "--out", scratch + "/c.safetensors"])
    #expect(result.status == 64 && result.stderr.hasPrefix("vae-classifier: --epochs must be between 1 and 1000, got \(epochs)"),
            "\(result.stderr)")
}

@Test func sampleCommandNamesAMissingRun() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool("vae-sample", ["--run-dir", "/nonexistent/run", "--count", "3", "--out", scratch + "/x.idx"])
    #expect(result.status == 66)
    #expect(result.stderr == "vae-sample: the run folder /nonexistent/run does not exist\n")
}

/// An output vae-sample or vae-classifier could not write is refused before any work, with one
/// line that says why.
@Test func outputsThatCannotBeWrittenAreRefusedBeforeAnyWork() throws {
    let scratch = temporaryFolder(), elsewhere = temporaryFolder()
    defer { [scratch, elsewhere].forEach(removeTemporaryFolder) }
    let plain = elsewhere + "/plain"
    write([1], to: plain)
    let cases: [(out: String, status: Int32, message: String)] = [
        ("", 64, "--out must name the file to write"),
        ("-", 64, "--out - would make a file named \"-\", not write to standard output (for that name, pass ./-)"),
        (scratch, 73, "cannot write \(scratch): it is a folder, not a file"),
        // Named so that both tools' names are fine.
        (scratch + "/missing/x.bin", 73, "cannot write \(scratch)/missing/x.bin: the folder \(scratch)/missing does not exist"),
        (plain + "/x.bin", 73, "cannot write \(plain)/x.bin: \(plain) is not a folder"),
    ]
    for (out, status, message) in cases {
        let sample = try runTool("vae-sample", ["--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--count", "3", "--out", out])
        #expect(sample.status == status && sample.stderr.contains(message), "vae-sample --out '\(out)': \(sample.stderr)")
        let classifier = try runTool("vae-classifier", ["--data", syntheticData, "--epochs", "1", "--out", out])
        #expect(classifier.status == status && classifier.stderr.contains(message), "vae-classifier --out '\(out)': \(classifier.stderr)")
        #expect(!classifier.stdout.contains("epoch 1/1"), "trained before checking --out: \(classifier.stdout)")
        if status != 64 {
            #expect(sample.stderr == "vae-sample: \(message)\n")
            #expect(classifier.stderr == "vae-classifier: \(message)\n")
        }
    }
    // The kernel goes through missing/ to find "..". Foundation's URL, which made a relative path
    // absolute, also dropped "missing/..": the check passed, and the rename failed after all the work.
    let relative = try runTool("vae-sample", ["--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--count", "3",
                                              "--out", "missing/../x.idx"], workingDirectory: scratch)
    #expect(relative.status == 73 && relative.stderr == "vae-sample: cannot write missing/../x.idx: the folder missing/.. does not exist\n",
            "\(relative.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty, "nothing written")

    // A folder the user may not write (access(2) refused by the fault-injection library: root may write anywhere).
    let locked = scratch + "/locked", out = scratch + "/locked/x.bin"
    try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
    let denied = ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_DENY_ACCESS": "/locked"]
    let sample = try runTool("vae-sample", ["--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--count", "3", "--out", out],
                             environment: denied)
    #expect(sample.status == 73 && sample.stderr == "vae-sample: cannot write \(out): the folder \(locked) is not writable\n",
            "\(sample.stderr)")
    let classifier = try runTool("vae-classifier", ["--data", syntheticData, "--epochs", "1", "--out", out], environment: denied)
    #expect(classifier.status == 73 && classifier.stderr == "vae-classifier: cannot write \(out): the folder \(locked) is not writable\n",
            "\(classifier.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: locked).isEmpty, "nothing written")

    let file = scratch + "/metrics.jsonl"
    write([0], to: file)
    let notAFolder = try runTool("vae-sample", ["--run-dir", file, "--count", "3", "--out", scratch + "/x.idx"])
    #expect(notAFolder.status == 66)
    #expect(notAFolder.stderr == "vae-sample: \(file) is a file, not a run folder\n")
}

/// An --out that names an existing file of another kind (a checkpoint, a note), the data the
/// run was trained on under any name, a file named as KMNIST's, or a read-only file, is refused
/// before any work and left as it was; a writable file of the tool's own kind is replaced.
@Test func outputsOntoOtherFilesAreRefused() throws {
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    // Copies, not links: a refusal that failed would write through a link into fixtures/.
    let data = run.path + "/data"
    try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
    for file in KMNIST.files {
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: syntheticData + "/" + file.name + ".gz").resolvingSymlinksInPath().path,
                                         toPath: data + "/" + file.name + ".gz")
    }
    let trainingImages = data + "/" + KMNIST.files[0].name + ".gz"
    // The run's data under a name of its own: what the name check cannot see.
    let linkedImages = run.path + "/images.idx.gz"
    #expect(symlink(trainingImages, linkedImages) == 0)
    let notes = run.path + "/notes.txt"
    write(Array("what this run was for\n".utf8), to: notes)
    // Another dataset's test images, and earlier samples made read-only: IDX image files both.
    let otherData = run.path + "/other-data"
    try FileManager.default.createDirectory(atPath: otherData, withIntermediateDirectories: true)
    let otherTestImages = otherData + "/" + KMNIST.files[2].name
    try FileManager.default.copyItem(atPath: trainingImages, toPath: otherTestImages + ".gz")
    try FileManager.default.copyItem(atPath: trainingImages, toPath: otherTestImages)
    // Read-only: an IDX file, and a file the classifier's name check lets through.
    let kept = run.path + "/kept.idx.gz", keptFromClassifier = run.path + "/kept.bin"
    for file in [kept, keptFromClassifier] {
        try FileManager.default.copyItem(atPath: trainingImages, toPath: file)
        chmod(file, 0o444)
    }
    let sample = ["vae-sample", "--run-dir", run.path, "--data", data, "--count", "3", "--sampler", "gmm"]
    let classifier = ["vae-classifier", "--data", data, "--epochs", "1"]
    let cases: [(command: [String], out: String, message: String)] = [
        (sample, run.checkpoint(epoch: 3), "--out \(run.checkpoint(epoch: 3)) is named as a checkpoint or a classifier"),
        (sample, notes, "--out \(notes) exists and is not an IDX image file; not replacing it"),
        (sample, linkedImages, "--out \(linkedImages) is one of the KMNIST files in \(data), which \(run.path) reads; not replacing it"),
        (sample, trainingImages, "--out \(trainingImages) is named as a KMNIST data file, where the samples would pass for that "
            + "dataset's images; name another file"),
        (sample, otherTestImages + ".gz", "--out \(otherTestImages).gz is named as a KMNIST data file"),
        (sample, otherTestImages, "--out \(otherTestImages) is named as a KMNIST data file"),
        (sample, kept, "--out \(kept) is read-only; not replacing it"),
        (classifier, keptFromClassifier, "--out \(keptFromClassifier) is read-only; not replacing it"),
        (classifier, run.checkpoint(epoch: 3), "--out \(run.checkpoint(epoch: 3)) is in the checkpoints folder of the run in \(run.path)"),
        (classifier, notes, "--out \(notes) exists and is not a classifier file; not replacing it"),
        (classifier, otherTestImages, "--out \(otherTestImages) exists and is not a classifier file; not replacing it"),
    ]
    for (command, out, message) in cases {
        let before = try readFile(out)
        let result = try runTool(command[0], Array(command.dropFirst()) + ["--out", out])
        #expect(result.status == 64 && result.stderr.hasPrefix("\(command[0]): \(message)"), "\(command[0]) --out \(out): \(result.stderr)")
        #expect(result.stdout.isEmpty, "work done before the refusal: \(result.stdout)")
        let after = try readFile(out)
        #expect(after == before, "\(out) left as it was")
    }
    // Nor a new file named as KMNIST's, even beside the data under the other name: the tools
    // read a .gz before the raw file, so a sample file there would be taken for the dataset.
    for new in [data + "/" + KMNIST.files[2].name, otherData + "/" + KMNIST.files[0].name + ".gz"] {
        let result = try runTool("vae-sample", Array(sample.dropFirst()) + ["--out", new])
        #expect(result.status == 64 && result.stderr.hasPrefix("vae-sample: --out \(new) is named as a KMNIST data file"), "\(result.stderr)")
        #expect(PathKind(new) == .nothing)
    }
    // Nor is a new file written among a run's checkpoints, where it would pass for one (or a
    // resume would remove it as an epoch past its state).
    let linkedCheckpoints = run.path + "/linked"
    #expect(symlink(run.checkpointsFolder, linkedCheckpoints) == 0)
    // A link to a folder inside: its ".." is the checkpoints folder, whatever the path spells.
    let inside = run.checkpointsFolder + "/inside", linkedInside = run.path + "/linked-inside"
    try FileManager.default.createDirectory(atPath: inside, withIntermediateDirectories: false)
    #expect(symlink(inside, linkedInside) == 0)
    for (command, out) in [(sample, run.checkpointsFolder + "/epoch-0009.idx"), (classifier, run.checkpointsFolder + "/classifier.safetensors"),
                           (sample, run.checkpointsFolder + "/./x.idx"), (classifier, linkedCheckpoints + "/epoch-0009.safetensors"),
                           (sample, linkedInside + "/../x.idx")] {
        let result = try runTool(command[0], Array(command.dropFirst()) + ["--out", out])
        #expect(result.status == 64 && result.stderr.hasPrefix("\(command[0]): --out \(out) is in the checkpoints folder of the run in "),
                "\(command[0]) --out \(out): \(result.stderr)")
        #expect(PathKind(out) == .nothing)
    }
    // Relative too, as typed (Foundation's URL drops "linked-inside/.." from a relative path only).
    let relative = try runTool("vae-sample", Array(sample.dropFirst()) + ["--out", "linked-inside/../y.idx"], workingDirectory: run.path)
    #expect(relative.status == 64 && relative.stderr.hasPrefix("vae-sample: --out linked-inside/../y.idx is in the checkpoints folder"),
            "\(relative.stderr)")
    #expect(PathKind(inside + "/../y.idx") == .nothing)
    // The data folder the run records is kept too when --data points elsewhere.
    try run.recordDataFolder(data)
    let elsewhere = try runTool("vae-sample", ["--run-dir", run.path, "--data", syntheticData, "--count", "3", "--out", linkedImages])
    #expect(elsewhere.status == 64 && elsewhere.stderr.contains("is one of the KMNIST files in \(data), which \(run.path) reads"),
            "\(elsewhere.stderr)")
    // Files of the tool's own kind are replaced: samples by other samples, a classifier by a classifier.
    let samples = run.path + "/samples.idx.gz", scorer = run.path + "/classifier.safetensors"
    for seed in ["1", "2"] {
        let result = try runTool(sample[0], Array(sample.dropFirst()) + ["--seed", seed, "--out", samples])
        #expect(result.status == 0, "\(result.stderr)")
    }
    for _ in 0..<2 {
        let result = try runTool(classifier[0], Array(classifier.dropFirst()) + ["--out", scorer])
        #expect(result.status == 0, "\(result.stderr)")
    }
    // A damaged classifier too, which only training again mends.
    var damaged = try readFile(scorer)
    damaged[damaged.count - 1] ^= 1
    write(damaged, to: scorer)
    #expect(throws: VAEError.self) { try readClassifier(scorer) }
    let replaced = try runTool(classifier[0], Array(classifier.dropFirst()) + ["--out", scorer])
    #expect(replaced.status == 0, "\(replaced.stderr)")
    _ = try readClassifier(scorer)
}

/// A closed standard output is refused before any work (vae-eval's bound, vae-sample's file),
/// not reported once the work is done and its result lost.
@Test func aClosedStandardOutputIsRefusedFirst() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/samples.idx"
    for (tool, arguments) in [("vae-sample", ["--run-dir", fixtureRun("latent2"), "--data", syntheticData, "--count", "3", "--out", out]),
                              ("vae-eval", [fixtureRun("latent2") + "/checkpoints/epoch-0003.safetensors", "--data", syntheticData])] {
        let command = "exec " + ([try toolPath(tool)] + arguments).map { "'\($0)'" }.joined(separator: " ") + " >&-"
        let shell = try ChildProcess("/bin/bash", ["-c", command])
        defer { shell.stop() }
        let result = try shell.finish()
        #expect(result.status == 73 && result.stderr == "\(tool): cannot write standard output: it is closed\n", "\(tool): \(result.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: out), "no sample file written")
}

/// Past a file-size limit (as on a full disk) vae-sample reports the write and leaves no
/// temporary file, instead of dying of SIGXFSZ half-way.
@Test func aSampleFilePastTheFileSizeLimitIsOneError() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let out = scratch + "/samples.idx"
    // 100 images are 78 KB; ulimit -f counts 1024-byte blocks.
    let result = try runToolWithFileSizeLimit("vae-sample", ["--run-dir", fixtureRun("latent2"),
                                                             "--count", "100", "--sampler", "prior", "--out", out], blocks: 20)
    #expect(result.status == 73, "\(result.stderr)")
    #expect(result.stderr == "vae-sample: cannot write \(scratch)/samples.idx: File too large\n")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty, "nothing left behind")
    // A temporary file that cannot be created is named after the file asked for: a name of 250
    // bytes is allowed, its temporary's (".name.partial") is not.
    let name = String(repeating: "s", count: 246) + ".idx"
    let long = scratch + "/" + name, temporary = scratch + "/." + name + temporaryFileSuffix
    let tooLong = try runTool("vae-sample", ["--run-dir", fixtureRun("latent2"), "--count", "2", "--sampler", "prior", "--out", long])
    #expect(tooLong.status == 73 && tooLong.stderr == "vae-sample: cannot write \(long): cannot create its temporary file \(temporary): "
            + "File name too long\n", "\(tooLong.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty, "nothing left behind")
    // Through a link to such a file (earlier samples), the error names the link given.
    write(encodeIDX(magic: idxImagesMagic, dimensions: [1, 28, 28], payload: [UInt8](repeating: 0, count: 784)), to: long)
    let link = scratch + "/samples.idx"
    #expect(symlink(long, link) == 0)
    let linked = try runTool("vae-sample", ["--run-dir", fixtureRun("latent2"), "--count", "2", "--sampler", "prior", "--out", link])
    #expect(linked.status == 73 && linked.stderr == "vae-sample: cannot write \(link): cannot create its temporary file \(temporary): "
            + "File name too long\n", "\(linked.stderr)")
}

/// Only the names vae-train writes are checkpoints: a stray `epoch-31.safetensors` is not the
/// last epoch, and a listed checkpoint that cannot be read is one line, not a crash.
@Test func strayFilesInTheCheckpointsFolderAreNotEpochs() throws {
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    #expect(run.checkpointEpochs() == [1, 2, 3])
    for stray in ["epoch-31", "epoch-00031", "epoch-+031", "epoch-0000", "epoch--001"] {
        try FileManager.default.copyItem(atPath: run.checkpoint(epoch: 1), toPath: run.checkpointsFolder + "/\(stray).safetensors")
    }
    #expect(run.checkpointEpochs() == [1, 2, 3])
    let out = run.path + "/samples.idx"
    let result = try runTool("vae-sample", ["--run-dir", run.path, "--data", syntheticData, "--count", "3", "--out", out])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("of epoch 3 of"), "\(result.stdout)")

    try FileManager.default.createSymbolicLink(atPath: run.checkpoint(epoch: 31), withDestinationPath: run.path + "/gone")
    let dangling = try runTool("vae-sample", ["--run-dir", run.path, "--data", syntheticData, "--count", "3", "--out", out])
    #expect(dangling.status == 66)
    #expect(dangling.stderr == "vae-sample: cannot open \(run.checkpoint(epoch: 31)): it is a symbolic link to \(run.path)/gone, "
            + "which does not exist\n", "\(dangling.stderr)")
    let missing = try runTool("vae-sample", ["--run-dir", run.path, "--data", syntheticData, "--count", "3", "--out", out, "--epoch", "9"])
    #expect(missing.status == 66)
    #expect(missing.stderr == "vae-sample: --epoch 9: \(run.checkpoint(epoch: 9)) does not exist (the run has epochs 1, 2, 3 and 31)\n")
}

/// vae-sample checks its checkpoint as vae-render does: the epoch its name says, the run's configuration.
@Test func aMislabelledOrForeignCheckpointIsRefused() throws {
    let run = try copyOfFixtureRun("latent2")
    defer { removeTemporaryFolder(run.path) }
    let out = run.path + "/samples.idx"
    let final = run.checkpoint(epoch: 3)
    try FileManager.default.removeItem(atPath: final)
    try FileManager.default.copyItem(atPath: run.checkpoint(epoch: 1), toPath: final)
    let mislabelled = try runTool("vae-sample", ["--run-dir", run.path, "--data", syntheticData, "--count", "3", "--out", out])
    #expect(mislabelled.status == 65)
    #expect(mislabelled.stderr == "vae-sample: \(final) holds epoch 1, not the epoch 3 its name says\n")

    try FileManager.default.removeItem(atPath: final)
    try FileManager.default.copyItem(atPath: RunDirectory(fixtureRun("latent3")).checkpoint(epoch: 3), toPath: final)
    let foreign = try runTool("vae-sample", ["--run-dir", run.path, "--data", syntheticData, "--count", "3", "--out", out])
    #expect(foreign.status == 65)
    #expect(foreign.stderr.hasPrefix("vae-sample: \(final) comes from a different configuration than \(run.checkpoint(epoch: 1)): "),
            "\(foreign.stderr)")
    #expect(!FileManager.default.fileExists(atPath: out))

    // A damaged first checkpoint, read only to check the one asked for against it, says so.
    try writeFileAtomically(Array(try readFile(run.checkpoint(epoch: 1)).prefix(1000)), to: run.checkpoint(epoch: 1))
    let damagedFirst = try runTool("vae-sample", ["--run-dir", run.path, "--data", syntheticData, "--count", "3", "--out", out, "--epoch", "2"])
    #expect(damagedFirst.status == 65)
    #expect(damagedFirst.stderr.hasPrefix("vae-sample: \(run.checkpoint(epoch: 1)): the file is cut short")
            && damagedFirst.stderr.hasSuffix(" (the run's first checkpoint, which epoch 2's is checked against)\n"), "\(damagedFirst.stderr)")
}

@Test func classifierAndQualityCommands() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let path = scratch + "/classifier.safetensors"
    let trained = try runTool("vae-classifier", ["--data", syntheticData, "--epochs", "2", "--out", path, "--threads", "2"])
    #expect(trained.status == 0, "\(trained.stderr)")
    // Its start as vae-train's: what is trained on what; then a line per epoch, as vae-train's too.
    let lines = trained.stdout.split(separator: "\n")
    #expect(lines.first.map(String.init) == "vae-classifier: CNN (32, 64 channels, dense 128) on the 600 training images of \(syntheticData), batch 64, "
            + "Adam 0.001, seed 0, 2 epochs, 2 threads, into \(path)", "\(trained.stdout)")
    #expect(lines.count == 4 && lines[1].hasPrefix("epoch 1/2  cross-entropy ") && lines[2].hasPrefix("epoch 2/2  cross-entropy ")
            && lines[2].hasSuffix(" s") && lines[3].hasPrefix("test accuracy"), "\(trained.stdout)")
    // The mean cross-entropy per image: of ten classes, it starts near log 10 = 2.30 and falls.
    let losses = lines[1...2].compactMap { Double($0.split(separator: " ").dropFirst(3).first ?? "") }
    #expect(losses.count == 2 && losses[0] > 0.5 && losses[0] < 2.5 && losses[1] < losses[0], "\(losses)")
    var metadata = try readSafetensors(path).metadata
    // The accuracy it records is on the test images, which it did not learn from.
    let testImages = try KMNIST.load(from: syntheticData).test
    let accuracy = classifierAccuracy(try readClassifier(path).classifier, testImages)
    #expect(metadata["test_accuracy"].flatMap(Double.init) == accuracy, "\(metadata) against \(accuracy)")
    // Every fact of how it was made, as given and as the defaults are.
    #expect(metadata.removeValue(forKey: dataChecksumKey)?.count == 8)
    metadata["test_accuracy"] = nil
    #expect(metadata == ["format": classifierFormat, "seed": "0", "epochs": "2", "max_shift": "2", "batch_size": "64",
                         "learning_rate": "0.001", "train_images": "600", "test_images": "100", "test_md5": testImages.md5], "\(metadata)")

    let checkpoint = fixtureRun("latent3") + "/checkpoints/epoch-0003.safetensors"
    let result = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--quality", "--classifier", path,
                                          "--quality-samples", "300"])
    #expect(result.status == 0, "\(result.stderr)")
    // Off a terminal, no progress: stderr stays empty (qualityProgressIsDrawnOnATerminal has the terminal).
    #expect(result.stderr.isEmpty, "\(result.stderr)")
    let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| images") && !$0.hasPrefix("| ---") }
    // Test and training images, reconstructions, the prior, each GMM and the two-stage sampler at temperatures 1 and the
    // GIF's, the GIF's cells; the interpolation GIF's in-between images and 300 random pairs' midpoints, each on the
    // straight and the spherical path and crossfaded.
    try #require(rows.count == 17, "\(result.stdout)")
    // 100 test images are too few for an FD of 128 features, as a set or as the reference of the
    // column "FD to test", which is "–" throughout; 600 training images are not, half to half either.
    #expect(rows.allSatisfy { $0.split(separator: "|").dropLast().last!.trimmingCharacters(in: .whitespaces) == "–" }, "\(result.stdout)")
    #expect(rows[0].hasPrefix("| test images (FD to test: first half to second half) | 100 |"), "\(rows[0])")
    #expect(rows[1].hasPrefix("| training images (what the model and the classifier learned from; FD to training: half to half) | 600 |"),
            "\(rows[1])")
    // The training images' distance to themselves, computed here: the first 300 images' features to the last 300's.
    let trainingFeatures = try readClassifier(path).classifier.predict(try KMNIST.load(from: syntheticData).train.intensities).features
    let half = 300 * Classifier.featureCount
    let selfDistance = try #require(featureDistance(Array(trainingFeatures[..<half]),
                                                    to: FeatureStatistics(features: Array(trainingFeatures[half...]), dimension: Classifier.featureCount)))
    #expect(rows[1].hasSuffix(String(format: "| %.1f |", selfDistance)), "\(rows[1]) against \(selfDistance)")
    #expect(rows.filter { $0.contains("(the GIF's sampler)") }.count == 1)
    #expect(rows.contains { $0.contains("gmm samples") && $0.contains("temperature \(defaultSamplingTemperature) (the GIF's sampler) | 300 |") })
    #expect(rows[10].hasPrefix("| the sampling GIF's cells | 25 |") && rows[10].hasSuffix("| – | – |"), "\(rows[10])")
    // The interpolation rows score what they name: the GIF's 10 pairs at t = 1/16 to 15/16 (150 images, too few for
    // an FD), and 300 pairs' midpoints.
    let scorer = try readClassifier(path).classifier
    let loaded = try LoadedFixture("latent3")
    let gifPairs = defaultInterpolationPairs(labels: loaded.test.labels), size = VAEConfig.inputSize
    #expect(gifPairs.count == 10)
    let straight = decodeInterpolations(gifPairs, steps: 16, spherical: false, model: loaded.replay.final.model, test: loaded.test,
                                        codec: loaded.codec)
    let crossfaded = crossfadedInBetween(gifPairs, steps: 16, test: loaded.test)
    for (row, images) in [(rows[11], Array(straight[10 * size..<160 * size])), (rows[13], crossfaded)] {
        let confidence = meanConfidence(scorer, images)
        #expect(row.contains(String(format: "| 150 | %.3f |", confidence)) && row.hasSuffix("| – | – |"),
                "\(row) against a mean confidence of \(confidence)")
    }
    #expect(rows[11].hasPrefix("| the interpolation GIF's in-between images (10 pairs, t = 1/16 to 15/16), straight path |"))
    #expect(rows[12].hasPrefix("| the interpolation GIF's in-between images (10 pairs, t = 1/16 to 15/16), spherical path (the GIF's) |"))
    #expect(rows[13].hasPrefix("| the interpolation GIF's in-between images (10 pairs, t = 1/16 to 15/16), pixels crossfaded (no model) |"))
    for (row, path) in zip(rows[14...], ["straight path", "spherical path (the GIF's)", "pixels crossfaded (no model)"]) {
        #expect(row.hasPrefix("| midpoints of 300 random test pairs, \(path) | 300 |") && !row.hasSuffix("| – |"), "\(row)")
    }
    // The rows score the images they name against the references they name: the test images'
    // reconstructions from their encoder means, and the GIF's sampler drawn at the GIF's temperature.
    let model = loaded.replay.final.model, training = try KMNIST.load(from: syntheticData).train
    let testReference = FeatureStatistics(features: scorer.predict(loaded.test.intensities).features, dimension: Classifier.featureCount)
    let trainingReference = FeatureStatistics(features: trainingFeatures, dimension: Classifier.featureCount)
    /// 100 images are too few for a distance ("–"), as a set or as a reference; 300 are not.
    func expectScores(_ row: Substring, _ images: [Float]) {
        let features = scorer.predict(images).features
        let distances = [testReference, trainingReference].map { reference in
            featureDistance(features, to: reference).map { String(format: "%.1f", $0) } ?? "–"
        }
        let confidence = String(format: "| %d | %.3f | ", images.count / size, meanConfidence(scorer, images))
        let both = "| \(distances[0]) | \(distances[1]) |"
        #expect(row.contains(confidence) && row.hasSuffix(both), "\(row) against \(confidence) and \(both)")
    }
    #expect(rows[2].hasPrefix("| reconstructions of the test images | 100 |"), "\(rows[2])")
    expectScores(rows[2], loaded.codec.decodeMeans(model, z: loaded.codec.encodeMeans(model, images: loaded.test), labels: nil))
    var draws = Random(seed: 0)
    let gifSampler = try makeSampler(.gmm, model: model, codec: loaded.codec, training: training, seed: 0)
    let drawn = gifSampler.tempered(defaultSamplingTemperature).sample(count: 300, random: &draws)
    expectScores(try #require(rows.first { $0.contains("(the GIF's sampler)") }),
                     loaded.codec.decodeMeans(model, z: drawn.z, labels: drawn.labels))
    // A sampler's distance to the 600 training images is a number.
    let samplerDistances = rows.filter { $0.contains("samples") }.map { $0.split(separator: "|").last! }
    #expect(samplerDistances.allSatisfy { Double($0.trimmingCharacters(in: .whitespaces)) != nil }, "\(result.stdout)")

    // --temperature replaces the two default temperatures of the samplers that take one, in the order given.
    let tempered = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--quality", "--classifier", path,
                                            "--quality-samples", "300", "--temperature", "1.3", "--temperature", "0.8",
                                            "--temperature", "\(defaultSamplingTemperature)"])
    #expect(tempered.status == 0, "\(tempered.stderr)")
    let gmmTemperatures = tempered.stdout.split(separator: "\n").filter { $0.hasPrefix("| gmm samples") }
        .map { $0.split(separator: "|")[0].split(separator: "temperature ")[1].prefix(4) }
    #expect(gmmTemperatures == ["1.3 ", "0.8 ", "1.15"], "\(tempered.stdout)")
    #expect(tempered.stdout.split(separator: "\n").filter { $0.hasPrefix("| ") }.count == 2 + 20, "\(tempered.stdout)")
    #expect(tempered.stdout.contains("| prior samples | 300 |"), "the prior takes no temperature and keeps its one row")
    // By default, 10,000 draws of each sampler (vae-eval --help).
    let byDefault = try runTool("vae-eval", [checkpoint, "--data", syntheticData, "--quality", "--classifier", path])
    #expect(byDefault.status == 0 && byDefault.stdout.contains("| prior samples | 10000 |"), "\(byDefault.stdout)")

    let refused = try runTool("vae-eval", [checkpoint, "--quality"])
    #expect(refused.status == 64 && refused.stderr.contains("--quality and --classifier go together"))

    // Without the training files the error says why --quality needs them (vae-eval has no --sampler to suggest).
    let testOnly = scratch + "/test-only"
    try FileManager.default.createDirectory(atPath: testOnly, withIntermediateDirectories: true)
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        try FileManager.default.createSymbolicLink(atPath: testOnly + "/" + name, withDestinationPath: syntheticData + "/" + name)
    }
    let untrained = try runTool("vae-eval", [checkpoint, "--data", testOnly, "--quality", "--classifier", path])
    #expect(untrained.status == 66 && untrained.stderr == "vae-eval: KMNIST training files missing in \(testOnly): "
            + "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz; --quality scores the training images and fits the samplers "
            + "to them (point --data or KMNIST_DIR at the folder the run was trained on)\n", "\(untrained.stderr)")

    // Test images of the same count that are not the run's (inverted) are refused before the first line. (The
    // fixture runs record no MD5s; this copy of the checkpoint records the synthetic data's.)
    let test = try KMNIST.load(from: syntheticData).test
    let fixture = try readCheckpoint(checkpoint)
    var recorded = fixture.run
    recorded.testMD5 = test.md5
    let recording = scratch + "/recording.safetensors"
    try writeCheckpoint(fixture.model, run: recorded, metrics: fixture.metrics, to: recording)
    let other = scratch + "/other"
    try FileManager.default.copyItem(atPath: syntheticData, toPath: other)
    try FileManager.default.removeItem(atPath: other + "/t10k-images-idx3-ubyte.gz")
    write(gzipCompress(encodeIDX(magic: idxImagesMagic, dimensions: [test.count, 28, 28], payload: test.pixels.map { 255 - $0 })),
          to: other + "/t10k-images-idx3-ubyte.gz")
    let foreign = try runTool("vae-eval", [recording, "--data", other, "--quality", "--classifier", path, "--quality-samples", "300"])
    #expect(foreign.status == 64 && foreign.stdout.isEmpty, "\(foreign.stdout)")
    #expect(foreign.stderr.hasPrefix("vae-eval: the test images and labels in \(other) are not the ones the run was trained on (md5 "),
            "\(foreign.stderr)")
}

/// Weights that are finite but whose sums overflow Float (a hand-made or damaged file) are
/// refused with one line where an infinity would crash or hang a tool: the latent map's axis
/// range, a sampler fitted to the encoded training images. Nothing is written.
@Test func weightsWhoseSumsOverflowFloatAreRefused() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let run = scratch + "/run", run3 = scratch + "/run3", out = scratch + "/out"
    try FileManager.default.copyItem(atPath: fixtureRun("latent2"), toPath: run)
    try FileManager.default.copyItem(atPath: fixtureRun("latent3"), toPath: run3)
    let final = RunDirectory(run).checkpoint(epoch: 3), final3 = RunDirectory(run3).checkpoint(epoch: 3)
    let overflow = "the weights in \(final) are finite but overflow Float in the network's sums\n"
    // Two hidden units of the encoder at 3e38 for every image, which the first mean adds up to +inf.
    for checkpoint in [final, final3] {
        let fixture = try readCheckpoint(checkpoint)
        let layers = fixture.model.layout.encoder, p = fixture.model.parameters.pointer
        for unit in 0..<2 {
            for i in 0..<layers[0].inputs { p[layers[0].weightOffset + unit * layers[0].inputs + i] = 0 }
            p[layers[0].biasOffset + unit] = 3e38
            p[layers[1].weightOffset + unit] = 3e38
        }
        try writeCheckpoint(fixture.model, run: fixture.run, metrics: fixture.metrics, to: checkpoint)
    }
    let map = try runTool("vae-render", ["--latent-map", "--run-dir", run, "--data", syntheticData, "--out", out])
    #expect(map.status == 65 && map.stderr == "vae-render: the final model's mean of test image 0 is inf: " + overflow, "\(map.stderr)")
    let sampling = try runTool("vae-render", ["--sampling", "--run-dir", run, "--data", syntheticData, "--out", out])
    #expect(sampling.status == 65 && sampling.stderr == "vae-render: the encoder's mean of a training image (1 of 600) is inf: " + overflow,
            "\(sampling.stderr)")
    // The principal plane of a latent space of 3 comes from the encoded test means (the eigensolver crashed on their NaN).
    let plane = try runTool("vae-render", ["--sampling", "--sampler", "plane", "--run-dir", run3, "--data", syntheticData, "--out", out])
    #expect(plane.status == 65 && plane.stderr == "vae-render: the final model's mean of test image 0 is inf: the weights in \(final3) "
            + "are finite but overflow Float in the network's sums\n", "\(plane.stderr)")
    #expect(PathKind(out) == .nothing)
    // vae-eval scores no such model: it would print NaN nats and exit 0.
    let eval = try runTool("vae-eval", [final, "--data", syntheticData, "--k", "5"])
    #expect(eval.status == 65 && eval.stderr == "vae-eval: the negative ELBO is NaN: " + overflow, "\(eval.stderr)")
    #expect(!eval.stdout.contains("nats"), "\(eval.stdout)")
}
