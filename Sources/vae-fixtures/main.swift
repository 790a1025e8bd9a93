import ArgumentParser
import Foundation
import VAECore
import VAETesting
import VAECommandLine
import VAERender

// Regenerates everything in fixtures/ (see fixtures/README.md), run from the package root:
//
//     swift run vae-fixtures [--goldens-only]
//
// 1. synthetic/: the four IDX .gz files of SyntheticShapes (600 training, 100 test images),
//    under `syntheticFileNames`;
// 2. runs/latent2, runs/latent3: tiny models trained on them, checkpoints only;
// 3. golden/: the GoldenCase renders of those checkpoints;
// 4. fuzz/: the seed corpora of the fuzz targets in Fuzz/ (see FuzzSeeds).
//
// Everything is seeded and OpenBLAS runs on one thread, so a rerun on the same machine
// writes the same bytes; another CPU may round sgemm differently, which is why the golden
// tests compare with a tolerance and the checkpoints are committed rather than retrained.

/// The fixture models: a hidden layer of 16 keeps each checkpoint near 100 KB; latent 2 takes
/// the prior-quantile grid and latent 3 the principal plane.
func fixtureRun(latent: Int) -> RunConfig {
    RunConfig(model: VAEConfig(hidden: [16], latentDim: latent), epochs: 3, batchSize: 10, learningRate: 1e-2,
              seed: 1, preset: "fixture", trainImages: 600, testImages: 100)
}

/// Writes `data` as IDX .gz files under `syntheticFileNames`, not KMNIST's own names.
func writeDataset(_ data: KMNIST, to folder: String) throws {
    try createFolders(folder, what: "the synthetic data folder")
    let side = VAEConfig.imageSide
    let contents = [
        encodeIDX(magic: idxImagesMagic, dimensions: [data.train.count, side, side], payload: data.train.pixels),
        encodeIDX(magic: idxLabelsMagic, dimensions: [data.train.count], payload: data.train.labels),
        encodeIDX(magic: idxImagesMagic, dimensions: [data.test.count, side, side], payload: data.test.pixels),
        encodeIDX(magic: idxLabelsMagic, dimensions: [data.test.count], payload: data.test.labels),
    ]
    try writeFilesAtomically(zip(syntheticFileNames, contents).map { (bytes: gzipCompress($1), path: folder + "/" + $0) })
}

struct VAEFixtures: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-fixtures",
        abstract: "Regenerate fixtures/: the synthetic dataset, the tiny runs, the golden GIFs and the fuzz seeds.",
        discussion: """
            Run from the package root (or name the folder with --fixtures). A rerun on the same machine \
            writes identical bytes. Retrain the checkpoints only when their format or the trainer changes: \
            new checkpoints move every golden, so commit both together and look at the new GIFs first.

            Exit codes: 0 done, 64 bad flags, 65 bad data, 66 missing input, 70 a fixture run diverged or a GIF failed to \
            encode, 73 cannot write, 75 a fixture \
            run's folder in use, 130 interrupted (rerun it: a stop part-way, after the data and before the goldens \
            say, leaves a mix of old and new fixtures; the data and the goldens are each written whole or not at \
            all, the runs' checkpoints epoch by epoch).
            """,
        version: versionDescription())

    @Option(help: ArgumentHelp("The fixtures folder (default: fixtures, in the package root, where the command must then run).",
                               valueName: "dir"))
    var fixtures: String?

    /// What a fixtures folder holds: what this tool writes, its README and the PyTorch reference values.
    static let fixtureNames: Set = ["README.md", "synthetic", "runs", "golden", "fuzz", "reference"]

    @Flag(help: "Only render the golden GIFs again, from the committed checkpoints, after an intended change to how frames look.")
    var goldensOnly = false

    func validate() throws {
        if fixtures?.isEmpty == true { throw ValidationError("--fixtures must name a folder") }
        // The default is relative: run elsewhere, it would make a fixtures folder wherever that is.
        if fixtures == nil && !FileManager.default.fileExists(atPath: "Package.swift") {
            throw ValidationError("run from the package root (there is no Package.swift in "
                                  + "\(FileManager.default.currentDirectoryPath)), or name the folder with --fixtures")
        }
    }

    func run() throws {
        let folder = fixtures ?? "fixtures"
        try reportingErrors {
            // A folder of something else (a run folder, say) would get fixtures mixed into it.
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            if let other = names.sorted().first(where: { !VAEFixtures.fixtureNames.contains($0) }) {
                throw VAEError(.usage, "\(folder) holds \(other), which is no fixture: name the fixtures folder, or a new or empty one")
            }
            if !goldensOnly {
                try writeSyntheticDataAndRuns(into: folder)
            }
            try writeGoldens(into: folder)
            if !goldensOnly {
                try FuzzSeeds.write(to: folder + "/fuzz")
                print("\(folder)/fuzz: seed corpora of the fuzz targets")
            }
        }
    }
}

func writeSyntheticDataAndRuns(into fixtures: String) throws {
    var random = Random(seed: 2024)
    let data = KMNIST(train: SyntheticShapes.make(count: 600, random: &random),
                      test: SyntheticShapes.make(count: 100, random: &random))
    try writeDataset(data, to: fixtures + "/synthetic")
    print("\(fixtures)/synthetic: \(data.train.count) training and \(data.test.count) test images")

    for latent in [2, 3] {
        let directory = RunDirectory(fixtures + "/runs/latent\(latent)")
        try train(fixtureRun(latent: latent), data: data, directory: directory, mode: .overwrite)
        // Only the checkpoints are fixtures: the resume state is three times their size, the
        // metrics hold timings, which would make every regeneration differ, and the lock holds a pid.
        unlink(directory.statePath)
        unlink(directory.metricsPath)
        unlink(directory.lockPath)
        print("\(directory.path): \(directory.checkpointEpochs().count) checkpoints")
    }
}

/// Renders every `GoldenCase` from the checkpoints in fixtures/runs.
func writeGoldens(into fixtures: String) throws {
    let linkedData = NSTemporaryDirectory() + "vae-synthetic-data-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: linkedData) }  // also after a link that failed
    try linkUnderKMNISTNames(fixtures + "/synthetic", into: linkedData)
    // All rendered before the folder is made: a missing fixture run leaves nothing behind.
    let rendered: [(GoldenCase, [RenderedGIF])]
    do {
        rendered = try GoldenCase.all.map { ($0, try renderAnimations($0.request(fixtures: fixtures, data: linkedData))) }
    } catch let error as VAEError {
        throw namingSyntheticFiles(error, linked: linkedData, folder: fixtures + "/synthetic")
    }
    try createFolders(fixtures + "/golden", what: "the golden-image folder")
    let goldens = rendered.flatMap { golden, gifs in gifs.map { (gif: $0, path: golden.goldenPath($0.animation, fixtures: fixtures)) } }
    // One set, so that a full disk part-way leaves the committed goldens as they were.
    try writeFilesAtomically(goldens.map { (bytes: $0.gif.bytes, path: $0.path) })
    for (gif, path) in goldens {
        print("\(path): \(gif.frameCount) frames, \(gif.width)x\(gif.height), \(gif.bytes.count) bytes")
    }
}

VAEFixtures.mainCheckingOutput()
