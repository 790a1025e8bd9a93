import Foundation
import Testing
import TestSupport
import VAECore
import VAETesting
@testable import VAERender

// The latent map's fixed projection, range, dots and legend, and the traversal's rows and sweep.

// MARK: - Latent map

/// The frame's class-coloured pixels as `frame` should draw them: each dot at the origin the
/// map gives its point, in drawing order, later over earlier.
private func expectedDots(_ map: LatentMapAnimation, points: [(x: Double, y: Double)]) -> [Int: UInt8] {
    var pixels: [Int: UInt8] = [:]
    let width = map.layout.width
    for (number, (point, label)) in zip(points, map.classes).enumerated() {
        guard let origin = map.dotOrigin(point, number: number) else { continue }
        for y in origin.y..<origin.y + map.dotSide {
            for x in origin.x..<origin.x + map.dotSide { pixels[y * width + x] = Palette.classIndex(label) }
        }
    }
    return pixels
}

private func isClassColor(_ index: UInt8) -> Bool {
    (Palette.firstClassIndex..<Palette.firstClassIndex + UInt8(10 * Palette.classShades)).contains(index)
}

/// Where `frame`, the map of the epoch whose codes are `means`, disagrees with `expected`: inside
/// a label's box (the epoch's accuracy among them) anything but black and the label's grey (a dot
/// showing through), elsewhere a class colour where none or another belongs, or a dot missing.
private func dotDisagreements(_ frame: Canvas, _ map: LatentMapAnimation, _ expected: [Int: UInt8], means: [Float]) -> Int {
    let plot = map.plot
    let accuracy = nearestNeighbourAccuracy(means, dimension: means.count / map.classes.count, labels: map.classes)!
    var underLabels = Set<Int>()
    for label in map.labels + [map.accuracyLabel(accuracy)] {
        let box = label.box(scale: map.layout.style.scale)
        for y in box.y..<box.y + box.height {
            for x in box.x..<box.x + box.width { underLabels.insert(y * frame.width + x) }
        }
    }
    var disagreements = 0
    for y in plot.y..<plot.y + plot.side {
        for x in plot.x..<plot.x + plot.side {
            let i = y * frame.width + x, shown = frame.pixels[i]
            if underLabels.contains(i) {
                if shown != 0 && shown != FrameStyle.subtitleColor { disagreements += 1 }
            } else if let colour = expected[i] {
                if shown != colour { disagreements += 1 }
            } else if isClassColor(shown) {
                disagreements += 1
            }
        }
    }
    return disagreements
}

/// The latent map is stored exactly whatever the tolerance the other GIFs of the set are given:
/// its labels are greys, and at a tolerance above their level their figures kept the first
/// frame's (the encoder took `--all --tolerance` for the map too).
@Test func latentMapIsExactAtAnyToleranceOfItsSet() throws {
    func latentMap(tolerance: Int) throws -> [UInt8] {
        let request = RenderRequest(runDirectory: fixtureRun("latent3"), dataFolder: syntheticData, sampling: SamplingOptions(grid: 2, source: .plane),
                                    latentMap: LatentMapOptions(images: 80), style: FrameStyle(scale: 1, tolerance: tolerance))
        return try #require(try renderAnimations(request).first { $0.animation == .latentMap }).bytes
    }
    let exact = try latentMap(tolerance: 0)
    #expect(try latentMap(tolerance: Int(Palette.maxGray)) == exact)
    #expect(try latentMap(tolerance: FrameStyle().tolerance) == exact)
}

@Test func latentMapProjectsEveryEpochOntoTheFinalModelsPlane() throws {
    let fixture = try LoadedFixture("latent3")
    let final = fixture.replay.final
    let map = try LatentMapAnimation(options: LatentMapOptions(images: 80), style: FrameStyle(scale: 1), final: final,
                                     test: fixture.test, codec: fixture.codec, plannedEpochs: 3)
    expectIdentical(map.indices, Array(0..<80), "the map's images")
    let finalPlane = PrincipalPlane(points: fixture.codec.encodeMeans(final.model, images: fixture.test, indices: map.indices), dimension: 3)
    #expect(map.projection == .principalPlane(finalPlane))

    let checkpoints = fixture.checkpoints
    var movedByOwnPlane = 0
    for (position, checkpoint) in checkpoints.enumerated() {
        let next = position + 1 < checkpoints.count ? checkpoints[position + 1].epoch : nil
        let frame = map.frame(checkpoint, nextEpoch: next, test: fixture.test, codec: fixture.codec)
        let means = fixture.codec.encodeMeans(checkpoint.model, images: fixture.test, indices: map.indices)
        let points = map.projection.project(means, latent: 3)
        #expect(points.indices.filter { map.dotOrigin(points[$0], number: $0) != nil }.count >= 70, "most dots are on the map")
        let expected = expectedDots(map, points: points)
        #expect(dotDisagreements(frame.canvas, map, expected, means: means) == 0, "epoch \(checkpoint.epoch)")
        // The epoch's own plane would put the dots elsewhere: the test above can tell them apart.
        let ownPlane = MapProjection.principalPlane(PrincipalPlane(points: means, dimension: 3))
        if checkpoint.epoch != final.epoch {
            movedByOwnPlane += dotDisagreements(frame.canvas, map, expectedDots(map, points: ownPlane.project(means, latent: 3)),
                                                means: means)
        }
        #expect(frame.delayCentiseconds == [80, 47, 200][position], "epoch \(checkpoint.epoch): 80 x log2((e + 1) / e), the last held")
    }
    #expect(movedByOwnPlane > 100)
}

@Test func eachLatentMapFrameGivesItsEpochsNearestNeighbourAccuracy() throws {
    let fixture = try LoadedFixture("latent3")
    let map = try LatentMapAnimation(options: LatentMapOptions(images: 80), style: FrameStyle(scale: 2), final: fixture.replay.final,
                                     test: fixture.test, codec: fixture.codec, plannedEpochs: 3)
    var accuracies: [Double] = []
    for checkpoint in fixture.checkpoints {
        let means = fixture.codec.encodeMeans(checkpoint.model, images: fixture.test, indices: map.indices)
        let accuracy = try #require(nearestNeighbourAccuracy(means, dimension: 3, labels: map.classes, k: 5))
        accuracies.append(accuracy)
        let label = map.accuracyLabel(accuracy)
        #expect(label.text == "5-NN " + String(format: "%.1f", 100 * accuracy) + "%")
        // In the plot's top-right corner, its box clear of the edges and of every other label.
        let box = label.box(scale: 2), plot = map.plot
        #expect(box.x + box.width == plot.x + plot.side - 2 && box.y == plot.y + 2)
        for other in map.labels.map({ $0.box(scale: 2) }) {
            #expect(other.x + other.width <= box.x || other.y >= box.y + box.height, "\(other) against \(box)")
        }
        // The box shows the text on black, nothing else.
        let frame = map.frame(checkpoint, nextEpoch: nil, test: fixture.test, codec: fixture.codec).canvas
        var expected = Canvas(width: frame.width, height: frame.height, fill: 0)
        expected.drawText(label.text, x: label.x, y: label.y, scale: 2, index: FrameStyle.subtitleColor)
        let mismatched = (box.y..<box.y + box.height).flatMap { y in (box.x..<box.x + box.width).map { y * frame.width + $0 } }
            .filter { frame.pixels[$0] != expected.pixels[$0] }
        #expect(mismatched.isEmpty, "epoch \(checkpoint.epoch): \(mismatched.count) pixels of the label's box")
    }
    #expect(Set(accuracies).count == 3, "each epoch's own accuracy: \(accuracies)")
    #expect(map.finalAccuracy == accuracies.last)

    // Five images leave four neighbours to vote: no "5-NN" figure, in the corner or on the line.
    let few = { (images: Int) in
        try LatentMapAnimation(options: LatentMapOptions(images: images), style: FrameStyle(scale: 2), final: fixture.replay.final,
                               test: fixture.test, codec: fixture.codec, plannedEpochs: 3)
    }
    #expect(try few(5).finalAccuracy == nil && few(6).finalAccuracy != nil)
    // More images than the test set holds is a mistake (the default, 2,000, takes all 100 here).
    #expect(try few(100).indices.count == 100)
    expectVAEError(.usage, containing: ["--map-images 101: the test set has only 100 images"]) { _ = try few(101) }
    let corner = map.accuracyLabel(1).box(scale: 2)
    let fiveFrame = try few(5).frame(fixture.replay.final, nextEpoch: nil, test: fixture.test, codec: fixture.codec).canvas
    let subtitleGrey = (corner.y..<corner.y + corner.height).contains { y in
        (corner.x..<corner.x + corner.width).contains { fiveFrame.pixels[y * fiveFrame.width + $0] == FrameStyle.subtitleColor }
    }
    #expect(!subtitleGrey, "no text in the corner of a map of five images")
}

@Test func latentMapOfATwoDimensionalLatentUsesItsCoordinatesOnASymmetricRange() throws {
    let fixture = try LoadedFixture("latent2")
    let final = fixture.replay.final
    let map = try LatentMapAnimation(options: LatentMapOptions(), style: FrameStyle(), final: final, test: fixture.test,
                                     codec: fixture.codec, plannedEpochs: 3)
    // 2,000 asked for, the whole test set of 100 shown.
    expectIdentical(map.indices, Array(0..<100), "the map's images")
    expectIdentical(map.classes, fixture.test.labels.map(Int.init), "the map's classes")
    #expect(map.projection == .coordinates(dimension: 2))
    #expect(map.subtitle == "z1 x z2")
    let means = fixture.codec.encodeMeans(final.model, images: fixture.test)
    expectIdentical(map.projection.project(means, latent: 2).flatMap { [$0.x, $0.y] }, means.map(Double.init), "the projected means")

    // The range covers 99% of the final points, with a tenth to spare, and no more than a tick step beyond.
    let reach = stride(from: 0, to: means.count, by: 2).map { Double(max(abs(means[$0]), abs(means[$0 + 1]))) }.sorted()
    let step = map.ticks[1] - map.ticks[0]
    #expect(map.extent >= 1.1 * reach[99] && map.extent < 1.1 * reach[99] + step, "\(map.extent), \(reach[99])")
    #expect(map.ticks.first == -map.ticks.last! && map.ticks.last == map.extent && map.ticks.contains(0))

    // Corners and centre: the first axis to the right, the second upward.
    let plot = map.plot, far = plot.side - map.dotSide
    let e = map.extent
    #expect(map.dotOrigin((-e, -e), number: 0)! == (plot.x, plot.y + far))
    #expect(map.dotOrigin((e, e), number: 0)! == (plot.x + far, plot.y))
    let half = Int((Double(far) / 2).rounded())
    #expect(map.dotOrigin((0, 0), number: 0)! == (plot.x + half, plot.y + far - half))
    #expect(map.dotOrigin((e * 1.01, 0), number: 0) == nil && map.dotOrigin((0, -e * 1.01), number: 0) == nil)

    // The labels say what they mark: each tick's value along the bottom and, but for the shared
    // corner's, up the side, then the axes' names.
    let sideAndBottom = map.ticks.flatMap { $0 == map.ticks[0] ? [tickLabel($0)] : [tickLabel($0), tickLabel($0)] }
    expectIdentical(map.labels.map(\.text), sideAndBottom + ["z1", "z2"], "the labels' texts")
}

/// A 1-D latent has no second axis: each class's dots go in the row beside its legend character,
/// spread up and down it, with the rows' lines in the gutters between them and no vertical ticks.
@Test func latentMapOfAOneDimensionalLatentGivesEachClassTheRowBesideItsCharacter() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let config = VAEConfig(hidden: [8], latentDim: 1)
    let model = VAEModel(config: config)
    var random = Random(seed: 3)
    model.initialize(random: &random)
    let run = RunConfig(model: config, epochs: 1, batchSize: 1, learningRate: 1e-3, seed: 3, preset: "test",
                        trainImages: 1, testImages: test.count)
    try writeCheckpoint(model, run: run, metrics: EpochMetrics(epoch: 1, train: LossTerms(), test: LossTerms(), seconds: 0,
                                                               imagesPerSecond: 0), to: folder + "/epoch-0001.safetensors")
    let final = try readCheckpoint(folder + "/epoch-0001.safetensors")
    let codec = LatentCodec(config: config)
    let map = try LatentMapAnimation(options: LatentMapOptions(), style: FrameStyle(scale: 1), final: final, test: test,
                                     codec: codec, plannedEpochs: 1)
    #expect(map.projection == .coordinates(dimension: 1))
    #expect(map.subtitle == "z1 by class")
    // The synthetic test set holds every class, so class c's row is row c.
    try #require(Set(test.labels) == Set(0...9))
    expectIdentical(try #require(map.laneOfEachDot), map.classes, "each dot's row")

    let means = codec.encodeMeans(model, images: test, indices: map.indices)
    let frame = map.frame(final, nextEpoch: nil, test: test, codec: codec).canvas
    let points = map.projection.project(means, latent: 1)
    #expect(dotDisagreements(frame, map, expectedDots(map, points: points), means: means) == 0)
    let side = map.layout.tileSide
    // The last row ends above the labels along the bottom, whose boxes no dot may reach into.
    let labelBoxes = map.labels.map { $0.box(scale: 1) }
    let labelsTop = try #require(labelBoxes.map(\.y).min())
    #expect(labelsTop > map.layout.tileOrigin(column: 0, row: 9).y, "the labels are in the last row")
    var heights: [Int: Set<Int>] = [:]
    for number in points.indices {
        let origin = try #require(map.dotOrigin(points[number], number: number), "dot \(number) off the map")
        let top = map.layout.tileOrigin(column: 0, row: map.classes[number]).y
        let bottom = min(top + side, labelsTop)
        #expect((top...bottom - map.dotSide).contains(origin.y), "dot \(number) at y \(origin.y), its row from \(top) to \(bottom)")
        heights[map.classes[number], default: []].insert(origin.y - top)
    }
    // Each class's dots each at a height of their own, over most of its row (the last row's
    // part above the labels).
    for (label, used) in heights {
        let dots = map.classes.filter { $0 == label }.count
        let room = label == 9 ? labelsTop - map.layout.tileOrigin(column: 0, row: 9).y : side
        #expect(used.count == dots && used.max()! - used.min()! >= room * 3 / 4, "class \(label): \(dots) dots at \(used.sorted())")
    }
    // The plot's only full-width lines: one in the gutter above each row but the first.
    let plot = map.plot
    let lines = (plot.y..<plot.y + plot.side).filter { y in
        (plot.x..<plot.x + plot.side).filter { frame.pixels[y * frame.width + $0] == LatentMapAnimation.gridColor }.count > plot.side / 2
    }
    expectIdentical(lines, (1...9).map { map.layout.tileOrigin(column: 0, row: $0).y - 2 }, "the rows of the horizontal lines")
    // The ticks along the bottom, and nothing up the side.
    expectIdentical(map.labels.map(\.text), map.ticks.map(tickLabel), "the labels' texts")
    #expect(Set(map.labels.map(\.y)).count == 1)
}

/// The range covers 99% of the final means, so that one image in 200 far from the rest is left
/// out of the frames rather than squeezing every other dot towards the middle. (Up to 100 images,
/// as in the other tests, 99% of them leaves none out.)
@Test func latentMapRangeLeavesOutTheFarthestPercent() throws {
    let fixture = try LoadedFixture("latent2")
    let final = fixture.replay.final, size = VAEConfig.inputSize
    // The test images whose final means lie nearest to and farthest from the centre.
    let means = fixture.codec.encodeMeans(final.model, images: fixture.test)
    let reach = (0..<fixture.test.count).map { max(abs(means[2 * $0]), abs(means[2 * $0 + 1])) }
    let near = reach.indices.min { reach[$0] < reach[$1] }!, far = reach.indices.max { reach[$0] < reach[$1] }!
    func map(_ near: Int, _ far: Int) throws -> LatentMapAnimation {
        let indices = Array(repeating: near, count: 199) + [far]
        let set = ImageSet(pixels: indices.flatMap { fixture.test.pixels[$0 * size..<($0 + 1) * size] },
                           labels: indices.map { fixture.test.labels[$0] })
        return try LatentMapAnimation(options: LatentMapOptions(), style: FrameStyle(scale: 1), final: final, test: set,
                                      codec: fixture.codec, plannedEpochs: 3)
    }
    let withOutlier = try map(near, far)
    let outlier = (x: Double(means[2 * far]), y: Double(means[2 * far + 1]))
    #expect(withOutlier.dotOrigin(outlier, number: 199) == nil, "image \(far)'s mean \(outlier) lies within ±\(withOutlier.extent)")
    #expect(withOutlier.extent == (try map(near, near)).extent)
}

/// Every label's box stays inside the plot, `scale` clear of each edge: none touches the
/// frame's border or the legend beside the plot.
@Test(arguments: [1, 2])
func latentMapLabelsKeepClearOfThePlotsEdges(scale: Int) throws {
    let fixture = try LoadedFixture("latent3")
    let map = try LatentMapAnimation(options: LatentMapOptions(), style: FrameStyle(scale: scale), final: fixture.replay.final,
                                     test: fixture.test, codec: fixture.codec, plannedEpochs: 3)
    let plot = map.plot
    #expect(map.labels.count >= 2 * map.ticks.count)
    for label in map.labels {
        let box = label.box(scale: scale)
        #expect(box.x >= plot.x + scale && box.x + box.width <= plot.x + plot.side - scale, "\(label)")
        #expect(box.y >= plot.y + scale && box.y + box.height <= plot.y + plot.side - scale, "\(label)")
    }
}

@Test func latentMapLegendShowsEachClassesFirstCharacterInItsColour() throws {
    let fixture = try LoadedFixture("latent2")
    let map = try LatentMapAnimation(options: LatentMapOptions(images: 30), style: FrameStyle(scale: 2), final: fixture.replay.final,
                                     test: fixture.test, codec: fixture.codec, plannedEpochs: 3)
    let frame = map.frame(fixture.replay.final, nextEpoch: nil, test: fixture.test, codec: fixture.codec).canvas
    let firsts = firstImagesOfEachClass(fixture.test.labels, perClass: 1)
    #expect(firsts.count == 10)
    for (label, image) in firsts.enumerated() {
        let (x, y) = map.layout.tileOrigin(column: 10, row: label)
        let expected = (0..<VAEConfig.inputSize).map { pixel in
            let value = intensity(fixture.test.pixels[image * VAEConfig.inputSize + pixel])
            let shade = Int((value * Float(Palette.classShades)).rounded())
            return shade == 0 ? 0 : Palette.classIndex(label, shade: shade)
        }
        // The top-left of each pixel's 2x2 block.
        let shown = (0..<VAEConfig.inputSize).map { frame[x + 2 * ($0 % 28), y + 2 * ($0 / 28)] }
        expectIdentical(shown, expected, "class \(label)'s character, pixel by pixel")
    }
}

@Test func latentMapPaletteReplacesOnlyGreysTheFramesNeverDraw() {
    let map = Palette.latentMapRGB, shared = Palette.rgb
    #expect(map.count == 768)
    let classEntries = Set((0..<10).flatMap { label in (1...Palette.classShades).map { Int(Palette.classIndex(label, shade: $0)) } })
    #expect(classEntries.count == 10 * Palette.classShades)
    #expect(classEntries.min() == Int(Palette.firstClassIndex) && classEntries.max()! < Int(Palette.maxGray))
    for index in 0..<256 where !classEntries.contains(index) {
        #expect(map[3 * index..<3 * index + 3] == shared[3 * index..<3 * index + 3], "index \(index)")
    }
    // The greys and the accent the map draws keep their colours.
    for index in [0, FrameStyle.background, FrameStyle.gutterColor, FrameStyle.subtitleColor, Palette.accent] {
        #expect(!classEntries.contains(Int(index)), "\(index)")
    }
    // Full shades are the Tableau colours; the first of eight shades is an eighth of each channel.
    #expect(Palette.classShades == 8)
    for (label, colour) in Palette.classColors.enumerated() {
        let full = 3 * Int(Palette.classIndex(label))
        #expect(Array(map[full..<full + 3]) == [colour.red, colour.green, colour.blue])
        let eighth = 3 * Int(Palette.classIndex(label, shade: 1))
        #expect(Array(map[eighth..<eighth + 3]) == [colour.red, colour.green, colour.blue].map { UInt8((Double($0) / 8).rounded()) })
    }
    // All eighty entries are distinct colours.
    #expect(Set(classEntries.map { Array(map[3 * $0..<3 * $0 + 3]) }).count == classEntries.count)
}

// MARK: - Traversal

@Test func traversalRowsAreTheActiveDimensionsHighestFirst() throws {
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let activity = LatentActivity(klPerDimension: [0.3, 0.005, 2.1, 0.02, 0.9], meanVariance: [0, 0, 0, 0, 0],
                                  posteriorVariance: [1, 1, 1, 1, 1])
    #expect(try TraversalAnimation(options: TraversalOptions(), style: FrameStyle(), activity: activity, test: test).dimensions
            == [2, 4, 0, 3])
    #expect(try TraversalAnimation(options: TraversalOptions(dims: 2), style: FrameStyle(), activity: activity, test: test).dimensions
            == [2, 4])
    // With nothing active, the strongest dimension still gets its row.
    let collapsed = LatentActivity(klPerDimension: [0.001, 0.008, 0.002], meanVariance: [0, 0, 0], posteriorVariance: [1, 1, 1])
    let fallback = try TraversalAnimation(options: TraversalOptions(), style: FrameStyle(), activity: collapsed, test: test)
    #expect(fallback.dimensions == [1])
    #expect(fallback.indices == Array(firstImagesOfEachClass(test.labels, perClass: 1).prefix(4)))
    #expect((fallback.layout.columns, fallback.layout.rows) == (5, 1))
}

@Test func traversalSweepsOneCoordinateTwoSpreadsEitherWayAndBack() throws {
    let fixture = try LoadedFixture("latent3")
    let model = fixture.replay.final.model
    let activity = latentActivity(model, fixture.test)
    let traversal = try TraversalAnimation(options: TraversalOptions(), style: FrameStyle(scale: 1, delay: 6, hold: 70),
                                           activity: activity, test: fixture.test)
    #expect(traversal.dimensions == activity.activeDimensions && traversal.dimensions.count >= 2, "\(activity)")
    let frames = traversal.frames(model: model, test: fixture.test, codec: fixture.codec)
    // From the mean (step 4) up to +2 sd, down to -2 sd and back: the first frame shows the means
    // and holds, as the two ends do; the sweep passes through the mean on its way down.
    #expect(traversal.frameSteps == [4, 5, 6, 7, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3])
    #expect(frames.map(\.delayCentiseconds) == [70, 6, 6, 6, 70, 6, 6, 6, 6, 6, 6, 6, 70, 6, 6, 6])
    #expect((0...8).map(TraversalAnimation.offset) == [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2])
    #expect(TraversalAnimation.caption(step: 1) == "mean - 1.50 sd" && TraversalAnimation.caption(step: 4) == "mean + 0.00 sd")
    // In latent units each row's sweep scales with the spread of its coordinate over the test set.
    let spreads = activity.meanVariance.indices.map { (activity.meanVariance[$0] + activity.posteriorVariance[$0]).squareRoot() }
    #expect(Set(spreads.map { ($0 * 1000).rounded() }).count == spreads.count, "distinct spreads tell the rows apart: \(spreads)")

    let means = fixture.codec.encodeMeans(model, images: fixture.test, indices: traversal.indices)
    for (frameNumber, step) in [(12, 0), (15, 3), (4, 8), (0, 4), (11, 1)] {
        var canvas = frames[frameNumber].canvas
        for (row, dimension) in traversal.dimensions.enumerated() {
            for character in traversal.indices.indices {
                var z = Array(means[3 * character..<3 * character + 3])
                z[dimension] += Float(TraversalAnimation.offset(step: step) * spreads[dimension])
                traversal.layout.draw(fixture.codec.decodeMeans(model, z: z), number: 0, column: 1 + character, row: row, on: &canvas)
            }
        }
        expectIdentical(canvas, frames[frameNumber].canvas, "frame \(frameNumber) redrawn at step \(step)")
    }
    // At offset 0 every row shows the decoded mean; elsewhere each row has moved its own coordinate.
    let tileAt: (Int, Int) -> [UInt8] = { frame, row in tile(of: frames[frame].canvas, layout: traversal.layout, column: 1, row: row) }
    expectIdentical(tileAt(0, 1), tileAt(0, 0), "the rows' first tiles at offset 0")
    expectDifferent(tileAt(12, 1), tileAt(12, 0), "the rows' first tiles at offset -2 sd")
}

@Test func traversalLabelsNameTheDimensionAndItsKL() throws {
    #expect(TraversalAnimation.natsLabel(0.4249) == "0.42")
    #expect(TraversalAnimation.natsLabel(9.999) == "10.0")
    #expect(TraversalAnimation.natsLabel(12.34) == "12.3")
    #expect(TraversalAnimation.natsLabel(99.94) == "99.9" && TraversalAnimation.natsLabel(99.96) == "100")
    #expect(TraversalAnimation.natsLabel(153.4) == "153")
    #expect(TraversalAnimation.natsLabel(999.49) == "999" && TraversalAnimation.natsLabel(999.5) == ">999")
    #expect(TraversalAnimation.natsLabel(-1e-9) == "0.00")
    #expect(TraversalAnimation.natsLabel(.nan) == "nan" && TraversalAnimation.natsLabel(.infinity) == ">999")
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let activity = LatentActivity(klPerDimension: [0.2, 1.5], meanVariance: [0, 0], posteriorVariance: [1, 1])
    let traversal = try TraversalAnimation(options: TraversalOptions(), style: FrameStyle(scale: 1), activity: activity, test: test)
    let model = VAEModel(config: VAEConfig(hidden: [8], latentDim: 2))
    var random = Random(seed: 4)
    model.initialize(random: &random)
    let frame = traversal.frames(model: model, test: test, codec: LatentCodec(config: model.config))[0].canvas
    var labelled = frame
    let (x, y) = traversal.layout.tileOrigin(column: 0, row: 0)
    labelled.drawText("z2", x: x + 1, y: y + 5, index: Palette.accent)
    labelled.drawText("1.50", x: x + 1, y: y + 14, index: FrameStyle.subtitleColor)
    expectIdentical(labelled, frame, "the frame with its first row's labels drawn again")
    // The unit is said once, in the subtitle, not in every row's tile.
    #expect(traversal.layout.subtitle == "2/2 active, KL in nats")
}

/// The rows and their KL labels are vae-eval's: over the images the run was trained on, so a
/// dynamically binarized run measures its dimensions on the binarized test set.
@Test func aBinarizedRunsTraversalMeasuresItsDimensionsOnBinarizedImages() throws {
    // The synthetic shapes are nearly black and white; at half their grey levels, binarizing changes them.
    let synthetic = try KMNIST.load(from: syntheticData)
    let test = ImageSet(pixels: synthetic.test.pixels.map { $0 / 2 }, labels: synthetic.test.labels)
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    writeSplit(test, split: "t10k", in: folder)
    let run = RunConfig(model: VAEConfig(hidden: [16], latentDim: 3), epochs: 3, batchSize: 32, learningRate: 1e-2, seed: 2,
                        preset: "default", trainImages: synthetic.train.count, testImages: test.count, binarization: .dynamic)
    let directory = RunDirectory(folder + "/run")
    try train(run, data: KMNIST(train: synthetic.train, test: test), directory: directory, mode: .fresh)
    let rendered = try renderAnimations(RenderRequest(runDirectory: directory.path, dataFolder: folder,
                                                      traversal: TraversalOptions(), style: FrameStyle(scale: 1)))

    let model = try RunReplay(runDirectory: directory.path).final.model
    let codec = LatentCodec(config: model.config)
    func traversalGIF(_ activity: LatentActivity) throws -> [UInt8] {
        let traversal = try TraversalAnimation(options: TraversalOptions(), style: FrameStyle(scale: 1), activity: activity, test: test)
        return try encodeGIF(traversal.frames(model: model, test: test, codec: codec), loopCount: 0,
                             tolerance: FrameStyle().tolerance, palette: Palette.rgb)
    }
    let binarized = latentActivity(model, test.evaluationImages(for: run)), grey = latentActivity(model, test)
    expectDifferent(try traversalGIF(binarized), try traversalGIF(grey),
                    "the grey-level KLs label the rows alike: \(binarized.klPerDimension) and \(grey.klPerDimension)")
    try #require(rendered.count == 1)
    expectIdentical(rendered[0].bytes, try traversalGIF(binarized), "the rendered traversal")
}
