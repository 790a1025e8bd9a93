import VAERender
import VAETesting

/// How far a re-rendered GIF may stray from its golden.
///
/// The structure (version, size, frame count, delays, looping) must match exactly. Pixels are
/// compared as the colour a viewer sees (the palette entry, whichever index holds it), by the
/// largest difference of red, green and blue: a grey level for the grey images, and a class
/// colour for another of the same brightness in the latent map (the Rec.601 luma of classes 1
/// and 3 differs by 2). Pixels may differ at all because the same checkpoints give slightly
/// different activations on another CPU: OpenBLAS picks sgemm kernels (AVX2, AVX-512, NEON;
/// with or without FMA) that sum in different orders, which moves the logits by about 1e-6
/// relative. Through the sigmoid that is far below one grey level, but a pixel sitting on a
/// rounding boundary flips by one index (1 or 2 levels: an index is 255/253 levels). The first
/// frame is stored whole, so that is all it may differ by. A later frame stores only the pixels
/// that moved by more than the style's tolerance t (4 indices by default) from what is shown,
/// so what is shown strays up to t from the frame drawn, either way: two renders a flip apart
/// may then show pixels 2t + 1 indices apart, 2t + 2 levels at most. In the principal-plane grid
/// and map the whole plane also tilts by (perturbation / eigenvalue gap), shifting smooth
/// strokes by a few levels more, on a few pixels.
///
/// So: differences up to `levels` (`firstFrameLevels` in the first frame) are rounding; at most
/// `fraction` of a frame's pixels may go beyond that; and none may reach `maximum`. A broken
/// animation trips the last rule at once: a caption against the background differs by 237
/// levels (in red), and a moved tile or a frame from another epoch by far more than 48 on many
/// pixels. Measured: on one Zen 4, every golden re-renders identically with each of OpenBLAS's
/// Cooperlake, Zen, SkylakeX, Haswell, Sandybridge, Nehalem and Prescott kernels (2026-12-06).
struct GoldenTolerance {
    var levels: Int
    var firstFrameLevels: Int
    var fraction: Double
    var maximum: Int

    /// Decoded images and dots placed by the latent coordinates, in frames of `frameTolerance`:
    /// rounding flips only, on no pixel more (so `maximum` adds nothing).
    static func images(frameTolerance: Int = FrameStyle().tolerance) -> GoldenTolerance {
        GoldenTolerance(levels: 2 * frameTolerance + 2, firstFrameLevels: 2, fraction: 0, maximum: 2 * frameTolerance + 3)
    }

    /// What the principal plane places: flips, and strokes shifted by the plane's tilt.
    static func principalPlane(frameTolerance: Int = FrameStyle().tolerance) -> GoldenTolerance {
        GoldenTolerance(levels: 2 * frameTolerance + 2, firstFrameLevels: 2 * frameTolerance + 2, fraction: 0.005, maximum: 48)
    }

    /// The tolerance of golden case `golden`'s `animation`, from a run of `latentDimensions`:
    /// the plane's where more than two dimensions are projected on it (a `.plane` sampling grid,
    /// the latent map), else the images'.
    static func of(_ golden: GoldenCase, _ animation: Animation, latentDimensions: Int) -> GoldenTolerance {
        let frameTolerance = golden.template.style.tolerance
        guard latentDimensions > 2 else { return .images(frameTolerance: frameTolerance) }
        switch animation {
        case .sampling where golden.template.sampling?.source == .plane, .latentMap: return .principalPlane(frameTolerance: frameTolerance)
        default: return .images(frameTolerance: frameTolerance)
        }
    }
}

/// What differs between `actual` and `golden`, one message each; empty when they match within
/// `tolerance`. Pixel messages name the frame, how many pixels differ and by how much.
func goldenDifferences(_ actual: DecodedGIF, _ golden: DecodedGIF, tolerance: GoldenTolerance) -> [String] {
    var differences: [String] = []
    func check(_ what: String, _ value: String, _ expected: String) {
        if value != expected { differences.append("\(what) is \(value), the golden's is \(expected)") }
    }
    check("version", actual.version, golden.version)
    check("size", "\(actual.width)x\(actual.height)", "\(golden.width)x\(golden.height)")
    check("frame count", "\(actual.frames.count)", "\(golden.frames.count)")
    check("loop count", actual.loopCount.map(String.init) ?? "none", golden.loopCount.map(String.init) ?? "none")
    check("delays", "\(actual.frames.map(\.delayCentiseconds))", "\(golden.frames.map(\.delayCentiseconds))")
    guard actual.width == golden.width, actual.height == golden.height else { return differences }

    let pixels = golden.width * golden.height
    let allowed = Int(tolerance.fraction * Double(pixels))
    for (number, (frame, goldenFrame)) in zip(actual.frames, golden.frames).enumerated() {
        let levels = number == 0 ? tolerance.firstFrameLevels : tolerance.levels
        var beyond = 0, largest = 0, largestAt = 0
        for i in 0..<pixels {
            let seen = Int(frame.indices[i]) * 3, expected = Int(goldenFrame.indices[i]) * 3
            let difference = (0..<3).map { abs(Int(actual.palette[seen + $0]) - Int(golden.palette[expected + $0])) }.max()!
            if difference > levels { beyond += 1 }
            if difference > largest { (largest, largestAt) = (difference, i) }
        }
        if beyond > allowed || largest >= tolerance.maximum {
            differences.append("frame \(number): \(beyond) of \(pixels) pixels differ by more than \(levels) levels "
                               + "(at most \(allowed) may), the largest difference is \(largest) at "
                               + "(\(largestAt % golden.width), \(largestAt / golden.width)) (must stay below \(tolerance.maximum))")
        }
    }
    return differences
}
