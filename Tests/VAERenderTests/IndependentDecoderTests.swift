import Foundation
import Testing
import TestSupport
import VAERender
import VAETesting

// giflib encodes the GIFs and, in the tests, decodes them again, and every other GIF test reads
// them through `decodeGIF`: a fault the writer and that reader shared (an LZW quirk, a field
// read the way it was wrongly written, compositing done alike) would pass them all and still
// show wrong in a browser. So the GIFs are also decoded by Pillow (Debian's python3-pil, whose
// LZW decoder and frame compositing are its own), which must see every frame as `decodeGIF`
// does, pixel for pixel, with the same delays and loop count.

/// Pillow's view of each GIF: one JSON line per file (size, loop count, each frame's delay in
/// ms), and every frame composited onto the ones before it as RGB bytes, frame after frame, in
/// `<folder>/<n>.rgb` for the n-th file.
private let pillowDecoder = """
    import json, sys
    from PIL import Image
    folder = sys.argv[1]
    for number, path in enumerate(sys.argv[2:]):
        with Image.open(path) as image, open(f"{folder}/{number}.rgb", "wb") as out:
            durations = []
            for frame in range(image.n_frames):
                image.seek(frame)
                durations.append(image.info.get("duration"))
                out.write(image.convert("RGB").tobytes())
            print(json.dumps({"size": list(image.size), "loop": image.info.get("loop"), "durations": durations}))
    """

private struct PillowView: Decodable {
    let size: [Int]
    let loop: Int?
    let durations: [Int?]
}

/// Every GIF the project shows: the main job's in output/ (the README's), the goldens, and the
/// first golden case rendered now, so that the writer as it is today is checked too.
@Test func pillowSeesEveryFrameAsOurReaderDoes() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let fresh = try renderAnimations(GoldenCase.all[0].request(fixtures: fixturesFolder, data: syntheticData))
    var paths = fresh.map { folder + "/fresh-" + $0.animation.fileName }
    for (gif, path) in zip(fresh, paths) { write(gif.bytes, to: path) }
    paths += fileNames(in: packageRoot + "/output").filter { $0.hasSuffix(".gif") }.map { packageRoot + "/output/" + $0 }
    paths += fileNames(in: fixturesFolder + "/golden").map { fixturesFolder + "/golden/" + $0 }
    #expect(paths.count == fresh.count + 5 + 12, "\(paths)")

    let python = try ChildProcess(testPython, ["-c", pillowDecoder, folder] + paths)
    defer { python.stop() }
    let result = try python.finish()
    try #require(result.status == 0, """
        Pillow could not decode the GIFs (\(testPython) needs python3-pil; scripts/install-dependencies --tests installs it): \
        \(result.stderr)
        """)
    let views = try result.stdout.split(separator: "\n").map { try JSONDecoder().decode(PillowView.self, from: Data($0.utf8)) }
    try #require(views.count == paths.count, "\(result.stdout)")

    for (number, (path, view)) in zip(paths, views).enumerated() {
        let ours = try decodeGIF(try readFile(path))
        #expect(view.size == [ours.width, ours.height], "\(path): Pillow's size")
        #expect(view.loop == ours.loopCount, "\(path): Pillow's loop count")
        #expect(view.durations == ours.frames.map { $0.delayCentiseconds * 10 }, "\(path): Pillow's delays in ms")
        let pillowFrames = try readFile(folder + "/\(number).rgb")
        let frameBytes = 3 * ours.width * ours.height
        #expect(pillowFrames.count == ours.frames.count * frameBytes, "\(path): Pillow's frames")
        for (frameNumber, frame) in ours.frames.enumerated() where pillowFrames.count >= (frameNumber + 1) * frameBytes {
            if let pixel = firstDifference(frame.indices, ours.palette, pillowFrames, at: frameNumber * frameBytes) {
                let ourColour = ours.palette[3 * Int(frame.indices[pixel])..<3 * Int(frame.indices[pixel]) + 3]
                let pillowColour = pillowFrames[frameNumber * frameBytes + 3 * pixel..<frameNumber * frameBytes + 3 * pixel + 3]
                Issue.record("""
                    \(path), frame \(frameNumber): Pillow shows pixel (\(pixel % ours.width), \(pixel / ours.width)) as \
                    \(Array(pillowColour)), our reader as \(Array(ourColour))
                    """)
                break
            }
        }
    }
}

/// The first pixel of `indices` whose palette colour differs from the RGB bytes at `start` in
/// `rgb`. Over raw buffers: the debug build's collection methods would take seconds over the
/// output GIFs' 27 million pixels.
private func firstDifference(_ indices: [UInt8], _ palette: [UInt8], _ rgb: [UInt8], at start: Int) -> Int? {
    indices.withUnsafeBufferPointer { indices in
        palette.withUnsafeBufferPointer { palette in
            rgb.withUnsafeBufferPointer { rgb in
                for pixel in 0..<indices.count {
                    let colour = 3 * Int(indices[pixel]), shown = start + 3 * pixel
                    if palette[colour] != rgb[shown] || palette[colour + 1] != rgb[shown + 1] || palette[colour + 2] != rgb[shown + 2] {
                        return pixel
                    }
                }
                return nil
            }
        }
    }
}
