import Foundation
import Testing
import TestSupport
@testable import VAECore

// vae-train as a user runs it: the built executable, its exit codes and its messages.

/// 1,025 hidden layers of width 1: one more than a checkpoint may hold.
private let sigmaRefusal = "--sigma must be a positive number from 1.1e-19 to 9.2e18 (its square and the square's inverse must be "
    + "normal Floats), got "
private let oneLayerTooMany = [String](repeating: "1", count: 1025).joined(separator: ",")

@Test(arguments: [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--latent-dim", "0"], "--latent-dim must be between 1 and 784, got 0"),
    // Wider than a checkpoint's code may be: such a run trained, and the renderers asked for 34 GB.
    (["--latent-dim", "785"], "--latent-dim must be between 1 and 784, got 785"),
    (["--hidden", "512,70000"], "--hidden must be between 1 and 65536, got 70000"),
    (["--hidden", oneLayerTooMany], "--hidden may name at most 1024 layers, got 1025"),
    // Widths H1, H2, latent L, K pseudo-inputs: 784H1 + H1 and H1H2 + H2 in, 2LH2 + 2L to the
    // head, LH2 + H2, H2H1 + H1 and 784H1 + 784 out, and 784K.
    (["--hidden", "65536,65536"], "the model would have 8699641488 parameters, more than the 250000000 a training run takes"),
    (["--hidden", "65536", "--prior", "normal", "--latent-dim", "784"], "the model would have 257034544 parameters"),
    (["--likelihood", "poisson"], "--likelihood"),
    (["--hidden", "512,,256"], "--hidden"),
    (["--hidden", "-3"], "--hidden must be between 1 and 65536, got -3"),
    (["--hidden", "512,0"], "--hidden must be between 1 and 65536, got 0"),
    (["--batch-size=-3"], "--batch-size must be between 1 and 1000000, got -3"),
    // A negative number after a space is the option's value, not a flag: its range is named.
    (["--batch-size", "-3"], "--batch-size must be between 1 and 1000000, got -3"),
    (["--lr", "-0.001"], "--lr must be a positive number"),
    (["--seed", "-1"], "The value '-1' is invalid for '--seed <n>'"),
    (["--batch-size", "1000000000"], "--batch-size must be between 1 and 1000000, got 1000000000"),
    (["--lr", "0"], "--lr must be a positive number"),
    (["--lr", "1e-320"], "--lr must be a positive number a Float can hold, got 1e-320"),
    (["--beta", "1e39"], "--beta must be 0 or a positive number a Float can hold, got 1e+39"),
    (["--beta", "1e-40"], "--beta must be 0 or a positive number a Float can hold, got 1e-40"),
    (["--beta", "-1"], "--beta must be 0 or a positive number a Float can hold, got -1.0"),
    (["--resume", ""], "--resume must name a folder"),
    (["--download-url", "ftp://mirror/kmnist/"], "--download-url must be an http, https or file URL, got ftp://mirror/kmnist/"),
    (["--download-url", ""], "--download-url must be an http, https or file URL, got an empty string"),
    (["--no-download", "--download-url", "file:///mirror/"], "--download-url names where to download from, and --no-download forbids it"),
    (["--preset", "huge"], "--preset"),
    (["--iwae-k", "9000"], "--iwae-k must be between 0 and 5000"),
    (["--threads", "0"], "--threads must be between 1 and 256"),
    (["--threads", "100000"], "--threads must be between 1 and 256"),
    (["--resume", "runs/x", "--overwrite"], "--resume and --overwrite contradict each other"),
    (["--arch", "cnn"], "--arch"),
    (["--arch", "conv", "--likelihood", "gaussian"], "--likelihood gaussian needs --arch mlp"),
    (["--preset", "conv", "--likelihood", "gaussian"], "--likelihood gaussian needs --arch mlp"),
    (["--prior", "laplace"], "--prior"),
    (["--prior", "normal", "--pseudo-inputs", "10"], "--pseudo-inputs applies to --prior vamp"),
    (["--preset", "conv", "--pseudo-inputs", "10"], "--pseudo-inputs applies to --prior vamp"),
    (["--conditional", "--pseudo-inputs", "10"], "--pseudo-inputs applies to --prior vamp"),
    (["--prior", "vamp", "--pseudo-inputs", "0"], "--pseudo-inputs must be between 1 and 5000, got 0"),
    (["--prior", "vamp", "--conditional"], "--prior vamp cannot be combined with --conditional"),
    (["--objective", "elbo", "--train-k", "3"], "--train-k applies to --objective iwae"),
    (["--objective", "iwae", "--train-k", "101"], "--train-k must be between 1 and 100, got 101"),
    (["--objective", "iwae", "--conditional"], "--objective iwae cannot be combined with --conditional"),
    (["--objective", "iwae", "--kl-warmup", "2"], "--beta and --kl-warmup weight the ELBO's KL term; --objective iwae has none"),
    (["--objective", "iwae", "--beta", "1", "--kl-warmup", "1"], "--beta and --kl-warmup weight the ELBO's KL term; --objective iwae has none"),
    (["--objective", "iwae", "--beta", "0.5", "--kl-warmup", "0"], "--beta and --kl-warmup weight the ELBO's KL term; --objective iwae has none "
                                                                  + "(it takes only --beta 1 and --kl-warmup 0, which change nothing)"),
    (["--augment-shift", "5"], "--augment-shift must be between 0 and 4, got 5"),
    (["--augment-shift=-1"], "--augment-shift must be between 0 and 4, got -1"),
    // A run with these would train and record values its checkpoints' reader refuses.
    (["--likelihood", "gaussian-fixed", "--sigma", "0"], "\(sigmaRefusal)0.0"),
    (["--likelihood", "gaussian-fixed", "--sigma=-0.1"], "\(sigmaRefusal)-0.1"),
    (["--likelihood", "gaussian-fixed", "--sigma", "inf"], "\(sigmaRefusal)inf"),
    (["--likelihood", "gaussian-fixed", "--sigma", "1.05e-19"], "\(sigmaRefusal)1.05e-19"),
    (["--likelihood", "gaussian-fixed", "--sigma", "9.3e18"], "\(sigmaRefusal)9.3e+18"),
    (["--kl-warmup=-1"], "--kl-warmup must be at least 0, got -1"),
    (["--resume", "runs/x", "--run-dir", "runs/y"], "--run-dir and --resume name different folders"),
])
func invalidFlagsAreRefusedBeforeAnyWork(arguments: [String], message: String) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let runDir = scratch + "/run"
    let location = arguments.contains("--resume") ? [] : ["--run-dir", runDir]
    let result = try runTool("vae-train", arguments + location + ["--data", "/nonexistent", "--no-download"])
    #expect(result.status == 64, "exit \(result.status): \(result.stderr)")
    #expect(result.stderr.contains(message), "\(result.stderr)")
    #expect(result.stderr.hasPrefix("vae-train: ") && result.stderr.filter { $0 == "\n" }.count == 1, "one line: \(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: runDir))
}

/// The largest values the flags allow pass their checks (a checkpoint may hold them): what is
/// then refused is the data folder that is not there.
@Test(arguments: [["--hidden", [String](repeating: "1", count: 1024).joined(separator: ",")], ["--latent-dim", "784"]])
func theFlagsLargestValuesAreAccepted(arguments: [String]) throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool("vae-train", arguments + ["--prior", "normal", "--run-dir", scratch + "/run", "--data", scratch + "/none",
                                                       "--no-download"])
    #expect(result.status == 66 && result.stderr.hasPrefix("vae-train: the data folder \(scratch)/none does not exist"), "\(arguments[0]): \(result.stderr)")
}

/// A bad flag is one line like every other error: the tool, what is wrong, where to read more.
/// A value that does not parse, or is missing, is told with the flag's help, which gives its
/// range or form; not beside the list of values of a flag that takes names.
@Test(arguments: [
    ("vae-train", ["--batch-size", "-3"], "--batch-size must be between 1 and 1000000, got -3"),
    ("vae-train", ["--epochs", "abc"], "The value 'abc' is invalid for '--epochs <n>': Number of passes over the training set "
                                       + "(at least 1; default: 30; with --resume, the run's own)"),
    ("vae-sample", ["--count"], "Missing value for '--count <n>': Images to write, 1 to 1000000"),
    ("vae-train", ["--prior", "uniform"], "The value 'uniform' is invalid for '--prior <name>'. Please provide one of 'normal' and 'vamp'."),
    ("vae-eval", [], "Missing expected argument '<checkpoint>'"),
    ("vae-render", ["--all", "--run-dir", "run", "--scale", "17"], "--scale must be between 1 and 16, got 17"),
])
func aBadFlagIsOneLineNamingTheToolAndWhereToReadMore(tool: String, arguments: [String], message: String) throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let result = try runTool(tool, arguments, workingDirectory: folder)
    #expect(result.status == 64)
    #expect(result.stderr == "\(tool): \(message) (see \(tool) --help)\n")
    #expect(result.stdout.isEmpty)
}

/// A run that trains, but not as its flags suggest, says so on standard error and trains: a
/// batch larger than the training set (600 synthetic images), a KL warm-up past the last epoch
/// or up to a KL weight of 0.
/// --beta 1 and --kl-warmup 0, the values that change nothing, go with --objective iwae, which
/// has no KL term to weight: a script that always passes them can add the objective.
@Test func theKLTermsNeutralFlagsGoWithTheIWAEObjective() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let result = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder + "/run", "--epochs", "1",
                                           "--hidden", "8", "--latent-dim", "2", "--prior", "normal", "--iwae-k", "0",
                                           "--objective", "iwae", "--train-k", "2", "--beta", "1", "--kl-warmup", "0"])
    #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
    #expect(try readCheckpoint(RunDirectory(folder + "/run").checkpoint(epoch: 1)).run.objective == .iwae)
}

@Test func flagsThatCannotMeanWhatTheySayAreWarnedAbout() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let result = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder + "/run", "--epochs", "2",
                                           "--hidden", "8", "--latent-dim", "2", "--batch-size", "1000", "--kl-warmup", "3"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr == "vae-train: warning: --batch-size 1000 is more than the 600 training images: each epoch is one step "
            + "over all of them\nvae-train: warning: --kl-warmup 3 is longer than the run's 2 epochs: the KL weight ends at 0.667 "
            + "of --beta\n", "\(result.stderr)")
    let quiet = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder + "/quiet", "--epochs", "2",
                                          "--hidden", "8", "--latent-dim", "2", "--batch-size", "600", "--kl-warmup", "2"])
    #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
    // A warm-up to a weight of 0 is no warm-up, however long.
    let toZero = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder + "/zero", "--epochs", "1",
                                           "--hidden", "8", "--latent-dim", "2", "--batch-size", "600", "--beta", "0", "--kl-warmup", "3"])
    #expect(toZero.status == 0 && toZero.stderr == "vae-train: warning: --kl-warmup 3 ramps the KL weight up to --beta 0: "
            + "it stays 0 throughout\n", "\(toZero.stderr)")
}

/// A resumed run keeps its configuration: a flag that contradicts the state is refused with
/// the field and both values, before any data is read; a flag that repeats it is accepted; data
/// of another size is refused by its counts. Nothing of the run changes on a refusal.
@Test func resumingChecksTheFlagsAndTheDataAgainstTheRun() throws {
    let scratch = temporaryFolder(), otherData = temporaryFolder()
    defer { [scratch, otherData].forEach(removeTemporaryFolder) }
    let folder = scratch + "/run"
    let common = ["--no-download", "--threads", "1", "--iwae-k", "0"]
    let first = try runTool("vae-train", ["--data", syntheticData, "--run-dir", folder, "--epochs", "1", "--hidden", "32",
                                          "--latent-dim", "4", "--batch-size", "100", "--prior", "normal"] + common)
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stdout.hasPrefix("vae-train: mlp 784-32-4 relu, bernoulli, batch 100, lr 0.001, seed 0, 1 epoch, "
                                   + "600 train / 100 test images, 1 thread, into \(folder)\n"), "\(first.stdout)")
    let state = RunDirectory(folder).statePath
    let before = try readFile(state)

    let changes = [
        (["--hidden", "64"], "--hidden cannot change when resuming: \(state) has hidden 32, --hidden asks for 64"),
        (["--latent-dim", "5"], "--latent-dim cannot change when resuming: \(state) has latent_dim 4, --latent-dim asks for 5"),
        (["--batch-size", "50"], "--batch-size cannot change when resuming: \(state) has batch_size 100, --batch-size asks for 50"),
        (["--lr", "0.01"], "--lr cannot change when resuming: \(state) has learning_rate 0.001, --lr asks for 0.01"),
        (["--likelihood", "gaussian"], "--likelihood cannot change when resuming: \(state) has likelihood bernoulli, "
            + "--likelihood asks for gaussian"),
        (["--kl-warmup", "3"], "--kl-warmup cannot change when resuming: \(state) has kl_warmup_epochs 0, --kl-warmup asks for 3"),
        (["--binarize", "dynamic"], "--binarize cannot change when resuming: \(state) has binarize none, --binarize asks for dynamic"),
        (["--arch", "conv"], "--arch cannot change when resuming: \(state) has arch mlp, --arch asks for conv"),
        (["--preset", "conv"], "--preset cannot change when resuming: \(state) has preset default, --preset asks for conv"),
        (["--seed", "7"], "--seed cannot change when resuming: \(state) has seed 0, --seed asks for 7"),
        (["--beta", "2"], "--beta cannot change when resuming: \(state) has beta 1.0, --beta asks for 2.0"),
        (["--conditional"], "--conditional cannot change when resuming: \(state) has conditional false, --conditional asks for true"),
        (["--prior", "vamp"], "--prior cannot change when resuming: \(state) has prior normal, --prior asks for vamp"),
        (["--objective", "iwae"], "--objective cannot change when resuming: \(state) has objective elbo, --objective asks for iwae"),
        (["--augment-shift", "1"], "--augment-shift cannot change when resuming: \(state) has augment_shift 0, --augment-shift asks for 1"),
        (["--pseudo-inputs", "500"], "--pseudo-inputs applies to --prior vamp, and \(folder) has prior normal"),
        (["--train-k", "5"], "--train-k applies to --objective iwae, and \(folder) has objective elbo"),
        (["--sigma", "0.1"], "--sigma applies only to --likelihood gaussian-fixed, and \(folder) has likelihood bernoulli"),
    ]
    // Every flag that identifies a run is tried: vae-train lists the flags it was given apart from
    // RunConfig.fields, and one missing there would be ignored on --resume.
    let identifying = RunConfig.fields.compactMap { field -> String? in
        guard field.identifiesRun, case .flag(let flag) = field.source else { return nil }
        return flag
    }
    #expect(Set(identifying) == Set(changes.map { $0.0[0] }), "\(identifying)")
    for (flags, message) in changes {
        // A data folder that does not exist: the flags are checked first.
        let refused = try runTool("vae-train", ["--resume", folder, "--data", "/nonexistent", "--epochs", "2"] + flags + common)
        #expect(refused.status == 64, "\(flags): exit \(refused.status): \(refused.stderr)")
        #expect(refused.stderr == "vae-train: \(message)\n", "\(flags)")
    }
    let small = ImageSet(pixels: [UInt8](repeating: 0, count: 10 * 784), labels: [UInt8](repeating: 0, count: 10))
    for split in ["train", "t10k"] { writeSplit(small, split: split, in: otherData) }
    let wrongData = try runTool("vae-train", ["--resume", folder, "--data", otherData, "--epochs", "2"] + common)
    #expect(wrongData.status == 64, "\(wrongData.stderr)")
    #expect(wrongData.stderr.contains("was trained on 600 training and 100 test images, but the data holds 10 and 10"),
            "\(wrongData.stderr)")
    // The same counts, other training images (inverted): refused by the MD5 the run recorded.
    let data = try KMNIST.load(from: syntheticData)
    #expect(try readCheckpoint(RunDirectory(folder).checkpoint(epoch: 1)).run.trainMD5 == data.train.md5)
    #expect(try readTrainingState(state).run.testMD5 == data.test.md5)
    let inverted = ImageSet(pixels: data.train.pixels.map { 255 - $0 }, labels: data.train.labels)
    for (set, split) in [(inverted, "train"), (data.test, "t10k")] { writeSplit(set, split: split, in: otherData) }
    let sameCounts = try runTool("vae-train", ["--resume", folder, "--data", otherData, "--epochs", "2"] + common)
    #expect(sameCounts.status == 64, "\(sameCounts.stderr)")
    #expect(sameCounts.stderr == "vae-train: the training images and labels in \(otherData) are not the ones the run was "
            + "trained on (md5 \(inverted.md5), recorded \(data.train.md5)); pass the --data folder the run was trained on\n")
    expectIdentical(try readFile(state), before, "the state after the refusal")
    #expect(RunDirectory(folder).checkpointEpochs() == [1])
    // A killed writer's temporary files go, as they do when a resume trains.
    let leftovers = [folder + "/.state.safetensors" + temporaryFileSuffix, RunDirectory(folder).checkpointsFolder + "/.epoch-0002.safetensors"
                     + temporaryFileSuffix]
    for leftover in leftovers { write([1], to: leftover) }
    let finished = try runTool("vae-train", ["--resume", folder, "--data", syntheticData] + common)
    #expect(finished.status == 0 && finished.stdout == "vae-train: \(folder) has completed its 1 epoch; nothing to do "
            + "(--epochs N with N above 1 trains it further)\n", "\(finished.stdout)")
    #expect(leftovers.allSatisfy { PathKind($0) == .nothing })

    let missing = try runTool("vae-train", ["--resume", scratch + "/none"] + common)
    #expect(missing.status == 66)
    #expect(missing.stderr == "vae-train: cannot resume: the run folder \(scratch)/none does not exist\n")
    write([1], to: scratch + "/file")
    let file = try runTool("vae-train", ["--resume", scratch + "/file"] + common)
    #expect(file.status == 66)
    #expect(file.stderr == "vae-train: cannot resume: \(scratch)/file is a file, not a run folder\n")
    // Without its state a run cannot continue: a folder where no trainer started (no lock file) holds
    // no run; one stopped before writing anything is started again; one whose checkpoints remain
    // needs --overwrite (a new run is refused there).
    let stateless = RunDirectory(scratch + "/stateless")
    try FileManager.default.createDirectory(atPath: stateless.checkpointsFolder, withIntermediateDirectories: true)
    let neverStarted = try runTool("vae-train", ["--resume", stateless.path] + common)
    #expect(neverStarted.status == 66 && neverStarted.stderr == "vae-train: cannot resume: \(stateless.path) holds no run (vae-train "
            + "has not started one there); start one without --resume\n", "\(neverStarted.stderr)")
    write(Array("4242\n".utf8), to: stateless.lockPath)
    let empty = try runTool("vae-train", ["--resume", stateless.path] + common)
    #expect(empty.status == 66)
    #expect(empty.stderr == "vae-train: cannot resume: \(stateless.statePath) does not exist (the run was stopped before it had "
            + "written anything); start it again without --resume\n")
    #expect(unlink(stateless.lockPath) == 0)
    write(try readFile(RunDirectory(folder).checkpoint(epoch: 1)), to: stateless.checkpoint(epoch: 1))
    let checkpointsOnly = try runTool("vae-train", ["--resume", stateless.path] + common)
    #expect(checkpointsOnly.status == 66)
    #expect(checkpointsOnly.stderr == "vae-train: cannot resume: \(stateless.statePath) does not exist, though \(stateless.path) "
            + "holds checkpoints up to epoch 1, and a run continues only from its state; pass --overwrite instead of --resume "
            + "to train it again from the start\n")
    // A folder that is no run's (the data folder, say) is told as such, and gets no lock file.
    let dataFolder = try runTool("vae-train", ["--resume", otherData] + common)
    #expect(dataFolder.status == 66)
    #expect(dataFolder.stderr == "vae-train: cannot resume: \(otherData) is not a run folder (it holds t10k-images-idx3-ubyte.gz, "
            + "and no state.safetensors); --resume takes the folder that vae-train --run-dir wrote\n")
    for refused in [stateless.path, otherData] {
        #expect(!FileManager.default.fileExists(atPath: RunDirectory(refused).lockPath), "\(refused) got a lock file")
    }

    // A run whose record of its data folder is gone names the record rather than download into ./data/kmnist.
    let record = try readFile(RunDirectory(folder).dataFolderRecordPath)
    unlink(RunDirectory(folder).dataFolderRecordPath)
    let unrecorded = try runTool("vae-train", ["--resume", folder, "--epochs", "2", "--download-url", "file:///nonexistent/"],
                                 environment: ["KMNIST_DIR": ""], workingDirectory: scratch)
    #expect(unrecorded.status == 66, "\(unrecorded.stderr)")
    #expect(unrecorded.stderr == "vae-train: \(folder) records no data folder (\(folder)/data-folder is missing); "
            + "pass --data or set KMNIST_DIR to the folder the run was trained on\n")
    #expect(!FileManager.default.fileExists(atPath: scratch + "/data"))
    write(record, to: RunDirectory(folder).dataFolderRecordPath)

    // No download can give a run trained on other images than the official splits: refused
    // before a fetch, the folder not made. Nor is a run folder, given as --data, downloaded into.
    let emptyFolder = scratch + "/moved-data"
    let moved = try runTool("vae-train", ["--resume", folder, "--epochs", "2", "--download-url", "file:///nonexistent/"],
                            environment: ["KMNIST_DIR": emptyFolder])
    #expect(moved.status == 66 && moved.stderr == "vae-train: \(emptyFolder) lacks train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, and the run was trained on 600 training and 100 test images, "
            + "not the official 60000 and 10000 a download brings; point --data or KMNIST_DIR at the folder the run was trained on\n",
            "\(moved.status) \(moved.stderr)")
    #expect(!FileManager.default.fileExists(atPath: emptyFolder))
    // The same with --no-download, which would otherwise advise downloading the files into it.
    let notFetched = try runTool("vae-train", ["--resume", folder, "--epochs", "2", "--no-download"], environment: ["KMNIST_DIR": emptyFolder])
    #expect(notFetched.status == 66 && notFetched.stderr == moved.stderr, "\(notFetched.stderr)")
    // A file given as the folder is named as such, not as a folder lacking the run's files.
    let fileAsData = try runTool("vae-train", ["--resume", folder, "--epochs", "2", "--data", scratch + "/file"])
    #expect(fileAsData.status == 66 && fileAsData.stderr == "vae-train: \(scratch)/file is a file, not a folder of KMNIST files; "
            + "point --data or KMNIST_DIR at the folder\n", "\(fileAsData.stderr)")
    let runAsData = try runTool("vae-train", ["--data", folder, "--run-dir", scratch + "/new", "--download-url", "file:///nonexistent/"])
    #expect(runAsData.status == 66 && runAsData.stderr == "vae-train: \(folder) is a run folder of vae-train's, not a data folder: it lacks "
            + "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; "
            + "point --data or KMNIST_DIR at the KMNIST files\n", "\(runAsData.status) \(runAsData.stderr)")
    #expect(!FileManager.default.fileExists(atPath: scratch + "/new"))

    // --run-dir may repeat --resume's folder, spelled another way: here through a link to it.
    try FileManager.default.createSymbolicLink(atPath: scratch + "/link", withDestinationPath: folder)
    let repeated = try runTool("vae-train", ["--resume", folder, "--run-dir", scratch + "/link/", "--data", syntheticData, "--epochs", "2",
                                             "--hidden", "32", "--seed", "0"] + common)
    #expect(repeated.status == 0, "\(repeated.stderr)")
    #expect(RunDirectory(folder).checkpointEpochs() == [1, 2])

    // A checkpoint deleted by hand is not made again, and the resume says so.
    unlink(RunDirectory(folder).checkpoint(epoch: 1))
    let gap = try runTool("vae-train", ["--resume", folder, "--data", syntheticData, "--epochs", "3"] + common)
    #expect(gap.status == 0, "\(gap.stderr)")
    #expect(gap.stderr == "vae-train: warning: \(folder) holds no checkpoint of epoch 1 (deleted?), which a resume cannot make again: "
            + "the GIFs will have no frame of it\n")
    #expect(RunDirectory(folder).checkpointEpochs() == [2, 3])
    // The state's own epoch among them too, told together.
    unlink(RunDirectory(folder).checkpoint(epoch: 3))
    let gaps = try runTool("vae-train", ["--resume", folder, "--data", syntheticData, "--epochs", "4"] + common)
    #expect(gaps.status == 0, "\(gaps.stderr)")
    #expect(gaps.stderr == "vae-train: warning: \(folder) holds no checkpoint of epochs 1 and 3 (deleted?), which a resume cannot make "
            + "again: the GIFs will have no frame of them\n", "\(gaps.stderr)")
    #expect(RunDirectory(folder).checkpointEpochs() == [2, 4])
}

/// What the damaged-resume tests below pass to every vae-train run: the data, one thread, no estimate.
private let smallResumeFlags = ["--data", syntheticData, "--no-download", "--threads", "1", "--iwae-k", "0"]

/// A one-epoch run of a small network in `run` of a new temporary folder, for a test to damage
/// and resume: the folder (to remove) and the run folder.
private func trainOneSmallEpoch() throws -> (scratch: String, folder: String) {
    let scratch = temporaryFolder(), folder = scratch + "/run"
    let first = try runTool("vae-train", ["--run-dir", folder, "--epochs", "1", "--hidden", "32", "--latent-dim", "4",
                                          "--batch-size", "100", "--prior", "normal"] + smallResumeFlags)
    #expect(first.status == 0, "\(first.stderr)")
    return (scratch, folder)
}

/// A resume whose checkpoints folder cannot be listed (here a link to itself; another user's
/// folder without read permission takes the same path) is refused with the reason, not trained
/// as a run whose checkpoints were all deleted.
@Test func aResumeOfAnUnlistableCheckpointsFolderIsRefused() throws {
    let (scratch, folder) = try trainOneSmallEpoch(), common = smallResumeFlags
    defer { removeTemporaryFolder(scratch) }
    let checkpoints = RunDirectory(folder).checkpointsFolder
    try FileManager.default.moveItem(atPath: checkpoints, toPath: scratch + "/kept")
    #expect(symlink("checkpoints", checkpoints) == 0)
    let resumed = try runTool("vae-train", ["--resume", folder, "--epochs", "2"] + common)
    #expect(resumed.status == 66 && resumed.stderr == "vae-train: cannot read \(checkpoints): Too many levels of symbolic links\n",
            "exit \(resumed.status): \(resumed.stderr)")
}

/// A folder named as the temporary file of a checkpoint still to come, or of the state, is
/// refused before training: the resume trained its epoch and only then failed to write. One of a
/// name the run will not write is in nothing's way.
@Test func aFolderInTheWayOfATemporaryFileIsRefusedBeforeTraining() throws {
    let (scratch, folder) = try trainOneSmallEpoch(), common = smallResumeFlags
    defer { removeTemporaryFolder(scratch) }
    let run = RunDirectory(folder)
    for (blocked, temporary) in [(run.checkpoint(epoch: 3), run.checkpointsFolder + "/.epoch-0003.safetensors.partial"),
                                 (run.statePath, folder + "/.state.safetensors.partial")] {
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        let resumed = try runTool("vae-train", ["--resume", folder, "--epochs", "3"] + common)
        #expect(resumed.status == 73 && resumed.stderr == "vae-train: cannot write \(blocked): the folder \(temporary) is in the way "
                + "of its temporary file\n", "exit \(resumed.status): \(resumed.stderr)")
        #expect(run.checkpointEpochs() == [1])
        #expect(try readTrainingState(run.statePath).epoch == 1)
        try FileManager.default.removeItem(atPath: temporary)
    }
    let unused = run.checkpointsFolder + "/.epoch-0009.safetensors.partial"
    try FileManager.default.createDirectory(atPath: unused, withIntermediateDirectories: false)
    let resumed = try runTool("vae-train", ["--resume", folder, "--epochs", "2"] + common)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(run.checkpointEpochs() == [1, 2])
}

/// A state whose epoch was edited (a resume would remove the checkpoints past it and train them
/// again from later weights) is refused, touching nothing: by its Adam step count, and with that
/// edited too, by its weights, which are not those of its epoch's checkpoint.
@Test func aStateWithAnEditedEpochIsRefused() throws {
    let (scratch, folder) = try trainOneSmallEpoch(), common = smallResumeFlags
    defer { removeTemporaryFolder(scratch) }
    let directory = RunDirectory(folder), state = directory.statePath
    #expect(try runTool("vae-train", ["--resume", folder, "--epochs", "2"] + common).status == 0)
    let (header, data) = try headerAndData(state)
    // 600 images in batches of 100: 6 steps an epoch.
    for edits in [[("\"epoch\":\"2\"", "\"epoch\":\"1\"")], [("\"epoch\":\"2\"", "\"epoch\":\"1\""), ("\"adam_step\":\"12\"", "\"adam_step\":\"6\"")]] {
        var edited = header
        for (old, new) in edits {
            #expect(edited.contains(old), "the state holds \(old)")
            edited = edited.replacingOccurrences(of: old, with: new)
        }
        write(safetensors(header: edited, data: data), to: state)
        let resumed = try runTool("vae-train", ["--resume", folder, "--epochs", "3"] + common)
        #expect(resumed.status == 65, "\(resumed.stderr)")
        #expect(resumed.stdout.isEmpty, "refused before it said it was resuming: \(resumed.stdout)")
        #expect(resumed.stderr == (edits.count == 1
            ? "vae-train: \(state): metadata adam_step 12 does not match epoch 1 (6 steps an epoch); the file is damaged\n"
            : "vae-train: \(state) is at epoch 1, but its weights are not those of \(directory.checkpoint(epoch: 1)): one of the "
              + "two was changed, or copied in from another run\n"))
        #expect(directory.checkpointEpochs() == [1, 2])
    }
}

/// A run of one small epoch whose state's tensor `name` `edit` changed (given the state's bytes
/// and the tensor's range in them): its scratch folder, run folder, state path and edited bytes,
/// not yet written.
private func stateEdited(_ name: String, _ edit: (inout [UInt8], Range<Int>) -> Void) throws
    -> (scratch: String, folder: String, state: String, bytes: [UInt8]) {
    let (scratch, folder) = try trainOneSmallEpoch()
    let state = RunDirectory(folder).statePath
    let file = try readSafetensors(state)
    var bytes = file.bytes
    edit(&bytes, try #require(file.tensors[name]).range)
    return (scratch, folder, state, bytes)
}

/// A state whose random generator is all zeros (xoshiro256** never gets there, and from there
/// draws only zeros, on which the shuffle would spin for ever) is damage: refused, not resumed.
@Test func aZeroRandomStateIsRefusedAsDamage() throws {
    let (scratch, folder, state, bytes) = try stateEdited("random") { bytes, random in
        #expect(bytes[random].contains { $0 != 0 })
        bytes.replaceSubrange(random, with: [UInt8](repeating: 0, count: random.count))
    }
    defer { removeTemporaryFolder(scratch) }
    let common = smallResumeFlags
    // As damage on disk would leave it, the state fails its checksum; made to pass it, its check of the random state.
    write(bytes, to: state)
    let unsealed = try runTool("vae-train", ["--resume", folder, "--epochs", "2"] + common, timeLimit: .seconds(30))
    #expect(unsealed.status == 65 && unsealed.stderr.hasPrefix("vae-train: \(state): its tensor data do not match the checksum it records "),
            "exit \(unsealed.status): \(unsealed.stderr)")
    write(resealed(bytes), to: state)
    let resumed = try runTool("vae-train", ["--resume", folder, "--epochs", "2"] + common, timeLimit: .seconds(30))
    #expect(resumed.status == 65, "exit \(resumed.status): \(resumed.stderr)")
    #expect(resumed.stderr == "vae-train: \(state): the random state is all zeros, which no run can reach; the file is damaged\n")
    #expect(RunDirectory(folder).checkpointEpochs() == [1])
}

/// A state with a negative entry in Adam's mean of squared gradients (an edit, or another
/// writer's file, that keeps the checksum) is damage: refused by name, not resumed into NaN
/// weights reported as divergence.
@Test func aNegativeAdamSecondMomentIsRefusedAsDamage() throws {
    let (scratch, folder, state, bytes) = try stateEdited("adam.v") { bytes, v in
        bytes.replaceSubrange(v.lowerBound + 12..<v.lowerBound + 16, with: withUnsafeBytes(of: Float(-0.25).bitPattern.littleEndian, Array.init))
    }
    defer { removeTemporaryFolder(scratch) }
    write(resealed(bytes), to: state)
    let resumed = try runTool("vae-train", ["--resume", folder, "--epochs", "2"] + smallResumeFlags, timeLimit: .seconds(30))
    #expect(resumed.status == 65, "exit \(resumed.status): \(resumed.stderr)")
    #expect(resumed.stderr == "vae-train: \(state): adam.v[3] is -0.25, below 0, which Adam's mean of squared gradients never is; "
            + "the file is damaged\n")
    #expect(RunDirectory(folder).checkpointEpochs() == [1])
}

/// A state without its data's checksum, which vae-train always records (another program's
/// rewrite, or a damaged header), is refused: its moments and random state would go unchecked.
@Test func aStateWithoutItsChecksumIsRefused() throws {
    let (scratch, folder) = try trainOneSmallEpoch()
    defer { removeTemporaryFolder(scratch) }
    let state = RunDirectory(folder).statePath
    let (header, data) = try headerAndData(state)
    let unrecorded = header.replacingOccurrences(of: #""\#(dataChecksumKey)":"[0-9a-f]{8}","#, with: "", options: .regularExpression)
    try #require(unrecorded.count < header.count)
    write(safetensors(header: unrecorded, data: data), to: state)
    let resumed = try runTool("vae-train", ["--resume", folder, "--epochs", "2"] + smallResumeFlags, timeLimit: .seconds(30))
    #expect(resumed.status == 65, "exit \(resumed.status): \(resumed.stderr)")
    #expect(resumed.stderr == "vae-train: \(state): metadata data_crc32 is missing, which vae-train always records; the file was "
            + "changed by another program, or damaged\n", "\(resumed.stderr)")
    #expect(RunDirectory(folder).checkpointEpochs() == [1])
}

@Test func missingDataWithoutDownloadSaysWhatToPutWhere() throws {
    let empty = temporaryFolder()
    defer { removeTemporaryFolder(empty) }
    let runDir = empty + "/run"
    let result = try runTool("vae-train", ["--data", empty, "--no-download", "--run-dir", runDir])
    #expect(result.status == 66)
    #expect(result.stderr.contains("KMNIST files missing in \(empty): train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"))
    #expect(result.stderr.contains("http://codh.rois.ac.jp/kmnist/dataset/kmnist/"))
    #expect(!FileManager.default.fileExists(atPath: runDir))
    // A folder that does not exist (a mistyped name, maybe) is named as missing, not to be filled.
    let mistyped = try runTool("vae-train", ["--data", empty + "/kmnsit", "--no-download", "--run-dir", runDir])
    #expect(mistyped.status == 66)
    #expect(mistyped.stderr == "vae-train: the data folder \(empty)/kmnsit does not exist; point --data or KMNIST_DIR at a folder "
            + "that has the KMNIST files, or download them from http://codh.rois.ac.jp/kmnist/dataset/kmnist/ into it\n")
    #expect(!FileManager.default.fileExists(atPath: runDir))

    // A file given as the folder is named as such, by the trainer (whether it may download or
    // not) and by the tools that read a run.
    let file = empty + "/kmnist.tar"
    write([0], to: file)
    for (tool, arguments) in [("vae-train", ["--no-download", "--run-dir", runDir]),
                              ("vae-train", ["--download-url", "file://\(empty)/mirror/", "--run-dir", runDir]),
                              ("vae-render", ["--all", "--run-dir", packageRoot + "/fixtures/runs/latent2", "--out", empty + "/gifs"])] {
        let refused = try runTool(tool, ["--data", file] + arguments)
        #expect(refused.status == 66, "\(tool): \(refused.stderr)")
        #expect(refused.stderr == "\(tool): \(file) is a file, not a folder of KMNIST files; point --data or KMNIST_DIR at the folder\n")
    }
    #expect(!FileManager.default.fileExists(atPath: runDir) && !FileManager.default.fileExists(atPath: empty + "/gifs"))
}

/// A tool the tests start cannot reach the network: a download from the official address goes
/// to ChildProcess's refusing proxy, fails with exit 66 naming the address, and saves nothing.
@Test func aToolTheTestsStartCannotReachTheNetwork() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool("vae-train", ["--data", scratch + "/kmnist", "--run-dir", scratch + "/run", "--epochs", "1"])
    #expect(result.status == 66, "\(result.stderr)")
    #expect(result.stderr.hasPrefix("vae-train: cannot download http://codh.rois.ac.jp/kmnist/dataset/kmnist/train-images-idx3-ubyte.gz: "
                                    + "Failed to connect to 127.0.0.1 port 9"), "\(result.stderr)")
    #expect(result.stderr.hasSuffix("; \(scratch)/kmnist still lacks train-images-idx3-ubyte.gz, "
                                    + "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz: "
                                    + "try again, or put the KMNIST files there by hand\n"), "\(result.stderr)")
    #expect(PathKind(scratch + "/kmnist") == .nothing && PathKind(scratch + "/run") == .nothing)
}

/// A file from the official address that fails its md5 (here served by a loopback server posing
/// as the proxy, which answers with the synthetic fixture's file) is not saved, and the advice is
/// to try again, not to download what was just downloaded.
@Test func aDamagedOfficialDownloadAdvisesTryingAgain() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let (server, port) = try startFileServer(serving: syntheticData, in: scratch, chunked: false)
    defer { server.stop() }
    let data = scratch + "/kmnist", url = KMNIST.officialURL + "train-images-idx3-ubyte.gz"
    let result = try runTool("vae-train", ["--data", data, "--run-dir", scratch + "/run", "--epochs", "1"],
                             environment: ["http_proxy": "http://127.0.0.1:\(port)"])
    #expect(result.status == 65, "\(result.stderr)")
    let md5 = md5Hex(try readFile(syntheticData + "/train-images-idx3-ubyte.gz"))
    #expect(result.stderr.hasSuffix("vae-train: \(url): md5 is \(md5), expected bdb82020997e1d708af4cf47b453dcf7; the file was not "
                                    + "saved, and \(data) still lacks train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                                    + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz: try again (a transfer damaged on the way?), "
                                    + "or put the KMNIST files there by hand\n"), "\(result.stderr)")
    #expect(PathKind(data) == .nothing && PathKind(scratch + "/run") == .nothing)
}

/// In a log, a file that fails its md5 is one error line, and no line says it was downloaded
/// (nor a carriage return that a terminal would use to redraw one).
@Test func aDownloadThatFailsItsMD5InALogIsOneLine() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let data = scratch + "/kmnist"
    let mirror = URL(fileURLWithPath: syntheticData).absoluteString
    let result = try runTool("vae-train", ["--data", data, "--download-url", mirror, "--run-dir", scratch + "/run", "--epochs", "1"])
    #expect(result.status == 65, "\(result.stderr)")
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 2 && lines[1].isEmpty, "\(result.stderr)")
    #expect(lines[0].hasPrefix("vae-train: \(mirror)train-images-idx3-ubyte.gz: md5 is "), "\(result.stderr)")
    #expect(!result.stderr.contains("\r"))
    #expect(!FileManager.default.fileExists(atPath: data))
}

/// In a log, each file that passed its md5 is one line, written once it is saved: here the two
/// official test files of ../shared/kmnist, fetched into a folder that holds its training files.
@Test(.needsSharedKMNISTCopy) func aDownloadInALogIsOneLinePerSavedFile() throws {
    let real = try RealKMNIST.requireFolder()
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let data = scratch + "/kmnist"
    try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] { write(try readFile(real + "/" + name), to: data + "/" + name) }
    let result = try runTool("vae-train", ["--data", data, "--download-url", URL(fileURLWithPath: real).absoluteString,
                                           "--run-dir", scratch + "/run", "--epochs", "1", "--preset", "pytorch-example"])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stderr.split(separator: "\n").prefix(2)
    for (line, name) in zip(lines + ["", ""], ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]) {
        let original = try readFile(real + "/" + name)
        #expect(line == "vae-train: downloaded \(name), \(original.count) bytes, md5 checked", "\(result.stderr)")
        #expect(try readFile(data + "/" + name) == original)
    }
    #expect(!result.stderr.contains("\r"))
}

/// Over HTTP from a server that sends no Content-Length (chunked, here python3's server on the
/// loopback, never the network), a file that fails its md5 in a log is still its one error line.
@Test func aChunkedDownloadThatFailsItsMD5InALogIsOneLine() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let (server, port) = try startFileServer(serving: syntheticData, in: scratch, chunked: true)
    defer { server.stop() }
    let result = try runTool("vae-train", ["--data", scratch + "/kmnist", "--download-url", "http://127.0.0.1:\(port)/",
                                           "--run-dir", scratch + "/run", "--epochs", "1"],
                             environment: ["no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"])
    #expect(result.status == 65, "\(result.stderr)")
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 2 && lines[1].isEmpty, "\(result.stderr)")
    #expect(lines.first?.hasPrefix("vae-train: http://127.0.0.1:\(port)/train-images-idx3-ubyte.gz: md5 is ") == true)
}

/// A new run into a folder of other files (here the data folder, named as --run-dir by mistake)
/// is refused, with --overwrite or without, before anything is written there, not even the lock's
/// file. A run's folder with other files beside the run (scores, renders) is replaced with
/// --overwrite, and those files stay.
@Test func aNewRunIntoAFolderOfOtherFilesIsRefused() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    for file in KMNIST.files {
        write(try readFile(syntheticData + "/" + file.name + ".gz"), to: folder + "/" + file.name + ".gz")
    }
    let before = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    // --overwrite replaces a run, not other files.
    for replacing in [[], ["--overwrite"]] {
        let result = try runTool("vae-train", ["--data", folder, "--no-download", "--run-dir", folder, "--epochs", "1"] + replacing)
        #expect(result.status == 64, "\(replacing)")
        #expect(result.stderr == "vae-train: \(folder) holds t10k-images-idx3-ubyte.gz, which is no file of a run: name a new or "
                + "empty folder for the run\n", "\(replacing): \(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == before, "\(replacing)")
    }

    let run = folder + "/run"
    let arguments = ["--data", folder, "--no-download", "--run-dir", run, "--epochs", "1", "--hidden", "8", "--latent-dim", "2"]
    try #require(try runTool("vae-train", arguments).status == 0)
    write(Array("scores".utf8), to: run + "/quality.md")
    let kept = try runTool("vae-train", arguments)
    #expect(kept.status == 64 && kept.stderr.contains("already holds checkpoints (up to epoch 1); pass --resume"), "\(kept.stderr)")
    let replaced = try runTool("vae-train", arguments + ["--overwrite"])
    #expect(replaced.status == 0, "\(replaced.stderr)")
    #expect(try readFile(run + "/quality.md") == Array("scores".utf8))
}

/// A resume state copied in from another run is named as such before its epoch count or its
/// configuration is taken at its word: not "has already completed 3 epochs" for a run of two, nor
/// "--hidden cannot change" for a flag that repeats the checkpoints' own.
@Test func aResumeStateOfAnotherRunIsNamedBeforeItIsBelieved() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    for (name, hidden, epochs) in [("a", "16", "2"), ("b", "24", "3")] {
        let trained = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder + "/" + name,
                                                "--epochs", epochs, "--hidden", hidden, "--latent-dim", "2", "--iwae-k", "0"])
        try #require(trained.status == 0, "\(trained.stderr)")
    }
    let a = RunDirectory(folder + "/a")
    unlink(a.statePath)
    try FileManager.default.copyItem(atPath: RunDirectory(folder + "/b").statePath, toPath: a.statePath)
    for flags in [["--epochs", "2"], ["--epochs", "4", "--hidden", "16"]] {
        let resumed = try runTool("vae-train", ["--resume", a.path, "--data", syntheticData, "--no-download", "--iwae-k", "0"] + flags)
        #expect(resumed.status == 65, "\(flags): \(resumed.stderr)")
        #expect(resumed.stderr.hasPrefix("vae-train: \(a.checkpoint(epoch: 2)) comes from a different configuration than "
                                         + "\(a.statePath): "), "\(flags): \(resumed.stderr)")
    }
    #expect(a.checkpointEpochs() == [1, 2])
}

@Test func badDataIsOneLineAndNothingIsWritten() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    for file in KMNIST.files {
        let name = file.name + ".gz"
        write(try readFile(syntheticData + "/" + name), to: folder + "/" + name)  // copies, not the fixtures' links
    }
    let bad = folder + "/t10k-labels-idx1-ubyte.gz"
    let good = try readFile(bad)
    write(Array(good[..<(good.count - 10)]), to: bad)
    let runDir = folder + "/run"
    let result = try runTool("vae-train", ["--data", folder, "--no-download", "--run-dir", runDir, "--epochs", "1"])
    #expect(result.status == 65)
    #expect(result.stderr.hasPrefix("vae-train: \(bad): truncated gzip data"))
    #expect(result.stderr.filter { $0 == "\n" }.count == 1, "one line: \(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: runDir))
}

/// Runs of the executable with the same seed write identical checkpoints on one, two and three
/// threads (every product, loss and Adam step is split between them, three making parts of
/// uneven size, and so are the importance weights of the final estimate, which the last
/// checkpoint records), and one line per epoch goes to the log when output is not a terminal.
@Test func trainCommandIsReproducibleOnAnyThreadCountAndLogsOneLinePerEpoch() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    var outputs: [[UInt8]] = []
    for (name, threads) in [("a", "1"), ("b", "2"), ("c", "3")] {
        let result = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder + "/" + name,
                                               "--epochs", "2", "--hidden", "64", "--latent-dim", "4", "--threads", threads, "--seed", "1",
                                               "--iwae-k", "30"])
        #expect(result.status == 0, "\(result.stderr)")
        let epochLines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }
        #expect(epochLines.count == 2, "\(result.stdout)")
        // Each line gives the losses its epoch's checkpoint records, the last one's IWAE estimate too.
        let run = RunDirectory(folder + "/" + name)
        for (line, epoch) in zip(epochLines, 1...) {
            let metrics = try readCheckpoint(run.checkpoint(epoch: epoch)).metrics
            let losses = String(format: "epoch %d/2  train %.2f  test %.2f (recon %.2f + kl %.2f)  ", epoch, metrics.train.total,
                                metrics.test.total, metrics.test.reconstruction, metrics.test.kl)
            #expect(line.hasPrefix(losses), "\(line) against \(losses)")
        }
        let iwae = try #require(try readCheckpoint(run.checkpoint(epoch: 2)).metrics.testIWAE)
        #expect(result.stdout.contains(String(format: "\ntest -log p(x) <= %.2f nats/image (IWAE, k=30)\n", iwae.nll)), "\(result.stdout)")
        #expect(result.stderr.isEmpty, "no progress bar when stderr is not a terminal: \(result.stderr)")
        outputs.append(try readFile(run.checkpoint(epoch: 2)))
    }
    expectIdentical(outputs[1], outputs[0], "the checkpoint of --threads 2 against --threads 1")
    expectIdentical(outputs[2], outputs[0], "the checkpoint of --threads 3 against --threads 1")

    // A new run into the folder is refused before anything else: no download from a folder
    // without data (here from a mirror that does not exist), no data read, no banner.
    let again = try runTool("vae-train", ["--data", folder + "/no-data", "--download-url", "file://\(folder)/no-mirror/",
                                          "--run-dir", folder + "/a", "--epochs", "1"])
    #expect(again.status == 64, "\(again.stderr)")
    #expect(again.stderr == "vae-train: \(folder)/a already holds checkpoints (up to epoch 2); "
            + "pass --resume to continue that run or --overwrite to replace it\n")
    #expect(again.stdout.isEmpty, "\(again.stdout)")
}

/// The conv model and the classifier split their work between the threads as well (the
/// convolutions' products, a conv-transpose layer's bias gradient, the classifier's steps): the
/// same bytes on one thread and on three.
@Test(arguments: [["vae-train", "--preset", "conv", "--hidden", "16", "--latent-dim", "2", "--epochs", "1", "--no-download",
                   "--iwae-k", "0", "--run-dir"],
                  ["vae-classifier", "--epochs", "1", "--out"]])
func convTrainingAndTheClassifierAreReproducibleOnAnyThreadCount(command: [String]) throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    var outputs: [[UInt8]] = []
    for threads in ["1", "3"] {
        let out = folder + "/" + threads
        let result = try runTool(command[0], Array(command.dropFirst()) + [out, "--data", syntheticData, "--threads", threads])
        #expect(result.status == 0, "\(result.stderr)")
        outputs.append(try readFile(command[0] == "vae-train" ? RunDirectory(out).checkpoint(epoch: 1) : out))
    }
    expectIdentical(outputs[1], outputs[0], "\(command[0]) on three threads against one")
}

/// The Gaussian likelihoods' losses are split between the threads too: the checkpoints, whose
/// metadata carries every loss to the last digit, are the same on one thread and on two.
@Test(arguments: ["gaussian", "gaussian-fixed"])
func gaussianTrainingIsReproducibleOnAnyThreadCount(likelihood: String) throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    var outputs: [[UInt8]] = []
    for threads in ["1", "2"] {
        let result = try runTool("vae-train", ["--data", syntheticData, "--no-download", "--run-dir", folder + "/" + threads,
                                               "--epochs", "1", "--hidden", "64", "--latent-dim", "4", "--threads", threads,
                                               "--likelihood", likelihood, "--seed", "2", "--iwae-k", "0"])
        #expect(result.status == 0, "\(result.stderr)")
        outputs.append(try readFile(folder + "/" + threads + "/checkpoints/epoch-0001.safetensors"))
    }
    expectIdentical(outputs[1], outputs[0], "the checkpoint of --threads 2 against --threads 1")

    // A resume may repeat the run's --sigma, and only a gaussian-fixed run has one.
    let resume = ["--resume", folder + "/1", "--data", syntheticData, "--no-download", "--epochs", "2", "--iwae-k", "0"]
    let state = RunDirectory(folder + "/1").statePath
    let changed = try runTool("vae-train", resume + ["--sigma", "0.2"])
    #expect(changed.status == 64, "\(changed.stderr)")
    #expect(changed.stderr == (likelihood == "gaussian-fixed"
                               ? "vae-train: --sigma cannot change when resuming: \(state) has sigma 0.1, --sigma asks for 0.2\n"
                               : "vae-train: --sigma applies only to --likelihood gaussian-fixed, and \(folder)/1 has likelihood gaussian\n"),
            "\(changed.stderr)")
    if likelihood == "gaussian-fixed" {
        let repeated = try runTool("vae-train", resume + ["--sigma", "0.1"])
        #expect(repeated.status == 0, "\(repeated.stderr)")
        #expect(RunDirectory(folder + "/1").checkpointEpochs() == [1, 2])
    } else {
        // With --likelihood named, the likelihood is what changes, or --sigma has none to apply to.
        for (flags, message) in [
            (["--likelihood", "gaussian-fixed", "--sigma", "0.2"],
             "--likelihood cannot change when resuming: \(state) has likelihood gaussian, --likelihood asks for gaussian-fixed"),
            (["--likelihood", "gaussian", "--sigma", "0.2"], "--sigma applies only to --likelihood gaussian-fixed"),
        ] {
            let refused = try runTool("vae-train", resume + flags)
            #expect(refused.status == 64 && refused.stderr.hasPrefix("vae-train: \(message)"), "\(flags): \(refused.stderr)")
        }
    }
}

/// Without --run-dir a run goes to runs/<preset>, and --arch conv alone picks the conv preset
/// (its learning rate and batch size, not the default's VampPrior MLP).
@Test func theRunFolderAndPresetFollowTheArchitecture() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let result = try runTool("vae-train", ["--arch", "conv", "--hidden", "16", "--latent-dim", "2", "--epochs", "1", "--data", syntheticData,
                                           "--no-download", "--iwae-k", "0"], workingDirectory: scratch)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.hasPrefix("vae-train: conv 28x28x1-14x14x32-7x7x64-16-2 relu, bernoulli, ") && result.stdout.contains(
        "into runs/conv\n"), "\(result.stdout)")
    let run = try readCheckpoint(RunDirectory(scratch + "/runs/conv").checkpoint(epoch: 1)).run
    #expect(run.preset == "conv" && run.model.prior == .normal && run.model.arch == .conv)
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch + "/runs") == ["conv"])
}

/// A batch whose activations would not fit 4 GB is refused once the data has loaded (the batch
/// size is clipped to the training images), before any folder is made, and so is a model that
/// would not fit them with any batch (evaluation takes 500 rows); it was an allocation that
/// failed or a process the kernel killed. (Under a 3 GB address space, so that a check that
/// failed fails at once.)
@Test func aBatchTooLargeForMemoryIsRefused() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let common = ["--data", syntheticData, "--no-download", "--run-dir", scratch + "/run", "--epochs", "1", "--iwae-k", "0"]
    for (flags, message) in [
        (["--objective", "iwae", "--train-k", "100", "--hidden", "16384", "--prior", "normal", "--batch-size", "1000"],
         "a batch of 600 images with 100 draws each would take 7.8 GB for its activations, more than the 4 GB a training run "
         + "may take; choose a smaller --batch-size or --train-k"),
        // Ten layers of 65,536 between layers of 1: 105,000,000 parameters, 1.3 million floats a row each way.
        (["--hidden", Array(repeating: "65536,1", count: 10).joined(separator: ","), "--batch-size", "1", "--prior", "normal"],
         "the model's activations for the 500 test images it evaluates at a time would take 4.9 GB, more than the 4 GB "
         + "a training run may take; choose smaller --hidden widths"),
    ] {
        let result = try runToolUnderLimit("vae-train", common + flags, ulimit: "-v \(3 << 20)")
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("vae-train: " + message), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)
    }
}

/// A run whose checkpoints (one every epoch, all kept) would not fit the file system's free space
/// is refused before anything is written: new (no folder made), resumed and replacing (the run
/// left as it was). Here a trillion epochs of a 13,396-parameter model (57.7 PB, past any disk),
/// each checkpoint its parameters and 4 kB, beside one or two states of three times the parameters;
/// what --overwrite would free is the old run's blocks, but for a file linked elsewhere too.
@Test func aRunTooLargeForTheDiskIsRefused() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let run = scratch + "/run"
    let model = ["--hidden", "8", "--latent-dim", "2", "--prior", "normal", "--data", syntheticData, "--no-download", "--iwae-k", "0"]
    let parameters = Double(ParameterLayout(VAEConfig(hidden: [8], latentDim: 2, prior: .normal)).count)
    #expect(parameters == 13_396)  // 784x8 + 8, 8x4 + 4 (mu and log-variance), 2x8 + 8, 8x784 + 784
    let (checkpoint, state) = (4 * parameters + 4096, 12 * parameters + 4096)
    let config = RunConfig(model: VAEConfig(hidden: [8], latentDim: 2, prior: .normal), epochs: 10, batchSize: 128, learningRate: 1e-3,
                           seed: 0, preset: "default", trainImages: 600, testImages: 100)
    #expect(RunDirectory.spaceNeeded(for: config, after: 0) == (10 * checkpoint + 2 * state, checkpoint))
    #expect(RunDirectory.spaceNeeded(for: config, after: 7) == (3 * checkpoint + state, checkpoint))
    var free = statvfs()
    try #require(statvfs(scratch, &free) == 0)
    func petabytes(_ bytes: Double) -> String { String(format: "%.1f PB", bytes / 1e15) }
    func expectRefused(_ flags: [String], needed: String, from first: Int, to last: Int, replacing: String = "",
                       named: String = run) throws {
        let result = try runTool("vae-train", flags, workingDirectory: scratch)
        #expect(result.status == 73, "\(result.stderr)")
        let prefix = "vae-train: \(named) would need \(needed) for the checkpoints of epochs \(first) to \(last) (57.7 kB each) "
            + "and the resume state, and its file system has "
        // The free space changes as the test runs: it is checked to be near the test's own figure.
        try #require(result.stderr.hasPrefix(prefix) && result.stderr.hasSuffix(" free\(replacing): pass fewer --epochs, or make room\n"),
                     "\(result.stderr)")
        let stated = result.stderr.dropFirst(prefix.count).split(separator: " ").prefix(2)
        let units: [Substring: Double] = ["kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15]
        let value = try #require(stated.first.flatMap { Double($0) }, "\(result.stderr)")
        let unit = try #require(stated.last.flatMap { units[$0] }, "\(result.stderr)")
        // Other tests write meanwhile: within a gigabyte, and the printed rounding.
        #expect(abs(value * unit - Double(free.f_bavail) * Double(free.f_frsize)) < 1e9 + 0.05 * unit, "\(result.stderr)")
    }
    #expect(String(format: "%.1f kB", checkpoint / 1e3) == "57.7 kB")
    // Named as a relative path of one part, whose nearest folder is the working directory; from
    // an empty data folder and a mirror that does not exist: refused before any download.
    let noData = scratch + "/no-data"
    try FileManager.default.createDirectory(atPath: noData, withIntermediateDirectories: false)
    try expectRefused(["--hidden", "8", "--latent-dim", "2", "--prior", "normal", "--data", noData, "--download-url", "file:///nonexistent/",
                       "--run-dir", "run", "--epochs", "1000000000000"], needed: petabytes(1e12 * checkpoint + 2 * state),
                      from: 1, to: 1_000_000_000_000, named: "run")
    #expect(!FileManager.default.fileExists(atPath: run))

    let trained = try runTool("vae-train", model + ["--run-dir", run, "--epochs", "2"])
    try #require(trained.status == 0, "\(trained.stderr)")
    let before = try runFiles(run), metrics = try readFile(RunDirectory(run).metricsPath)
    try expectRefused(["--resume", run, "--epochs", "1000000000000", "--data", syntheticData],
                      needed: petabytes((1e12 - 2) * checkpoint + state), from: 3, to: 1_000_000_000_000)
    // Checkpoint 1 linked elsewhere: removing it from the run frees nothing.
    try #require(link(RunDirectory(run).checkpoint(epoch: 1), scratch + "/kept.safetensors") == 0)
    var size = stat()
    let oldRun = try [RunDirectory(run).statePath, RunDirectory(run).metricsPath, RunDirectory(run).dataFolderRecordPath,
                      RunDirectory(run).checkpoint(epoch: 2)].reduce(0.0) { total, file in
        try #require(stat(file, &size) == 0)
        return total + Double(size.st_blocks) * 512
    }
    try expectRefused(model + ["--run-dir", run, "--epochs", "1000000000000", "--overwrite"],
                      needed: petabytes(1e12 * checkpoint + 2 * state), from: 1, to: 1_000_000_000_000,
                      replacing: String(format: ", with the %.1f kB of the run it replaces", oldRun / 1e3))
    #expect(try runFiles(run) == before && readFile(RunDirectory(run).metricsPath) == metrics)
}

/// The commands vae-train suggests name the run folder as one shell word, whatever it holds: the
/// "Continue with" of an interrupted run, pasted into bash, resumes it, and the render command it
/// then prints renders it; a folder named like a flag is written so that it is not read as one.
@Test func suggestedCommandsPasteIntoAShell() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/my run's $HOME"
    let interrupted = try runTool("vae-train", ["--run-dir", folder, "--epochs", "1", "--hidden", "8", "--latent-dim", "2",
                                                "--batch-size", "100", "--prior", "normal"] + smallResumeFlags, environment: [
        "LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_INTERRUPT_AT_SGEMM": "1",
    ])
    let quoted = "'" + scratch + "/my run'\\''s $HOME'"
    #expect(interrupted.status == 130)
    #expect(interrupted.stderr.hasSuffix("Continue with: vae-train --resume \(quoted)\n"), "\(interrupted.stderr)")
    // So is the readers' advice for a run in its first epoch.
    let early = try runTool("vae-render", ["--reconstruction", "--run-dir", folder, "--out", scratch + "/gifs"])
    #expect(early.status == 66 && early.stderr.contains("vae-train --resume \(quoted) continues it"), "\(early.stderr)")
    // As pasted: the run's data is the folder it records, whatever $KMNIST_DIR the tests run with.
    let inAShell = ["PATH": URL(fileURLWithPath: try toolPath("vae-train")).deletingLastPathComponent().path + ":/usr/bin:/bin",
                    "KMNIST_DIR": ""]
    let resumed = try ChildProcess("/bin/bash", ["-c", "vae-train --resume \(quoted) --iwae-k 0"], environment: inAShell).finish()
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let render = try #require(resumed.stdout.components(separatedBy: "render the animations with: ").last)
    #expect(render == "vae-render --all --run-dir \(quoted)\n")
    let rendered = try ChildProcess("/bin/bash", ["-c", "vae-render --reconstruction --run-dir \(quoted) --out \(quoted)/gifs"],
                                    environment: inAShell).finish()
    #expect(rendered.status == 0, "\(rendered.stderr)")
    #expect(PathKind(folder + "/gifs/reconstruction.gif") == .file)
    // A folder whose name starts with "-" (given as --run-dir=-run) is suggested as ./-run, which
    // the tool cannot take for a flag.
    let dashed = try runTool("vae-train", ["--run-dir=-run", "--epochs", "1", "--hidden", "8", "--latent-dim", "2",
                                           "--batch-size", "100", "--prior", "normal"] + smallResumeFlags,
                             environment: ["LD_PRELOAD": try preloadLibrary("fault-injection"), "VAE_INTERRUPT_AT_SGEMM": "1"],
                             workingDirectory: scratch)
    #expect(dashed.status == 130 && dashed.stderr.hasSuffix("Continue with: vae-train --resume ./-run\n"), "\(dashed.stderr)")
    let resumedDashed = try ChildProcess("/bin/bash", ["-c", "vae-train --resume ./-run --iwae-k 0"], environment: inAShell,
                                         workingDirectory: scratch).finish()
    #expect(resumedDashed.status == 0 && resumedDashed.stdout.hasSuffix("vae-render --all --run-dir ./-run\n"), "\(resumedDashed.stderr)")
}
