import Foundation
import VAECore

/// A tiny stand-in for KMNIST that the project makes itself, so fixtures never contain KMNIST
/// data: ten classes of simple anti-aliased line drawings (bars, a ring, crosses, outlines, a
/// disc, dots, a corner), each image jittered in position, size, rotation and stroke width.
enum SyntheticShapes {
    /// `count` images with labels cycling through the classes in a shuffled order.
    static func make(count: Int, random: inout Random) -> ImageSet {
        let order = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
        defer { order.deallocate() }
        random.shuffle(order, count: count)
        var pixels = [UInt8](repeating: 0, count: count * VAEConfig.inputSize)
        var labels = [UInt8](repeating: 0, count: count)
        for n in 0..<count {
            let label = Int(order[n]) % VAEConfig.classes
            labels[n] = UInt8(label)
            draw(strokes(label), into: &pixels, image: n, random: &random)
        }
        return ImageSet(pixels: pixels, labels: labels)
    }

    /// A class's drawing in unit coordinates (about -1...1, y down).
    private static func strokes(_ label: Int) -> [Stroke] {
        func line(_ points: (Double, Double)...) -> [Stroke] {
            zip(points, points.dropFirst()).map { .segment(Point(x: $0.0, y: $0.1), Point(x: $1.0, y: $1.1)) }
        }
        switch label {
        case 0: return line((-1, 0), (1, 0))
        case 1: return line((0, -1), (0, 1))
        case 2: return [.ring(Point(x: 0, y: 0), radius: 0.8)]
        case 3: return line((-1, 0), (1, 0)) + line((0, -1), (0, 1))
        case 4: return line((-0.8, -0.8), (0.8, 0.8)) + line((-0.8, 0.8), (0.8, -0.8))
        case 5: return line((-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8), (-0.8, -0.8))
        case 6: return line((0, -0.9), (0.9, 0.7), (-0.9, 0.7), (0, -0.9))
        case 7: return [.disc(Point(x: 0, y: 0), radius: 0.6)]
        case 8: return [.disc(Point(x: 0, y: -0.55), radius: 0.3), .disc(Point(x: 0, y: 0.55), radius: 0.3)]
        default: return line((-0.7, -0.9), (-0.7, 0.8), (0.8, 0.8))
        }
    }

    /// Renders `strokes` jittered into image `image` of `pixels`: each pixel's intensity falls
    /// off linearly over one pixel at the stroke's edge, so the shapes are anti-aliased.
    private static func draw(_ strokes: [Stroke], into pixels: inout [UInt8], image: Int, random: inout Random) {
        let side = Double(VAEConfig.imageSide)
        let center = Point(x: side / 2 + Double(random.nextUniform()) * 4 - 2, y: side / 2 + Double(random.nextUniform()) * 4 - 2)
        let radius = 9 * (0.8 + 0.35 * Double(random.nextUniform()))
        let angle = (Double(random.nextUniform()) - 0.5) * 0.5
        let halfWidth = 1.1 + 0.7 * Double(random.nextUniform())
        let (cosine, sine) = (cos(angle), sin(angle))
        // Rotate, scale and move the drawing into pixel coordinates once.
        let placed = strokes.map { stroke in
            stroke.placed(scale: radius) { p in
                Point(x: center.x + radius * (cosine * p.x - sine * p.y), y: center.y + radius * (sine * p.x + cosine * p.y))
            }
        }
        for y in 0..<VAEConfig.imageSide {
            for x in 0..<VAEConfig.imageSide {
                let p = Point(x: Double(x) + 0.5, y: Double(y) + 0.5)
                var distance = Double.infinity
                for stroke in placed { distance = min(distance, stroke.distance(from: p, halfWidth: halfWidth)) }
                let intensity = min(max(0.5 - distance, 0), 1)
                pixels[image * VAEConfig.inputSize + y * VAEConfig.imageSide + x] = UInt8((intensity * 255).rounded())
            }
        }
    }
}

private struct Point {
    var x: Double
    var y: Double
}

private enum Stroke {
    case segment(Point, Point)
    case ring(Point, radius: Double)
    case disc(Point, radius: Double)

    /// The stroke with its points moved by `map` and its radius multiplied by `scale`.
    func placed(scale: Double, _ map: (Point) -> Point) -> Stroke {
        switch self {
        case let .segment(a, b): return .segment(map(a), map(b))
        case let .ring(c, r): return .ring(map(c), radius: r * scale)
        case let .disc(c, r): return .disc(map(c), radius: r * scale)
        }
    }

    /// Signed distance in pixels from `p` to the painted area's edge (negative inside).
    func distance(from p: Point, halfWidth: Double) -> Double {
        func length(_ dx: Double, _ dy: Double) -> Double { (dx * dx + dy * dy).squareRoot() }
        switch self {
        case let .segment(a, b):
            let (dx, dy) = (b.x - a.x, b.y - a.y)
            let t = min(max(((p.x - a.x) * dx + (p.y - a.y) * dy) / (dx * dx + dy * dy), 0), 1)
            return length(p.x - a.x - t * dx, p.y - a.y - t * dy) - halfWidth
        case let .ring(c, r):
            return abs(length(p.x - c.x, p.y - c.y) - r) - halfWidth
        case let .disc(c, r):
            return length(p.x - c.x, p.y - c.y) - r
        }
    }
}
