import Foundation
import Testing
import TestSupport
import VAECore
@testable import VAERender

// The latent geometry behind the animations, and the frames each animation makes.

// MARK: - Gaussian quantiles and the latent-2 grid

@Test(arguments: [
    (0.5, 0.0),
    (0.95, 1.6448536269514722),
    (0.05, -1.6448536269514722),
    (0.975, 1.959963984540054),
    (0.001, -3.090232306167813),
    (0.84134474606854293, 1.0),
    (1e-10, -6.361340902404056),
    (1 - 1e-6, 4.753424308822899),
])
func inverseNormalCDFIsAccurate(probability: Double, quantile: Double) {
    #expect(abs(inverseNormalCDF(probability) - quantile) <= 1e-12 * max(1, abs(quantile)), "Φ⁻¹(\(probability))")
}

@Test func inverseNormalCDFIsInfiniteAtTheEnds() {
    #expect(inverseNormalCDF(0) == -.infinity)
    #expect(inverseNormalCDF(1) == .infinity)
}

@Test func gridCoordinatesSpanTheFiveToNinetyFivePercentQuantiles() {
    let five = gridCoordinates(count: 5)
    let expected = [-1.6448536269514722, -0.59776012604247841, 0, 0.59776012604247841, 1.6448536269514722]
    #expect(zip(five, expected).allSatisfy { abs($0 - $1) < 1e-12 }, "\(five)")
    #expect(gridCoordinates(count: 1) == [0])
}

@Test func latent2GridHasTheFirstAxisAcrossAndTheSecondUpward() throws {
    let fixture = try LoadedFixture("latent2")
    let sampling = try SamplingAnimation(options: SamplingOptions(grid: 3, source: .plane), style: FrameStyle(), final: fixture.replay.final.model,
                                         test: fixture.test, codec: fixture.codec, plannedEpochs: 3, lastEpoch: 3)
    #expect(sampling.grid == .priorQuantiles)
    let q = Float(1.6448536269514722)
    // Reading order: the top row has the largest z2, each row runs from the smallest z1.
    #expect(sampling.points == [-q, q, 0, q, q, q,
                                -q, 0, 0, 0, q, 0,
                                -q, -q, 0, -q, q, -q])
}

@Test func randomSamplingIsFixedBySeed() throws {
    let fixture = try LoadedFixture("latent3")
    func points(seed: UInt64) throws -> [Float] {
        try SamplingAnimation(options: SamplingOptions(grid: 2, source: .sampler(.prior), seed: seed), style: FrameStyle(),
                              final: fixture.replay.final.model, test: fixture.test, codec: fixture.codec,
                              plannedEpochs: 3, lastEpoch: 3).points
    }
    var random = Random(seed: 5)
    var expected = [Float](repeating: 0, count: 2 * 2 * 3)
    expected.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
    #expect(try points(seed: 5) == expected)
    #expect(try points(seed: 6) != expected)
}

/// The sampling frame's subtitle names a tempered sampler's temperature, the one asked for,
/// and nothing of the kind for N(0, I) or a grid.
@Test func samplingSubtitleNamesTheTemperature() {
    func subtitle(_ source: SamplingSource, temperature: Double = defaultSamplingTemperature,
                  conditional: Bool = false) -> String {
        let config = VAEConfig(hidden: [8], latentDim: 3, conditional: conditional)
        return SamplingAnimation.layout(SamplingOptions(source: source, temperature: temperature), style: FrameStyle(),
                                        config: config, plannedEpochs: 1, lastEpoch: 1).subtitle
    }
    #expect(subtitle(.sampler(.gmm)) == "z ~ GMM, T=1.15")
    #expect(subtitle(.sampler(.vamp), temperature: 0.8) == "z ~ VampPrior, T=0.8")
    #expect(subtitle(.sampler(.twoStage), temperature: 2) == "z ~ two-stage, T=2.0")
    #expect(subtitle(.sampler(.gmmDiagonal), temperature: 0.5, conditional: true) == "z ~ GMM diag, T=0.5, rows = classes 0-9")
    #expect(subtitle(.sampler(.prior), temperature: 0.5) == "z ~ N(0,I)")
    #expect(subtitle(.plane, temperature: 0.5) == "PC1 x PC2")
}

/// A randomly initialised model of `latent` dimensions, with a codec for it.
private func untrainedModel(latent: Int) -> (model: VAEModel, codec: LatentCodec) {
    let config = VAEConfig(hidden: [8], latentDim: latent)
    let model = VAEModel(config: config)
    var random = Random(seed: 11)
    model.initialize(random: &random)
    return (model, LatentCodec(config: config))
}

@Test func aOneDimensionalLatentGetsTheQuantilesInReadingOrder() throws {
    let (model, codec) = untrainedModel(latent: 1)
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let sampling = try SamplingAnimation(options: SamplingOptions(grid: 3, source: .plane), style: FrameStyle(), final: model, test: test,
                                         codec: codec, plannedEpochs: 1, lastEpoch: 1)
    #expect(sampling.grid == .priorQuantiles)
    #expect(sampling.points == gridCoordinates(count: 9).map(Float.init))
}

@Test func aWideLatentGetsAPrincipalPlaneGrid() throws {
    let (model, codec) = untrainedModel(latent: 40)
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let sampling = try SamplingAnimation(options: SamplingOptions(grid: 2, source: .plane), style: FrameStyle(), final: model, test: test,
                                         codec: codec, plannedEpochs: 1, lastEpoch: 1)
    guard case .principalPlane(let plane) = sampling.grid else {
        Issue.record("a 40-D latent must use the principal plane, got \(sampling.grid)")
        return
    }
    #expect(sampling.points.count == 4 * 40)
    // The axes are orthonormal.
    let dot = { (u: [Double], v: [Double]) in zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
    #expect(abs(dot(plane.axes[0], plane.axes[0]) - 1) < 1e-9 && abs(dot(plane.axes[1], plane.axes[1]) - 1) < 1e-9)
    #expect(abs(dot(plane.axes[0], plane.axes[1])) < 1e-9)
    #expect(plane.spreads[0] >= plane.spreads[1] && plane.spreads[1] > 0)
}

// MARK: - Principal plane

@Test func principalPlaneFindsTheAxesOfAKnownCloud() {
    // A cloud in 4-D with standard deviation 3 along u1, 1 along u2 and 0.1 along u3, around c.
    let u1: [Double] = [0.36, 0.48, 0.8, 0], u2: [Double] = [0.8, -0.6, 0, 0], u3: [Double] = [0, 0, 0, 1]
    let c: [Double] = [1, -2, 0.5, 3]
    var points: [Float] = []
    for a in [-1.0, 1] {
        for b in [-1.0, 1] {
            for d in [-1.0, 1] {
                points += (0..<4).map { Float(c[$0] + 3 * a * u1[$0] + b * u2[$0] + 0.1 * d * u3[$0]) }
            }
        }
    }
    // The points in another order must give the same plane, signs included.
    let reordered = stride(from: points.count - 4, through: 0, by: -4).flatMap { points[$0..<$0 + 4] }
    for cloud in [points, reordered] {
        let plane = PrincipalPlane(points: cloud, dimension: 4)
        #expect(zip(plane.center, c).allSatisfy { abs($0 - $1) < 1e-6 }, "\(plane.center)")
        #expect(abs(plane.spreads[0] - 3) < 1e-5 && abs(plane.spreads[1] - 1) < 1e-5, "\(plane.spreads)")
        // Each axis is signed so that its largest component is positive: 0.8 in both.
        #expect(zip(plane.axes[0], u1).allSatisfy { abs($0 - $1) < 1e-6 }, "\(plane.axes[0])")
        #expect(zip(plane.axes[1], u2).allSatisfy { abs($0 - $1) < 1e-6 }, "\(plane.axes[1])")
        let corner = plane.point(1, -1)
        #expect((0..<4).allSatisfy { abs(Double(corner[$0]) - (c[$0] + 3 * u1[$0] - u2[$0])) < 1e-5 })
    }
}

/// A cloud with no spread (one image, or an encoder that maps every image to one point) has no
/// leading directions: the plane falls back to the first two coordinates, with no spread.
@Test func principalPlaneOfAPointIsTheFirstTwoCoordinates() {
    let plane = PrincipalPlane(points: Array(repeating: [0.5, -1, 2, 0.25], count: 3).flatMap { $0 }, dimension: 4)
    #expect(plane.axes == [[1, 0, 0, 0], [0, 1, 0, 0]] && plane.spreads == [0, 0], "\(plane)")
}

@Test func latent3GridLiesOnThePrincipalPlaneOfTheEncodedTestSet() throws {
    let fixture = try LoadedFixture("latent3")
    let sampling = try SamplingAnimation(options: SamplingOptions(grid: 3, source: .plane), style: FrameStyle(), final: fixture.replay.final.model,
                                         test: fixture.test, codec: fixture.codec, plannedEpochs: 3, lastEpoch: 3)
    guard case .principalPlane(let plane) = sampling.grid else {
        Issue.record("a 3-D latent must use the principal plane, got \(sampling.grid)")
        return
    }
    #expect(plane == PrincipalPlane(points: fixture.codec.encodeMeans(fixture.replay.final.model, images: fixture.test), dimension: 3))
    // The centre tile is the mean; the fixture's first two spreads are well apart, so the golden's
    // plane cannot swap its axes on another CPU.
    #expect(Array(sampling.points[12..<15]) == plane.point(0, 0))
    #expect(plane.spreads[0] > 1.2 * plane.spreads[1], "\(plane.spreads)")
}

// MARK: - Interpolation

/// The crossfade the quality table sets beside the paths, by hand: a ramp up, a ramp down and a
/// flat 0.2, pairs (0, 1) and (2, 1), 3 steps: t = 1/3, then 2/3, each step's pairs in order, the
/// ends left out, pixel by pixel.
@Test func crossfadeMixesEachPairStepMajor() {
    let size = VAEConfig.inputSize
    let up = (0..<size).map { Double($0) / Double(size) }, down = up.map { 1 - $0 }, flat = [Double](repeating: 0.2, count: size)
    let mixed = crossfade((up + down + flat).map(Float.init), pairs: [ImagePair(a: 0, b: 1), ImagePair(a: 2, b: 1)], steps: 3)
    var expected: [Double] = []
    for (t, a) in [(1.0 / 3, up), (1.0 / 3, flat), (2.0 / 3, up), (2.0 / 3, flat)] as [(Double, [Double])] {
        for i in 0..<size { expected.append((1 - t) * a[i] + t * down[i]) }
    }
    #expect(mixed.count == expected.count)
    let worst = zip(mixed, expected).map { abs(Double($0) - $1) }.max() ?? 0
    #expect(worst < 1e-6, "largest difference \(worst)")
}

@Test func interpolationPathsStartAtAAndEndAtBExactly() {
    let a: [Float] = [0.3, -1.2, 2.5], b: [Float] = [-0.7, 0.4, 1.1]
    for spherical in [false, true] {
        #expect(interpolate(a[...], b[...], t: 0, spherical: spherical) == a)
        #expect(interpolate(a[...], b[...], t: 1, spherical: spherical) == b)
    }
    // Halfway, the straight line cuts inside the circle through A and B, which slerp follows.
    let norm = { (v: [Float]) in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    let c: [Float] = [2, 0, 0], d: [Float] = [0, 2, 0]
    #expect(abs(norm(interpolate(c[...], d[...], t: 0.5, spherical: true)) - 2) < 1e-6)
    #expect(abs(norm(interpolate(c[...], d[...], t: 0.5, spherical: false)) - Float(2).squareRoot()) < 1e-6)
    // Parallel vectors have no circle; slerp falls back to the line instead of dividing by zero.
    #expect(interpolate(c[...], c[...], t: 0.5, spherical: true) == c)
    // So do two points of a 1-D latent, of one sign (angle 0) or of two (angle π): the render
    // captions their path straight (aOneDimensionalInterpolationIsCaptionedStraight).
    for (p, q) in [(Float(0.5), Float(2)), (-1.5, 0.75)] {
        for t in [0.25, 0.5, 0.75] {
            #expect(interpolate([p][...], [q][...], t: t, spherical: true) == interpolate([p][...], [q][...], t: t, spherical: false))
        }
    }
}

/// On a 1-D latent the great circle between two means is their line, and slerp keeps to it: the
/// interpolation is the straight one, caption included, byte for byte.
@Test func aOneDimensionalInterpolationIsCaptionedStraight() throws {
    let data = try KMNIST.load(from: syntheticData)
    let run = RunConfig(model: VAEConfig(hidden: [8], latentDim: 1), epochs: 1, batchSize: 50, learningRate: 1e-3, seed: 4,
                        preset: "test", trainImages: data.train.count, testImages: data.test.count)
    let directory = RunDirectory(temporaryFolder() + "/run")
    defer { removeTemporaryFolder(directory.path) }
    try train(run, data: data, directory: directory, mode: .fresh)
    let replay = try RunReplay(runDirectory: directory.path)
    let gifs = try [true, false].map { spherical in
        let request = RenderRequest(runDirectory: directory.path, dataFolder: syntheticData,
                                    interpolation: InterpolationOptions(pairs: [ImagePair(a: 0, b: 1)], spherical: spherical, steps: 4),
                                    style: FrameStyle(scale: 1))
        return try #require(try renderAnimations(request, replay: replay).first).bytes
    }
    expectIdentical(gifs[0], gifs[1], "the 1-D interpolation with and without --spherical")
}

@Test func interpolationEndsDecodeTheEncodedAAndB() throws {
    let fixture = try LoadedFixture("latent3")
    let model = fixture.replay.final.model
    let pair = ImagePair(a: 4, b: 9)
    let decodedA = fixture.codec.decodeMeans(model, z: fixture.codec.encodeMeans(model, images: fixture.test, indices: [pair.a]))
    let decodedB = fixture.codec.decodeMeans(model, z: fixture.codec.encodeMeans(model, images: fixture.test, indices: [pair.b]))
    var morphTiles: [[[UInt8]]] = []  // [straight, spherical][t = 0, t = 1]
    for spherical in [false, true] {
        let animation = try InterpolationAnimation(options: InterpolationOptions(pairs: [pair], spherical: spherical, steps: 4),
                                                   style: FrameStyle(), test: fixture.test)
        let frames = animation.frames(model: model, test: fixture.test, codec: fixture.codec)
        #expect(animation.frameSteps == [0, 1, 2, 3, 4, 3, 2, 1])
        #expect(frames.map(\.delayCentiseconds) == [200, 10, 10, 10, 200, 10, 10, 10])
        // Drawing the decoded A (B) over the middle tile of the first (middle) frame changes nothing.
        var first = frames[0].canvas, middle = frames[4].canvas
        animation.layout.draw(decodedA, number: 0, column: 0, row: 1, on: &first)
        animation.layout.draw(decodedB, number: 0, column: 0, row: 1, on: &middle)
        expectIdentical(first, frames[0].canvas, "the first frame with the decoded A drawn over it")
        expectIdentical(middle, frames[4].canvas, "the middle frame with the decoded B drawn over it")
        morphTiles.append([frames[0], frames[4]].map { tile(of: $0.canvas, layout: animation.layout, column: 0, row: 1) })
    }
    // The two paths meet at t = 0 and t = 1 (their frames differ in width, as their captions do).
    expectIdentical(morphTiles[1], morphTiles[0], "the spherical path's end tiles against the straight one's")
}

/// The quality table's random pairs: two different images, of one class when asked, A drawn from
/// every image that has a partner, and the same pairs from the same random state.
@Test func randomPairsAreTwoDifferentImagesOfTheKindAsked() {
    let labels: [UInt8] = [0, 0, 1, 2, 2, 2]
    var random = Random(seed: 7)
    let sameClass = randomPairs(labels: labels, count: 600, sameClass: true, random: &random)
    #expect(sameClass.count == 600)
    #expect(sameClass.allSatisfy { $0.a != $0.b && labels[$0.a] == labels[$0.b] }, "\(sameClass.prefix(20))")
    // Image 2 is alone in its class; every other image is an A, and a B, about equally often.
    #expect(Set(sameClass.map(\.a)) == [0, 1, 3, 4, 5] && Set(sameClass.map(\.b)) == [0, 1, 3, 4, 5])
    let asA = Dictionary(grouping: sameClass, by: \.a).mapValues(\.count)
    #expect(asA.values.allSatisfy { (80...160).contains($0) }, "\(asA)")
    var again = Random(seed: 7)
    #expect(randomPairs(labels: labels, count: 600, sameClass: true, random: &again) == sameClass)

    let anyClass = randomPairs(labels: labels, count: 600, sameClass: false, random: &random)
    #expect(anyClass.allSatisfy { $0.a != $0.b })
    #expect(Set(anyClass.map(\.a)) == Set(labels.indices) && anyClass.contains { labels[$0.a] != labels[$0.b] })
    #expect(randomPairs(labels: [3], count: 5, sameClass: false, random: &random).isEmpty)
    #expect(randomPairs(labels: [1, 2, 3], count: 5, sameClass: true, random: &random).isEmpty)
    #expect(randomPairs(labels: [1, 1], count: 4, sameClass: true, random: &random).allSatisfy { $0.a + $0.b == 1 })
}

/// The path the interpolation GIF draws, as the quality table scores it: step-major, from the
/// decoded A through `interpolate`'s points to the decoded B.
@Test func decodedInterpolationsAreTheDecodedPathStepByStep() throws {
    let fixture = try LoadedFixture("latent3")
    let model = fixture.replay.final.model, codec = fixture.codec
    let pairs = [ImagePair(a: 4, b: 9), ImagePair(a: 0, b: 2)]
    let means = codec.encodeMeans(model, images: fixture.test, indices: [4, 9, 0, 2])
    for spherical in [false, true] {
        let path = decodeInterpolations(pairs, steps: 4, spherical: spherical, model: model, test: fixture.test, codec: codec)
        let z = (0...4).flatMap { step in
            [interpolate(means[0..<3], means[3..<6], t: Double(step) / 4, spherical: spherical),
             interpolate(means[6..<9], means[9..<12], t: Double(step) / 4, spherical: spherical)].joined()
        }
        expectIdentical(path, codec.decodeMeans(model, z: z), "the decoded path, spherical: \(spherical)")
    }
}

/// A sweep draws each frame as it hands it out, so that it holds one frame however many steps
/// it has (interpolation with --steps 1000 held a thousand canvases, 2 GB at --scale 8): drawing
/// and handing out alternate, a step on the way back drawn again, and only the ends (and the
/// first frame) hold.
@Test func aSweepDrawsEachFrameAsItHandsItOut() {
    var events: [String] = []
    ThereAndBack(steps: 3).forEachFrame(style: FrameStyle(delay: 7, hold: 90), drawing: { step in
        events.append("draw \(step)")
        return Canvas(width: 1, height: 1, fill: UInt8(step))
    }) { frame in
        events.append("frame \(frame.canvas.pixels[0]) \(frame.delayCentiseconds)")
    }
    #expect(events == ["draw 0", "frame 0 90", "draw 1", "frame 1 7", "draw 2", "frame 2 7", "draw 3", "frame 3 90",
                       "draw 2", "frame 2 7", "draw 1", "frame 1 7"])
    // Started on the way up at 2, the same cycle turned, its first frame held as the ends are.
    #expect(ThereAndBack(steps: 3, startingAt: 2).frameSteps == [2, 3, 2, 1, 0, 1])
    var delays: [Int] = []
    ThereAndBack(steps: 3, startingAt: 2).forEachFrame(style: FrameStyle(delay: 7, hold: 90),
                                                       drawing: { _ in Canvas(width: 1, height: 1) }) { delays.append($0.delayCentiseconds) }
    #expect(delays == [90, 90, 7, 7, 90, 7])
    #expect(ThereAndBack(steps: 3, startingAt: 0).frameSteps == [0, 1, 2, 3, 2, 1])
}

@Test func defaultPairsLinkEachClassToTheNext() {
    let labels: [UInt8] = [3, 1, 3, 0, 1, 0]
    #expect(defaultInterpolationPairs(labels: labels) == [ImagePair(a: 3, b: 1), ImagePair(a: 1, b: 0), ImagePair(a: 0, b: 3)])
    #expect(defaultInterpolationPairs(labels: [7, 7, 7]) == [ImagePair(a: 0, b: 2)])
    #expect(firstImagesOfEachClass(labels, perClass: 2) == [3, 1, 0, 5, 4, 2])
}

// MARK: - Per-epoch animations

@Test func anEpochsFrameShowsForItsShareOfTheDoublingsBetweenDelayAndHold() {
    let style = FrameStyle()
    // 80 x log2(next / epoch), rounded: 80, 46.8, 33.2, 11.0, 10.04, then 5.6 raised to the delay of 10.
    #expect([(1, 2), (2, 3), (3, 4), (10, 11), (11, 12), (20, 21)].map { style.epochDelay(epoch: $0, next: $1) }
            == [80, 47, 33, 11, 10, 10])
    #expect(style.epochDelay(epoch: 1, next: 8) == 200, "three doublings, 240, capped at the hold")
    #expect(style.epochDelay(epoch: 2, next: 6) == 127, "a thinned frame: 80 x log2(3) = 126.8")
    #expect(style.epochDelay(epoch: 30, next: nil) == 200, "the last epoch holds")
    let uniform = FrameStyle(delay: 6, hold: 70, doubling: 0)
    #expect([(1, 2), (1, 100)].map { uniform.epochDelay(epoch: $0, next: $1) } == [6, 6], "0: every epoch for --delay")
    #expect(uniform.epochDelay(epoch: 5, next: nil) == 70)
}

@Test func samplingAndReconstructionShowOneFramePerEpochInOrderAndHoldTheLast() throws {
    let fixture = try LoadedFixture("latent2")
    let style = FrameStyle(scale: 1, delay: 9, hold: 90, doubling: 70)
    let sampling = try SamplingAnimation(options: SamplingOptions(grid: 2, source: .plane), style: style, final: fixture.replay.final.model,
                                         test: fixture.test, codec: fixture.codec, plannedEpochs: 3, lastEpoch: 3)
    let reconstruction = try ReconstructionAnimation(options: ReconstructionOptions(indices: [0, 1, 2]), style: style,
                                                     test: fixture.test, plannedEpochs: 3, lastEpoch: 3)
    let checkpoints = fixture.checkpoints
    #expect(checkpoints.map(\.epoch) == [1, 2, 3])
    let nextEpochs = [2, 3, nil]
    let samplingFrames = zip(checkpoints, nextEpochs).map { sampling.frame($0, nextEpoch: $1, codec: fixture.codec) }
    let reconstructionFrames = zip(checkpoints, nextEpochs).map {
        reconstruction.frame($0, nextEpoch: $1, test: fixture.test, codec: fixture.codec)
    }
    for frames in [samplingFrames, reconstructionFrames] {
        // 70 x log2(2/1) and 70 x log2(3/2) = 40.9, then the hold.
        #expect(frames.map(\.delayCentiseconds) == [70, 41, 90])
        // Each epoch's model draws something else.
        expectDifferent(frames[1].canvas.pixels, frames[0].canvas.pixels, "epoch 2's frame against epoch 1's")
        expectDifferent(frames[2].canvas.pixels, frames[1].canvas.pixels, "epoch 3's frame against epoch 2's")
    }
    // The caption names the epoch and its checkpoint's test loss (sampling) or reconstruction term
    // (reconstruction): frame 2's caption strip is exactly a blank frame's with that caption.
    let test = checkpoints[1].metrics.test
    try #require(String(format: "%.1f", test.total) != String(format: "%.1f", checkpoints[1].metrics.train.total))
    for (frame, layout, caption) in [(samplingFrames[1], sampling.layout, "epoch 2/3  test loss " + String(format: "%.1f", test.total)),
                                     (reconstructionFrames[1], reconstruction.layout,
                                      "epoch 2/3  test recon " + String(format: "%.1f", test.reconstruction))] {
        let strip = 0..<layout.captionHeight * layout.width
        #expect(frame.canvas.pixels[strip] == layout.blankFrame(caption: caption).pixels[strip], "\(caption)")
    }
}

/// A frame's loss keeps to six characters, so that the layout's room for it always suffices.
@Test(arguments: [(213.36, "213.4"), (-758.34, "-758.3"), (-0.04, "0.0"), (999.94, "999.9"), (999.96, "1000"),
                  (-999.95, "-1000"), (1000.5, "1001"), (-12345.4, "-12345"), (99_999.4, "99999"), (99_999.6, "1e+05"),
                  (-99_999.5, "-1e+05"), (-3.4e38, "-3e+38")])
func lossFiguresKeepToSixCharacters(loss: Double, figure: String) {
    #expect(lossFigure(loss) == figure)
    #expect(figure.count <= lossFigureWidth)
}

@Test func theLayoutLeavesRoomForTheWidestCaption() {
    #expect(EpochFigure.testLoss.widestCaption(last: 3, of: 30) == "epoch 30/30  test loss 888888")
    #expect(EpochFigure.reconstructionLoss.widestCaption(last: 31, of: 30) == "epoch 31/30  test recon 888888")
}

@Test func reconstructionDefaultsToTheFirstTwoOfEachClass() throws {
    let fixture = try LoadedFixture("latent2")
    let animation = try ReconstructionAnimation(options: ReconstructionOptions(), style: FrameStyle(), test: fixture.test,
                                                plannedEpochs: 3, lastEpoch: 3)
    #expect(animation.indices == firstImagesOfEachClass(fixture.test.labels, perClass: 2))
    #expect(animation.indices.count == 20)
    #expect(animation.indices.prefix(10).map { fixture.test.labels[$0] } == Array(0...9))
    #expect((animation.layout.columns, animation.layout.rows) == (10, 4))
}

/// The interpolation's caption tells every step from the next, and the last is t=1 alone; where
/// four decimals can say every step exactly, it does (sixteenths: 0.0625, not 0.06).
@Test(arguments: [(1, 2), (3, 2), (8, 3), (16, 4), (100, 2), (101, 3), (300, 3), (1000, 3)])
func interpolationCaptionsTellEveryStepApart(steps: Int, decimals: Int) {
    let options = InterpolationOptions(pairs: nil, steps: steps)
    let captions = (0...steps).map { InterpolationAnimation.caption(options, step: $0) }
    #expect(Set(captions).count == steps + 1, "\(steps) steps")
    let zeros = String(repeating: "0", count: decimals)
    #expect(captions.filter { $0.hasSuffix("t=1.\(zeros)") } == [captions.last!])
    #expect(captions.first == "spherical  t=0.\(zeros)")
    if [8, 16].contains(steps) {
        #expect(captions.map { Double($0.split(separator: "=").last!)! } == (0...steps).map { Double($0) / Double(steps) },
                "\(steps) steps: \(captions)")
    }
}

/// Past ten characters (pairs) a reconstruction (interpolation) goes on in another group of rows
/// below the first, a band of background between them, and the frame ends with the last group,
/// whose slots past its last character are background, not gutter.
/// The defaults of KMNIST's ten classes fill one row of pairs, and the goldens have one group.
@Test func moreCharactersThanColumnsGoOnInAnotherGroupOfRows() throws {
    let fixture = try LoadedFixture("latent2")
    let model = fixture.replay.final.model, style = FrameStyle(scale: 2)
    let indices = Array(0..<13)
    let reconstruction = try ReconstructionAnimation(options: ReconstructionOptions(indices: indices), style: style,
                                                     test: fixture.test, plannedEpochs: 3, lastEpoch: 3)
    try #require((reconstruction.layout.columns, reconstruction.layout.rows) == (10, 4))
    let frame = reconstruction.frame(fixture.replay.final, nextEpoch: nil, test: fixture.test, codec: fixture.codec).canvas
    var redrawn = frame
    let originals = fixture.test.intensities(at: indices)
    let reconstructions = fixture.codec.decodeMeans(model, z: fixture.codec.encodeMeans(model, images: fixture.test, indices: indices))
    for number in indices {
        reconstruction.layout.draw(originals, number: number, column: number % 10, row: 2 * (number / 10), on: &redrawn)
        reconstruction.layout.draw(reconstructions, number: number, column: number % 10, row: 2 * (number / 10) + 1, on: &redrawn)
    }
    expectIdentical(redrawn, frame, "the reconstruction with each character and its reconstruction drawn again")

    let pairs = (0..<12).map { ImagePair(a: $0, b: 12 + $0) }
    let interpolation = try InterpolationAnimation(options: InterpolationOptions(pairs: pairs, steps: 1), style: style, test: fixture.test)
    try #require((interpolation.layout.columns, interpolation.layout.rows) == (10, 6))
    let start = interpolation.frames(model: model, test: fixture.test, codec: fixture.codec)[0].canvas
    var redrawnStart = start
    let ends = fixture.test.intensities(at: pairs.flatMap { [$0.a, $0.b] })
    let decodedA = fixture.codec.decodeMeans(model, z: fixture.codec.encodeMeans(model, images: fixture.test, indices: pairs.map(\.a)))
    for number in pairs.indices {
        let column = number % 10, top = 3 * (number / 10)
        interpolation.layout.draw(ends, number: 2 * number, column: column, row: top, on: &redrawnStart)
        interpolation.layout.draw(decodedA, number: number, column: column, row: top + 1, on: &redrawnStart)
        interpolation.layout.draw(ends, number: 2 * number + 1, column: column, row: top + 2, on: &redrawnStart)
    }
    expectIdentical(redrawnStart, start, "the interpolation's first frame with A, the decoded A and B drawn again")

    for (layout, canvas) in [(reconstruction.layout, frame), (interpolation.layout, start)] {
        let gutter = style.gutter, lastRow = layout.tileOrigin(column: 0, row: layout.rowsPerGroup - 1).y
        let nextGroup = layout.tileOrigin(column: 0, row: layout.rowsPerGroup).y
        #expect(nextGroup - lastRow == layout.tileSide + gutter + style.groupGap, "rows either side of the groups' boundary lie a group gap further apart")
        // Between the first group's gutter below it and the second's above.
        let firstGroupEnd = lastRow + layout.tileSide + gutter, secondGroupTop = nextGroup - gutter
        #expect(firstGroupEnd < secondGroupTop && (firstGroupEnd..<secondGroupTop).allSatisfy { y in
            canvas.pixels[y * canvas.width..<(y + 1) * canvas.width].allSatisfy { $0 == FrameStyle.background }
        }, "the band between the groups is background")
        #expect(layout.tileOrigin(column: 0, row: layout.rows - 1).y + layout.tileSide + gutter == layout.height,
                "the last group's gutter is the frame's bottom edge")
        // The last group's gutters end after its last image; the empty slots beyond are background.
        let firstEmpty = layout.tileOrigin(column: layout.lastGroupColumns, row: layout.rows - 1).x
        let groupTop = layout.tileOrigin(column: 0, row: layout.rows - layout.rowsPerGroup).y - gutter
        #expect(canvas.pixels[groupTop * canvas.width + firstEmpty - 1] == FrameStyle.gutterColor)
        #expect((groupTop..<layout.height).allSatisfy { y in
            canvas.pixels[y * canvas.width + firstEmpty..<(y + 1) * canvas.width].allSatisfy { $0 == FrameStyle.background }
        }, "the last group's empty slots are background")
    }
    #expect(reconstruction.layout.lastGroupColumns == 3 && interpolation.layout.lastGroupColumns == 2)
    // Like every length of a frame, the band scales with --scale.
    let unscaled = try ReconstructionAnimation(options: ReconstructionOptions(indices: indices), style: FrameStyle(scale: 1),
                                               test: fixture.test, plannedEpochs: 3, lastEpoch: 3).layout
    #expect(reconstruction.layout.height == 2 * unscaled.height)
    #expect((0..<4).allSatisfy { reconstruction.layout.tileOrigin(column: 0, row: $0).y == 2 * unscaled.tileOrigin(column: 0, row: $0).y })
}

/// The renderer reaches the model only through encode and decode, so conv models work as they
/// are, batch by batch like any other.
@Test func codecHandlesConvModels() throws {
    let config = VAEConfig(arch: .conv, hidden: [8], latentDim: 2)
    let model = VAEModel(config: config)
    var random = Random(seed: 12)
    model.initialize(random: &random)
    let test = try KMNIST.loadTestImages(from: syntheticData).images
    let indices = [3, 1, 4, 1, 5]
    let codec = LatentCodec(config: config), small = LatentCodec(config: config, batchCapacity: 2)
    let means = codec.encodeMeans(model, images: test, indices: indices)
    expectClose(small.encodeMeans(model, images: test, indices: indices), means, absolute: 1e-5, "means in batches of 2")
    // Image 1 twice: the same means up to rounding, which OpenBLAS's tiles vary with the row.
    #expect(zip(means[2..<4], means[6..<8]).allSatisfy { abs($0 - $1) < 1e-5 } && means[0..<2] != means[2..<4], "\(means)")
    let images = codec.decodeMeans(model, z: means)
    #expect(images.count == indices.count * VAEConfig.inputSize && images.allSatisfy { (0...1).contains($0) })
    expectClose(small.decodeMeans(model, z: means), images, absolute: 1e-5, "images in batches of 2")
}

@Test func codecGivesTheSameMeansWhateverItsBatchSize() throws {
    let fixture = try LoadedFixture("latent3")
    let model = fixture.replay.final.model
    let small = LatentCodec(config: model.config, batchCapacity: 3)
    let indices = [5, 0, 99, 42, 7, 7, 13]
    let means = fixture.codec.encodeMeans(model, images: fixture.test, indices: indices)
    expectClose(small.encodeMeans(model, images: fixture.test, indices: indices), means, absolute: 1e-5, "means in batches of 3")
    let images = fixture.codec.decodeMeans(model, z: means)
    #expect(images.count == indices.count * VAEConfig.inputSize)
    expectClose(small.decodeMeans(model, z: means), images, absolute: 1e-5, "images in batches of 3")
    #expect(images.allSatisfy { (0...1).contains($0) })
    // vae-sample's bytes, converted batch by batch, are those of the intensities.
    expectIdentical(fixture.codec.decodeMeanPixels(model, z: means), images.map(pixelByte), "pixel bytes")
    let smallPixels = small.decodeMeanPixels(model, z: means), smallImages = small.decodeMeans(model, z: means)
    expectIdentical(smallPixels, smallImages.map(pixelByte), "pixel bytes in batches of 3, the last one short")
}
