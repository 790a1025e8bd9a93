import Foundation
import VAECore

/// Two test images, by index, whose latent means an interpolation travels between.
public struct ImagePair: Sendable, Equatable {
    public var a: Int
    public var b: Int

    public init(a: Int, b: Int) {
        self.a = a
        self.b = b
    }
}

public struct InterpolationOptions: Sendable, Equatable {
    /// nil: `defaultInterpolationPairs` of the test labels (`sameClassPairs` for a conditional model).
    public var pairs: [ImagePair]?
    /// Travel on the great circle between the two means (slerp), or on the straight line. The
    /// circle is the default: the line's midpoints fall towards the origin, where the decoder
    /// draws a blur (`vae-eval --quality` scores both paths; docs/quality.md).
    public var spherical: Bool
    /// Intervals from A to B; the animation shows steps + 1 points each way.
    public var steps: Int

    public init(pairs: [ImagePair]? = nil, spherical: Bool = true, steps: Int = 16) {
        precondition(steps >= 1)
        self.pairs = pairs
        self.spherical = spherical
        self.steps = steps
    }
}

/// The pairs the interpolation shows unless told which: `sameClassPairs` for a conditional
/// model, whose path is decoded with one label, else `defaultInterpolationPairs`.
public func interpolationPairs(labels: [UInt8], conditional: Bool) -> [ImagePair] {
    conditional ? sameClassPairs(labels: labels) : defaultInterpolationPairs(labels: labels)
}

/// The first test image of each class paired with the first image of the next class, the
/// last class wrapping round to the first; with a single class, the first to the last image.
public func defaultInterpolationPairs(labels: [UInt8]) -> [ImagePair] {
    let firsts = firstImagesOfEachClass(labels, perClass: 1)
    guard firsts.count >= 2 else { return labels.isEmpty ? [] : [ImagePair(a: 0, b: labels.count - 1)] }
    return firsts.indices.map { ImagePair(a: firsts[$0], b: firsts[($0 + 1) % firsts.count]) }
}

/// The first and the second test image of each class, for a conditional model, whose path is
/// decoded with one label; a class with a single image is left out.
public func sameClassPairs(labels: [UInt8]) -> [ImagePair] {
    // The first image of every class, in class order, then the second of every class that has one.
    let images = firstImagesOfEachClass(labels, perClass: 2)
    let first = Dictionary(images.map { (labels[$0], $0) }, uniquingKeysWith: { earlier, _ in earlier })
    return images.filter { first[labels[$0]] != $0 }.map { ImagePair(a: first[labels[$0]]!, b: $0) }
}

/// The point a fraction `t` of the way from `a` to `b`: on the straight line, or with
/// `spherical` on the great circle through both (slerp, as for GAN latents), which keeps the
/// norm of the path between theirs instead of cutting through the low-norm middle.
/// Both give exactly `a` at t = 0 and exactly `b` at t = 1.
public func interpolate(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>, t: Double, spherical: Bool) -> [Float] {
    precondition(a.count == b.count)
    var weightA = 1 - t, weightB = t
    if spherical {
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let normA = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let normB = b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let angle = acos(min(max(dot / (normA * normB), -1), 1))
        // Nearly parallel vectors (or a zero one) have no well-defined circle: stay on the line.
        if angle.isFinite, sin(angle) > 1e-6 {
            weightA = sin((1 - t) * angle) / sin(angle)
            weightB = sin(t * angle) / sin(angle)
        }
    }
    return zip(a, b).map { Float(weightA * Double($0) + weightB * Double($1)) }
}

/// The final model travelling between pairs of test characters: each column is one pair, with
/// A above, the decoded point between them in the middle and B below; frames go from A to B
/// and back, holding at both ends. A conditional model decodes the whole path with A's label.
public struct InterpolationAnimation {
    /// Pairs per row of the frame; more pairs continue in another row of A, morph, B.
    public static let maxColumns = 10

    public let options: InterpolationOptions
    public let pairs: [ImagePair]
    public let layout: TileLayout
    private let schedule: ThereAndBack
    /// The step (t = step / steps) shown by each frame, in order: 0 up to `steps` and back down to 1.
    public var frameSteps: [Int] { schedule.frameSteps }

    public init(options: InterpolationOptions, style: FrameStyle, test: ImageSet, conditional: Bool = false) throws {
        let pairs = options.pairs ?? interpolationPairs(labels: test.labels, conditional: conditional)
        try checkTestIndices(pairs.flatMap { [$0.a, $0.b] }, flag: "--pairs", testCount: test.count)
        guard !pairs.isEmpty else {
            throw VAEError(.usage, "no class of the \(test.count) test images has two images for a conditional model's "
                           + "interpolation; name the pairs with --pairs")
        }
        self.options = options
        self.pairs = pairs
        layout = .grouped(items: pairs.count, columns: InterpolationAnimation.maxColumns, rowsPerGroup: 3, style: style,
                          widestCaption: InterpolationAnimation.caption(options, step: options.steps),
                          subtitle: conditional ? "A above, B below, class of A" : "A above, B below")
        schedule = ThereAndBack(steps: options.steps)
    }

    /// Hands `body` the frames in order, each drawn as it is needed from the path decoded once.
    public func forEachFrame(model: VAEModel, test: ImageSet, codec: LatentCodec, _ body: (GIFFrame) throws -> Void) rethrows {
        let decoded = decodeInterpolations(pairs, steps: options.steps, spherical: options.spherical, model: model, test: test,
                                           codec: codec)
        let originals = test.intensities(at: pairs.flatMap { [$0.a, $0.b] })

        try schedule.forEachFrame(style: layout.style, drawing: { step in
            var canvas = layout.blankFrame(caption: InterpolationAnimation.caption(options, step: step))
            for pair in pairs.indices {
                let column = pair % layout.columns, top = 3 * (pair / layout.columns)
                layout.draw(originals, number: 2 * pair, column: column, row: top, on: &canvas)
                layout.draw(decoded, number: step * pairs.count + pair, column: column, row: top + 1, on: &canvas)
                layout.draw(originals, number: 2 * pair + 1, column: column, row: top + 2, on: &canvas)
            }
            return canvas
        }, body)
    }

    /// "spherical  t=0.25": t exactly where four decimals or fewer can say every step (eighths
    /// with three, sixteenths with four: rounded to two, 0.125 and 0.375 would read as 0.12 and
    /// 0.38, steps of uneven length), else with as many decimals as tell each step from the next
    /// (two up to 100 steps, three beyond).
    static func caption(_ options: InterpolationOptions, step: Int) -> String {
        let exact = [100, 1000, 10000].firstIndex { $0 % options.steps == 0 }.map { $0 + 2 }
        let decimals = exact ?? max(2, Int(log10(Double(options.steps)).rounded(.up)))
        let t = String(format: "%.\(decimals)f", Double(step) / Double(options.steps))
        return "\(options.spherical ? "spherical" : "straight")  t=\(t)"
    }
}

/// Each pair's images blended pixel by pixel at t = step / steps for every step from 1 to
/// `steps` - 1, step-major like `decodeInterpolations`' inner images: what a path that is no
/// better than its ends looks like, two characters at once.
func crossfade(_ pixels: [Float], pairs: [ImagePair], steps: Int) -> [Float] {
    let size = VAEConfig.inputSize
    var crossfaded: [Float] = []
    crossfaded.reserveCapacity(max(steps - 1, 0) * pairs.count * size)
    for step in 1..<steps {
        let t = Float(step) / Float(steps)
        for pair in pairs {
            for i in 0..<size { crossfaded.append((1 - t) * pixels[pair.a * size + i] + t * pixels[pair.b * size + i]) }
        }
    }
    return crossfaded
}

/// The decoder's images of the path between each pair's latent means at t = step / steps for
/// every step from 0 to `steps`, step-major (image number step * pairs.count + pair),
/// `[(steps + 1) * pairs.count, 784]`. A conditional model decodes each path with A's label.
public func decodeInterpolations(_ pairs: [ImagePair], steps: Int, spherical: Bool, model: VAEModel, test: ImageSet,
                                 codec: LatentCodec) -> [Float] {
    let latent = codec.latent
    let means = codec.encodeMeans(model, images: test, indices: pairs.flatMap { [$0.a, $0.b] })
    var path: [Float] = []
    path.reserveCapacity((steps + 1) * pairs.count * latent)
    for step in 0...steps {
        for pair in pairs.indices {
            let a = means[(2 * pair) * latent..<(2 * pair + 1) * latent]
            let b = means[(2 * pair + 1) * latent..<(2 * pair + 2) * latent]
            path += interpolate(a, b, t: Double(step) / Double(steps), spherical: spherical)
        }
    }
    let labels = codec.config.conditional ? (0...steps).flatMap { _ in pairs.map { test.labels[$0.a] } } : nil
    return codec.decodeMeans(model, z: path, labels: labels)
}

/// `count` pairs of two different test images drawn from `random`, A uniformly among the images
/// that have a partner and B uniformly among A's partners: any other image, or with `sameClass`
/// any other of A's class. None when no image has a partner.
public func randomPairs(labels: [UInt8], count: Int, sameClass: Bool, random: inout Random) -> [ImagePair] {
    let groups = sameClass ? Dictionary(grouping: labels.indices, by: { labels[$0] }).values.sorted { $0[0] < $1[0] }
        : [Array(labels.indices)]
    let partnered = groups.filter { $0.count >= 2 }
    let candidates = partnered.flatMap { group in group.indices.map { (group: group, position: $0) } }
    guard !candidates.isEmpty else { return [] }
    return (0..<count).map { _ in
        let (group, position) = candidates[random.nextInt(below: candidates.count)]
        let other = random.nextInt(below: group.count - 1)
        return ImagePair(a: group[position], b: group[other < position ? other : other + 1])
    }
}
