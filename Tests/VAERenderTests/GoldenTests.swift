import Foundation
import Testing
import TestSupport
import VAECore
import VAERender
import VAETesting

// Golden-image tests: the fixture checkpoints rendered now against fixtures/golden, and proof
// that the comparison catches a broken animation. The tests only compare; after an intended
// change to the look, `swift run vae-fixtures --goldens-only` renders the goldens again.

@Test(arguments: GoldenCase.all.map(\.name))
func goldenRendersMatch(caseName: String) throws {
    let golden = try #require(GoldenCase.all.first { $0.name == caseName })
    let rendered = try renderAnimations(golden.request(fixtures: fixturesFolder, data: syntheticData))
    #expect(rendered.map(\.animation) == golden.animations)
    let latentDimensions = try LoadedFixture(golden.template.runDirectory).replay.run.model.latentDim
    for gif in rendered {
        let path = golden.goldenPath(gif.animation, fixtures: fixturesFolder)
        let tolerance = GoldenTolerance.of(golden, gif.animation, latentDimensions: latentDimensions)
        let differences = goldenDifferences(try decodeGIF(gif.bytes), try decodeGIF(try readFile(path)), tolerance: tolerance)
        if !differences.isEmpty {
            Issue.record("""
                \(path) differs (if the change is intended, render the goldens again with `swift run vae-fixtures --goldens-only`):
                \(differences.joined(separator: "\n"))
                """)
        }
    }
}

@Test func goldenFolderHoldsExactlyTheGoldenCases() {
    let expected = GoldenCase.all.flatMap { golden in
        golden.animations.map { URL(fileURLWithPath: golden.goldenPath($0, fixtures: fixturesFolder)).lastPathComponent }
    }
    #expect(fileNames(in: fixturesFolder + "/golden") == expected.sorted())
}

/// vae-fixtures makes the committed synthetic dataset again: the same labels, and the same pixels
/// up to a grey level, since its shapes go through the C library's sin and cos, which another
/// machine may round differently. Its checkpoints are not compared: another CPU's sgemm trains
/// them differently, which is why they are committed.
@Test func fixturesToolRemakesTheCommittedSyntheticData() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let result = try runTool("vae-fixtures", ["--fixtures", folder])
    #expect(result.status == 0, "\(result.stderr)")
    let made = try KMNIST.load(from: try linkUnderKMNISTNames(folder + "/synthetic", into: folder + "/linked"))
    let committed = try KMNIST.load(from: syntheticData)
    for (split, remade, original) in [("training", made.train, committed.train), ("test", made.test, committed.test)] {
        expectIdentical(remade.labels, original.labels, "the \(split) labels")
        #expect(remade.pixels.count == original.pixels.count, "the \(split) images")
        let offBy = zip(remade.pixels, original.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(offBy <= 1, "a \(split) pixel differs by \(offBy) levels")
    }
}

/// `--goldens-only` without the fixture runs to render is exit 66 naming the first missing run,
/// and leaves the folder as it was: no empty golden folder.
@Test func fixturesToolWithoutItsRunsLeavesNothingBehind() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    try FileManager.default.copyItem(atPath: packageRoot + "/fixtures/synthetic", toPath: folder + "/synthetic")
    let result = try runTool("vae-fixtures", ["--fixtures", folder, "--goldens-only"])
    #expect(result.status == 66)
    #expect(result.stderr == "vae-fixtures: the run folder \(folder)/runs/latent2 does not exist\n", "\(result.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["synthetic"])

    // A temporary folder it cannot use (TMPDIR a file) is one line, not a trap.
    let file = temporaryFolder() + "/file"
    defer { removeTemporaryFolder(file) }
    write([1], to: file)
    let noTemporary = try runTool("vae-fixtures", ["--fixtures", folder, "--goldens-only"], environment: ["TMPDIR": file + "/"])
    #expect(noTemporary.status == 73)
    #expect(noTemporary.stderr.hasPrefix("vae-fixtures: cannot create the folder of links to the synthetic data \(file)/vae-synthetic-data-")
            && noTemporary.stderr.hasSuffix(": Not a directory\n"), "\(noTemporary.stderr)")
}

/// A link it cannot make (here one already there) is an error naming it, not a folder of
/// missing files found later.
@Test func linkingTheSyntheticDataNamesALinkItCannotMake() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    try linkUnderKMNISTNames(packageRoot + "/fixtures/synthetic", into: folder + "/linked")
    let error = #expect(throws: VAEError.self) { try linkUnderKMNISTNames(packageRoot + "/fixtures/synthetic", into: folder + "/linked") }
    #expect(error?.message == "cannot make the link \(folder)/linked/\(KMNIST.files[0].name).gz: File exists")
}

/// --goldens-only over a fixtures folder without its synthetic data names the missing file and
/// the tool's run that makes it, not a missing KMNIST file in a temporary folder of links.
@Test func goldensWithoutTheSyntheticDataNameWhatIsMissing() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    try FileManager.default.copyItem(atPath: packageRoot + "/fixtures/runs", toPath: folder + "/runs")
    let result = try runTool("vae-fixtures", ["--fixtures", folder, "--goldens-only"])
    #expect(result.status == 66 && result.stderr == "vae-fixtures: \(folder)/synthetic/train-images.gz does not exist; vae-fixtures "
            + "without --goldens-only makes the synthetic data\n", "\(result.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["runs"])
    // A damaged one is named as the fixture it is, not as its link in a temporary folder.
    try FileManager.default.copyItem(atPath: packageRoot + "/fixtures/synthetic", toPath: folder + "/synthetic")
    let images = folder + "/synthetic/train-images.gz"
    try writeFileAtomically(Array(try readFile(images).prefix(1000)), to: images)
    let damaged = try runTool("vae-fixtures", ["--fixtures", folder, "--goldens-only"])
    #expect(damaged.status == 65 && damaged.stderr.hasPrefix("vae-fixtures: \(images): "), "\(damaged.stderr)")
    #expect(!FileManager.default.fileExists(atPath: folder + "/golden"))
}

/// Outside the package root without --fixtures, or with an empty one (which wrote into /), or
/// one that holds something else (a run folder, say), the tool refuses before making anything.
@Test func fixturesToolRefusesToWriteWhereItWasNotAsked() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let run = folder + "/run"
    try FileManager.default.createDirectory(atPath: run + "/checkpoints", withIntermediateDirectories: true)
    let intoARun = try runTool("vae-fixtures", ["--fixtures", run, "--goldens-only"])
    #expect(intoARun.status == 64 && intoARun.stderr == "vae-fixtures: \(run) holds checkpoints, which is no fixture: name the fixtures "
            + "folder, or a new or empty one\n", "\(intoARun.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: run) == ["checkpoints"])
    try FileManager.default.removeItem(atPath: run)
    for (arguments, message) in [([String](), "run from the package root (there is no Package.swift in \(folder)), or name the folder with --fixtures"),
                                 (["--fixtures", ""], "--fixtures must name a folder")] {
        let result = try runTool("vae-fixtures", arguments, workingDirectory: folder)
        #expect(result.status == 64 && result.stderr == "vae-fixtures: \(message) (see vae-fixtures --help)\n", "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }
}

// MARK: - The comparison catches breakage

/// A golden file decoded, and its frames as canvases to damage and encode again.
private func goldenAndFrames(_ caseName: String, _ animation: Animation) throws -> (golden: DecodedGIF, frames: [GIFFrame]) {
    let golden = try #require(GoldenCase.all.first { $0.name == caseName })
    let decoded = try decodeGIF(try readFile(golden.goldenPath(animation, fixtures: fixturesFolder)))
    let frames = decoded.frames.map { frame in
        var canvas = Canvas(width: decoded.width, height: decoded.height)
        canvas.pixels = frame.indices
        return GIFFrame(canvas: canvas, delayCentiseconds: frame.delayCentiseconds)
    }
    return (decoded, frames)
}

private func reencoded(_ frames: [GIFFrame]) throws -> DecodedGIF {
    try decodeGIF(try encodeGIF(frames, loopCount: 0))
}

/// The layout of the latent2 golden reconstruction, to find its caption and tiles.
private func latent2ReconstructionLayout() throws -> TileLayout {
    let golden = try #require(GoldenCase.all.first { $0.name == "latent2" })
    let fixture = try LoadedFixture("latent2")
    return try ReconstructionAnimation(options: try #require(golden.template.reconstruction), style: golden.template.style, test: fixture.test,
                                       plannedEpochs: fixture.replay.run.epochs, lastEpoch: fixture.replay.final.epoch).layout
}

@Test func unchangedFramesMatchTheirGolden() throws {
    let (golden, frames) = try goldenAndFrames("latent2", .reconstruction)
    #expect(goldenDifferences(try reencoded(frames), golden, tolerance: .images()) == [])
}

@Test func framesOutOfOrderAreCaught() throws {
    let (golden, frames) = try goldenAndFrames("latent2", .reconstruction)
    var swapped = frames
    swapped.swapAt(0, 1)
    let differences = goldenDifferences(try reencoded(swapped), golden, tolerance: .images())
    // The first frame holds, so its delay moves with it.
    #expect(differences.count == 3, "\(differences)")
    #expect(differences.first == "delays is [47, 50, 50], the golden's is [50, 47, 50]")
    #expect(differences.dropFirst().first?.hasPrefix("frame 0: ") == true)
    #expect(differences.last?.hasPrefix("frame 1: ") == true)
}

@Test func aMissingCaptionIsCaught() throws {
    let (golden, frames) = try goldenAndFrames("latent2", .reconstruction)
    let layout = try latent2ReconstructionLayout()
    var blanked = frames
    blanked[2].canvas.fillRect(x: 0, y: 0, width: layout.width, height: layout.captionHeight, index: FrameStyle.background)
    let differences = goldenDifferences(try reencoded(blanked), golden, tolerance: .images())
    #expect(differences.count == 1 && differences[0].hasPrefix("frame 2: "), "\(differences)")
}

@Test func aTileOutOfPlaceIsCaught() throws {
    let (golden, frames) = try goldenAndFrames("latent2", .reconstruction)
    let layout = try latent2ReconstructionLayout()
    // Move the second reconstruction one tile width to the right, over the gutter and its neighbour.
    var canvas = frames[1].canvas
    let (x, y) = layout.tileOrigin(column: 1, row: 1)
    let side = layout.tileSide
    let tile = (0..<side).map { row in Array(canvas.pixels[(y + row) * canvas.width + x..<(y + row) * canvas.width + x + side]) }
    canvas.fillRect(x: x, y: y, width: side, height: side, index: FrameStyle.gutterColor)
    for row in 0..<side {
        let start = (y + row) * canvas.width + x + side
        canvas.pixels.replaceSubrange(start..<start + side, with: tile[row])
    }
    var shifted = frames
    shifted[1].canvas = canvas
    let differences = goldenDifferences(try reencoded(shifted), golden, tolerance: .images())
    #expect(differences.count == 1 && differences[0].hasPrefix("frame 1: "), "\(differences)")
}

/// The latent map is compared in colour: two classes of nearly the same brightness (1 and 3,
/// Rec.601 luma 161 and 163) swapped in its colour map fail every frame, while the same frames
/// with the right colour map match.
@Test func classColoursSwappedAreCaught() throws {
    let (golden, frames) = try goldenAndFrames("latent2", .latentMap)
    var swapped = Palette.latentMapRGB
    for shade in 1...Palette.classShades {
        let one = Int(Palette.classIndex(1, shade: shade)) * 3, three = Int(Palette.classIndex(3, shade: shade)) * 3
        for channel in 0..<3 { swapped.swapAt(one + channel, three + channel) }
    }
    #expect(goldenDifferences(try decodeGIF(try encodeGIF(frames, palette: Palette.latentMapRGB)), golden, tolerance: .images()) == [])
    let differences = goldenDifferences(try decodeGIF(try encodeGIF(frames, palette: swapped)), golden, tolerance: .images())
    #expect(differences.count == golden.frames.count && differences.allSatisfy { $0.hasPrefix("frame ") }, "\(differences)")
}

@Test func timingAndLoopingMustMatchExactly() throws {
    let (golden, frames) = try goldenAndFrames("latent2", .reconstruction)
    var slower = frames
    slower[0].delayCentiseconds += 1
    #expect(goldenDifferences(try reencoded(slower), golden, tolerance: .images()) == ["delays is [51, 47, 50], the golden's is [50, 47, 50]"])
    let playsOnce = try decodeGIF(try encodeGIF(frames, loopCount: 1))
    #expect(goldenDifferences(playsOnce, golden, tolerance: .images()) == ["loop count is 1, the golden's is 0"])
}

/// `frames` with `change` applied to the grey pixels (not the accent) that `selected` picks by
/// frame number and pixel index, encoded exactly and decoded.
private func altered(_ frames: [GIFFrame], _ change: (Int) -> Int, where selected: (Int, Int) -> Bool) throws -> DecodedGIF {
    try reencoded(frames.enumerated().map { number, frame in
        var frame = frame
        for i in frame.canvas.pixels.indices where frame.canvas.pixels[i] != Palette.accent && selected(number, i) {
            frame.canvas.pixels[i] = UInt8(min(max(change(Int(frame.canvas.pixels[i])), 0), Int(Palette.maxGray)))
        }
        return frame
    })
}

/// Away from a grey pixel's ends, towards the middle of the ramp by `by` indices.
private func inward(_ by: Int) -> (Int) -> Int { { $0 < 128 ? $0 + by : $0 - by } }

/// The principal plane's tolerance takes small changes everywhere and large ones on a few pixels.
@Test func roundingNoiseIsToleratedButRealDifferencesAreNot() throws {
    let (golden, frames) = try goldenAndFrames("latent2", .sampling)
    let tolerance = GoldenTolerance.principalPlane()
    let pixels = golden.width * golden.height
    let fewPixels = Int(Double(pixels) * tolerance.fraction * 0.8)
    let manyPixels = Int(Double(pixels) * tolerance.fraction * 2)

    // One grey index is 255/253 levels: 9 indices stay within 10 levels.
    let everywhereALittle = try altered(frames, { $0 + ($0 % 2 == 0 ? tolerance.levels - 1 : 1 - tolerance.levels) }, where: { _, _ in true })
    #expect(goldenDifferences(everywhereALittle, golden, tolerance: tolerance) == [])
    let fewALot = try altered(frames, inward(30), where: { $1 % (pixels / fewPixels) == 0 })
    #expect(goldenDifferences(fewALot, golden, tolerance: tolerance) == [])
    let manyALot = try altered(frames, inward(30), where: { $1 % (pixels / manyPixels) == 0 })
    #expect(goldenDifferences(manyALot, golden, tolerance: tolerance).count == golden.frames.count)
    let onePixelTooFar = try altered(frames, inward(tolerance.maximum + 2), where: { $1 == pixels / 2 })
    #expect(goldenDifferences(onePixelTooFar, golden, tolerance: tolerance).count == golden.frames.count)
}

/// The images' tolerance takes a one-index flip in the first frame and the encoder's slack of 9
/// indices after it, and nothing beyond either, not even on one pixel.
@Test func theImagesToleranceTakesOnlyFlipsAndTheEncodersSlack() throws {
    let (golden, frames) = try goldenAndFrames("latent2", .reconstruction)
    let tolerance = GoldenTolerance.images(), middle = golden.width * golden.height / 2
    let slackAfterTheFirstFrame = try altered(frames, { $0 + ($0 % 2 == 0 ? 9 : -9) }, where: { number, _ in number > 0 })
    #expect(goldenDifferences(slackAfterTheFirstFrame, golden, tolerance: tolerance) == [])
    let flipsInTheFirstFrame = try altered(frames, { $0 + ($0 % 2 == 0 ? 1 : -1) }, where: { number, _ in number == 0 })
    #expect(goldenDifferences(flipsInTheFirstFrame, golden, tolerance: tolerance) == [])
    let firstFrameOnePixel = try altered(frames, inward(3), where: { number, i in number == 0 && i == middle })
    #expect(goldenDifferences(firstFrameOnePixel, golden, tolerance: tolerance).count == 1)
    let laterFramesOnePixel = try altered(frames, inward(11), where: { number, i in number > 0 && i == middle })
    #expect(goldenDifferences(laterFramesOnePixel, golden, tolerance: tolerance).count == golden.frames.count - 1)
}
