import Testing
import TestSupport
import VAECore
import VAERender
import VAETesting

// MARK: - Fixtures

/// Three frames of different content: a gradient, a caption, and 108 of the 255 palette indices
/// we draw, spread over the whole palette.
private func sampleFrames() -> [GIFFrame] {
    let width = 12, height = 9
    var gradient = Canvas(width: width, height: height)
    let ramp = (0..<(width * height)).map { Float($0) / Float(width * height - 1) }
    gradient.drawGrayImage(ramp, width: width, height: height, x: 0, y: 0, scale: 1)

    var caption = Canvas(width: width, height: height, fill: 100)
    caption.drawText("7/3", x: 0, y: 1)

    var allIndices = Canvas(width: width, height: height)
    allIndices.pixels = (0..<(width * height)).map { UInt8(($0 * 37 + 254) % 255) }

    return [
        GIFFrame(canvas: gradient, delayCentiseconds: 7),
        GIFFrame(canvas: caption, delayCentiseconds: 150),
        GIFFrame(canvas: allIndices, delayCentiseconds: 65535),
    ]
}

/// Assembles GIF files byte by byte, for inputs `encodeGIF` never produces.
private struct HandBuiltGIF {
    private(set) var bytes: [UInt8]

    /// A header whose global colour map (if any) is a grey ramp of `globalColors` entries.
    init(signature: String = "GIF89a", width: Int, height: Int, globalColors: Int? = 4) {
        bytes = Array(signature.utf8) + littleEndian(width) + littleEndian(height)
        if let globalColors {
            bytes += [0xF0 | colorTableSizeField(globalColors), 0, 0]
            bytes += greyRamp(globalColors)
        } else {
            bytes += [0x70, 0, 0]
        }
    }

    mutating func appendLoopExtension(count: Int) {
        bytes += [0x21, 0xFF, 11] + Array("NETSCAPE2.0".utf8) + [3, 1] + littleEndian(count) + [0]
    }

    mutating func appendControlBlock(delay: Int, disposal: UInt8 = 1, transparentIndex: UInt8? = nil, length: UInt8 = 4) {
        let flags = disposal << 2 | (transparentIndex == nil ? 0 : 1)
        let fields = [flags] + littleEndian(delay) + [transparentIndex ?? 0]
        bytes += [0x21, 0xF9, length] + fields.prefix(Int(length)) + [UInt8](repeating: 0, count: max(0, Int(length) - 4)) + [0]
    }

    /// An image with `pixels` given top to bottom; interlaced images store them in pass order.
    /// `endCodeAfter` ends the compressed data after that many pixels, as a defective encoder would.
    mutating func appendImage(left: Int = 0, top: Int = 0, width: Int, height: Int, pixels: [UInt8],
                              interlaced: Bool = false, localColors: Int? = nil, endCodeAfter: Int? = nil) {
        precondition(pixels.count == width * height)
        var flags: UInt8 = interlaced ? 0x40 : 0
        if let localColors { flags |= 0x80 | colorTableSizeField(localColors) }
        bytes += [0x2C] + littleEndian(left) + littleEndian(top) + littleEndian(width) + littleEndian(height) + [flags]
        if let localColors { bytes += greyRamp(localColors) }
        let rowOrder = interlaced
            ? [(0, 8), (4, 8), (2, 4), (1, 2)].flatMap { start, step in Array(stride(from: start, to: height, by: step)) }
            : Array(0..<height)
        let stored = rowOrder.flatMap { pixels[$0 * width..<($0 + 1) * width] }
        bytes += literalLZW(Array(stored.prefix(endCodeAfter ?? stored.count)))
    }

    mutating func appendTrailer() {
        bytes.append(0x3B)
    }
}

private func littleEndian(_ value: Int) -> [UInt8] {
    [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)]
}

private func colorTableSizeField(_ colors: Int) -> UInt8 {
    UInt8(colors.trailingZeroBitCount - 1)  // the table holds 2^(field + 1) entries
}

private func greyRamp(_ colors: Int) -> [UInt8] {
    (0..<colors).flatMap { index in [UInt8](repeating: UInt8(index * 255 / (colors - 1)), count: 3) }
}

/// LZW image data that uses only literal codes: minimum code size 8, so 9-bit codes with
/// clear = 256 and end = 257. A clear code every 100 literals keeps the code width at 9.
private func literalLZW(_ pixels: [UInt8]) -> [UInt8] {
    var codes: [Int] = []
    for (position, pixel) in pixels.enumerated() {
        if position % 100 == 0 { codes.append(256) }
        codes.append(Int(pixel))
    }
    codes.append(257)

    var packed: [UInt8] = []
    var pending = 0, pendingBits = 0
    for code in codes {
        pending |= code << pendingBits
        pendingBits += 9
        while pendingBits >= 8 {
            packed.append(UInt8(pending & 0xFF))
            pending >>= 8
            pendingBits -= 8
        }
    }
    if pendingBits > 0 { packed.append(UInt8(pending)) }

    var data: [UInt8] = [8]
    for start in stride(from: 0, to: packed.count, by: 255) {
        let block = packed[start..<min(start + 255, packed.count)]
        data += [UInt8(block.count)] + block
    }
    return data + [0]
}

/// The error decoding `bytes` throws, recording an issue if it throws none. Unlike
/// `#expect(throws:)` it never prints a wrongly decoded result, which can be huge.
private func decodingError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> GIFError? {
    do {
        let decoded = try decodeGIF(bytes)
        Issue.record("decoded a \(decoded.width)x\(decoded.height) GIF instead of throwing", sourceLocation: sourceLocation)
    } catch let error as GIFError {
        return error
    } catch {
        Issue.record("threw \(error) instead of a GIFError", sourceLocation: sourceLocation)
    }
    return nil
}

// MARK: - Encoding

@Test func roundTripKeepsSizeLoopDelaysAndEveryPixel() throws {
    let frames = sampleFrames()
    let decoded = try decodeGIF(try encodeGIF(frames))
    #expect(decoded.version == "GIF89a")
    #expect(decoded.width == 12 && decoded.height == 9)
    #expect(decoded.loopCount == 0 && decoded.loopCountPrecedesFirstFrame, "some viewers read the loop count only before frame 0")
    expectIdentical(decoded.palette, Palette.rgb, "the colour map")
    try #require(decoded.frames.count == 3)
    #expect(decoded.frames.map(\.delayCentiseconds) == [7, 150, 65535])
    // The first frame is whole; the later ones leave unchanged pixels transparent, the reserved index.
    #expect(decoded.frames.map(\.transparentIndex) == [nil, Int(Palette.transparent), Int(Palette.transparent)])
    // Each frame is left in place for the next to draw over (disposal 1), with no wait for input.
    #expect(decoded.frames.allSatisfy { $0.disposal == 1 && !$0.waitsForInput })
    expectIdentical(decoded.frames.map(\.indices), frames.map(\.canvas.pixels), "frame")
}

@Test func anotherPaletteIsWrittenAsTheColourMap() throws {
    let decoded = try decodeGIF(try encodeGIF(sampleFrames(), palette: Palette.latentMapRGB))
    expectIdentical(decoded.palette, Palette.latentMapRGB, "the colour map")
    expectIdentical(decoded.frames.map(\.indices), sampleFrames().map(\.canvas.pixels), "frame")
    #expect(throws: GIFError.self) { try encodeGIF(sampleFrames(), palette: Array(Palette.rgb.prefix(765))) }
}

/// The reader tells a loop block after the frames (the same bytes moved before the trailer) from
/// one before them, so that the assertion above can fail.
@Test func aLoopBlockAfterTheFramesIsToldApart() throws {
    var bytes = try encodeGIF(sampleFrames())
    let block: [UInt8] = [0x21, 0xFF, 11] + Array("NETSCAPE2.0".utf8) + [3, 1, 0, 0, 0]
    let start = try #require((0...(bytes.count - block.count)).first { Array(bytes[$0..<($0 + block.count)]) == block })
    bytes.removeSubrange(start..<(start + block.count))
    bytes.insert(contentsOf: block, at: bytes.count - 1)  // before the trailer, 0x3B
    let moved = try decodeGIF(bytes)
    #expect(moved.loopCount == 0 && !moved.loopCountPrecedesFirstFrame && moved.frames.count == 3)
}

/// Both bytes of the 16-bit count: 258 is 0x0102.
@Test(arguments: [3, 258, 65535])
func finiteLoopCountRoundTrips(loopCount: Int) throws {
    let decoded = try decodeGIF(try encodeGIF(sampleFrames(), loopCount: loopCount))
    #expect(decoded.loopCount == loopCount)
}

@Test func encodedBytesAreAGIF89aFileWithATrailer() throws {
    let bytes = try encodeGIF(sampleFrames())
    #expect(Array(bytes.prefix(6)) == Array("GIF89a".utf8))
    #expect(bytes.last == 0x3B)
}

/// Expects `body` to throw a GIFError saying exactly `message`.
private func expectGIFError(_ message: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    let error = #expect(throws: GIFError.self, sourceLocation: sourceLocation) { try body() }
    #expect(error?.message == message, sourceLocation: sourceLocation)
}

@Test func encodingNothingThrows() {
    expectGIFError("cannot encode a GIF without frames") { _ = try encodeGIF([]) }
    // The encoder's own check, which the tools reach (encodeGIF refuses first).
    expectGIFError("cannot encode a GIF without frames") { _ = try GIFEncoder(width: 2, height: 2).finish() }
}

@Test func encodingFramesOfDifferentSizesThrows() {
    let frames = sampleFrames() + [GIFFrame(canvas: Canvas(width: 12, height: 8), delayCentiseconds: 1)]
    expectGIFError("frame \(frames.count - 1) is 12x8, frame 0 is 12x9") { _ = try encodeGIF(frames) }
}

@Test func encodingOutOfRangeFieldsThrows() {
    let tooLong = [GIFFrame(canvas: Canvas(width: 2, height: 2), delayCentiseconds: 65536)]
    expectGIFError("frame 0 delay 65536 is outside 0...65535 centiseconds") { _ = try encodeGIF(tooLong) }
    let negative = [GIFFrame(canvas: Canvas(width: 2, height: 2), delayCentiseconds: -1)]
    expectGIFError("frame 0 delay -1 is outside 0...65535 centiseconds") { _ = try encodeGIF(negative) }
    expectGIFError("loop count 70000 is outside 0...65535") { _ = try encodeGIF(sampleFrames(), loopCount: 70000) }
    expectGIFError("canvas 0x3 does not fit a GIF (1...65535 per side)") {
        _ = try encodeGIF([GIFFrame(canvas: Canvas(width: 0, height: 3), delayCentiseconds: 1)])
    }
    var resized = Canvas(width: 2, height: 2)
    resized.pixels.append(0)
    expectGIFError("frame 0 has 5 pixels, expected 4") { _ = try encodeGIF([GIFFrame(canvas: resized, delayCentiseconds: 1)]) }
}

@Test func theTransparentIndexIsRefused() {
    var canvas = Canvas(width: 4, height: 2)
    canvas[3, 1] = Palette.transparent
    expectGIFError("frame 0 uses index 255 at (3, 1), which is reserved for transparency") {
        _ = try encodeGIF([GIFFrame(canvas: canvas, delayCentiseconds: 5)])
    }
    expectGIFError("tolerance -1 is outside 0...253 grey steps") { _ = try encodeGIF(sampleFrames(), tolerance: -1) }
}

/// Frames that drift: every grey pixel moves by one or two levels per frame, a block moves
/// across, and a caption changes, as in the sampling animation.
private func driftingFrames(count: Int) -> [GIFFrame] {
    (0..<count).map { t in
        var canvas = Canvas(width: 60, height: 40)
        for y in 0..<40 {
            for x in 0..<60 { canvas[x, y] = UInt8((x * 3 + y * 2 + t * (1 + (x + y) % 2)) % 200) }
        }
        canvas.fillRect(x: 5 + 4 * t, y: 20, width: 6, height: 6, index: Palette.maxGray)
        canvas.drawText("\(t)", x: 1, y: 1)
        return GIFFrame(canvas: canvas, delayCentiseconds: 10)
    }
}

@Test func laterFramesStoreOnlyTheChangedRectangle() throws {
    var still = Canvas(width: 120, height: 80)
    for y in 0..<80 { for x in 0..<120 { still[x, y] = UInt8((x * 7 + y * 13) % 250) } }
    let one = try encodeGIF([GIFFrame(canvas: still, delayCentiseconds: 10)])
    var moved = still
    moved[30, 40] = 0
    let frames = [GIFFrame(canvas: still, delayCentiseconds: 10)] + Array(repeating: GIFFrame(canvas: still, delayCentiseconds: 10), count: 9)
        + [GIFFrame(canvas: moved, delayCentiseconds: 10)]
    let bytes = try encodeGIF(frames)
    // Ten unchanged frames and one changed pixel cost a few bytes each, not another whole frame.
    #expect(bytes.count < one.count + 11 * 40, "\(bytes.count) bytes for 11 frames, \(one.count) for one")
    let decoded = try decodeGIF(bytes)
    expectIdentical(decoded.frames.map(\.indices), frames.map(\.canvas.pixels), "frame")
}

@Test(arguments: [0, 1, 4])
func everyShownPixelStaysWithinTheTolerance(tolerance: Int) throws {
    let frames = driftingFrames(count: 12)
    let decoded = try decodeGIF(try encodeGIF(frames, tolerance: tolerance))
    try #require(decoded.frames.count == frames.count)
    // In steps of the grey ramp (indices), and in the 0-255 levels a viewer shows.
    var largest = 0, largestLevels = 0, wrongCaptionPixels = 0
    for (frame, shown) in zip(frames, decoded.frames) {
        for (want, got) in zip(frame.canvas.pixels, shown.indices) {
            if want == Palette.accent || got == Palette.accent {
                if want != got { wrongCaptionPixels += 1 }
            } else {
                largest = max(largest, abs(Int(want) - Int(got)))
                largestLevels = max(largestLevels, abs(Int(Palette.rgb[3 * Int(want)]) - Int(Palette.rgb[3 * Int(got)])))
            }
        }
    }
    #expect(wrongCaptionPixels == 0, "caption pixels are exact")
    #expect(largest <= tolerance)
    // vae-render --help: "N steps are at most N + 1 levels" (a step is 255/253 of a level).
    #expect(largestLevels <= tolerance + (tolerance > 0 ? 1 : 0), "\(largestLevels) levels")
    if tolerance > 0 {
        #expect(largest == tolerance, "a drift of one step per frame must be allowed to lag by the whole tolerance")
    }
    if tolerance == FrameStyle().tolerance {
        // Pixels drifting by a step a frame are redrawn only every tolerance + 1 frames. (At
        // tolerance 1 this checkerboard of redrawn and transparent pixels packs worse than exact frames.)
        let exact = try encodeGIF(frames).count, lossy = try encodeGIF(frames, tolerance: tolerance).count
        #expect(lossy < exact * 3 / 4, "\(lossy) bytes against \(exact) exact")
    }
}

/// The accent index is one above white's, yet a caption appearing on white is never within the
/// tolerance: its pixels are written exactly, as are the white ones when it goes.
@Test func aCaptionOnWhiteIsExactAtAnyTolerance() throws {
    let white = Canvas(width: 20, height: 10, fill: Palette.maxGray)
    var captioned = white
    captioned.drawText("7/3", x: 1, y: 1)
    let canvases = [white, captioned, white]
    let decoded = try decodeGIF(try encodeGIF(canvases.map { GIFFrame(canvas: $0, delayCentiseconds: 10) }, tolerance: 4))
    expectIdentical(decoded.frames.map(\.indices), canvases.map(\.pixels), "frame")
}

/// The latent map's class colours sit where greys are in the shared map, eight indices (its
/// shades) apart from one class to the next: under its palette a dot that changes class is
/// written at any tolerance, while the same indices under the grey map are greys within it.
@Test func classColoursAreExactAtAnyTolerance() throws {
    let canvases = [0, 1, 0].map { Canvas(width: 6, height: 4, fill: Palette.classIndex($0)) }
    #expect(Int(Palette.classIndex(1)) - Int(Palette.classIndex(0)) == 8)
    let frames = canvases.map { GIFFrame(canvas: $0, delayCentiseconds: 10) }
    let colours = try decodeGIF(try encodeGIF(frames, tolerance: 8, palette: Palette.latentMapRGB))
    expectIdentical(colours.frames.map(\.indices), canvases.map(\.pixels), "frame")
    let greys = try decodeGIF(try encodeGIF(frames, tolerance: 8))
    #expect(greys.frames.map(\.indices) == Array(repeating: canvases[0].pixels, count: 3))
}

/// giflib takes a frame's pixel count as an Int32: a canvas with more pixels is refused when the
/// encoder is made, before any frame is drawn (it trapped at the first one).
@Test func aCanvasBeyondGiflibsPixelCountIsRefused() throws {
    expectGIFError("canvas 65535x32769 has more than 2147483647 pixels, which giflib cannot compress") {
        _ = try GIFEncoder(width: 65535, height: 32769)
    }
    _ = try GIFEncoder(width: 65535, height: 32768)
}

// MARK: - Decoding valid input

@Test func decodingCompositesSubRectanglesAndHonoursTransparency() throws {
    var gif = HandBuiltGIF(width: 4, height: 3)
    gif.appendControlBlock(delay: 5)
    gif.appendImage(width: 4, height: 3, pixels: [0, 1, 2, 3, 1, 1, 1, 1, 2, 2, 2, 2])
    gif.appendControlBlock(delay: 9, transparentIndex: 0)
    gif.appendImage(left: 1, top: 1, width: 2, height: 2, pixels: [3, 0, 0, 3])
    gif.appendImage(left: 3, top: 0, width: 1, height: 1, pixels: [0])  // no control block
    gif.appendTrailer()

    let decoded = try decodeGIF(gif.bytes)
    #expect(decoded.palette == [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255])
    #expect(decoded.frames.map(\.indices) == [
        [0, 1, 2, 3, 1, 1, 1, 1, 2, 2, 2, 2],
        [0, 1, 2, 3, 1, 3, 1, 1, 2, 2, 3, 2],
        [0, 1, 2, 0, 1, 3, 1, 1, 2, 2, 3, 2],
    ])
    #expect(decoded.frames.map(\.delayCentiseconds) == [5, 9, 0])
    #expect(luminance(of: decoded.frames[1], palette: decoded.palette) == [0, 85, 170, 255, 85, 255, 85, 85, 170, 170, 255, 170])
}

@Test func decodingDeinterlacesRows() throws {
    let rows = (0..<10).flatMap { row in [UInt8](repeating: UInt8(row), count: 3) }
    var gif = HandBuiltGIF(width: 3, height: 10, globalColors: 16)
    gif.appendImage(width: 3, height: 10, pixels: rows, interlaced: true)
    gif.appendTrailer()
    #expect(try decodeGIF(gif.bytes).frames.map(\.indices) == [rows])
}

@Test func decodingGIF87aWithoutExtensionsGivesNoLoopAndNoDelay() throws {
    var gif = HandBuiltGIF(signature: "GIF87a", width: 2, height: 1)
    gif.appendImage(width: 2, height: 1, pixels: [3, 1])
    gif.appendTrailer()
    let decoded = try decodeGIF(gif.bytes)
    #expect(decoded.version == "GIF87a")
    #expect(decoded.loopCount == nil)
    #expect(decoded.frames.map(\.delayCentiseconds) == [0])
}

@Test func luminanceFollowsThePalette() throws {
    let decoded = try decodeGIF(try encodeGIF(sampleFrames()))
    for (number, frame) in decoded.frames.enumerated() {
        expectIdentical(luminance(of: frame, palette: decoded.palette), frame.indices.map { Palette.luminance(index: $0) },
                        "frame \(number)'s luminance")
    }
}

// MARK: - Decoding malformed input

@Test func decodingRejectsEmptyInput() throws {
    _ = decodingError([])
}

@Test func decodingRejectsRandomBytes() throws {
    var generator = Random(seed: 1)  // deterministic, so that a failure reproduces
    for length in [1, 6, 13, 100, 5000] {
        let noise = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        _ = decodingError(noise)
        _ = decodingError(Array("GIF89a".utf8) + noise)
    }
}

@Test func decodingRejectsEveryTruncation() throws {
    let bytes = try encodeGIF(sampleFrames())
    for length in 0..<bytes.count {
        #expect(throws: GIFError.self, "prefix of \(length) bytes") { try decodeGIF(Array(bytes.prefix(length))) }
    }
}

@Test func decodingRejectsAnAbsurdScreen() throws {
    var gif = HandBuiltGIF(width: 60000, height: 60000)
    gif.appendImage(width: 1, height: 1, pixels: [0])
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("screen size 60000x60000") == true)
}

@Test func decodingCapsTheTotalDecodedSize() throws {
    var gif = HandBuiltGIF(width: 16384, height: 16384)
    gif.appendImage(width: 1, height: 1, pixels: [0])
    gif.appendImage(width: 1, height: 1, pixels: [0])
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("decoding limit") == true)
}

@Test(arguments: [(3, 0, 2, 2), (0, 2, 1, 2), (65535, 65535, 1, 1), (0, 0, 5, 1)])
func decodingRejectsImagesOutsideTheScreen(left: Int, top: Int, width: Int, height: Int) throws {
    var gif = HandBuiltGIF(width: 4, height: 3)
    gif.appendImage(left: left, top: top, width: width, height: height, pixels: [UInt8](repeating: 1, count: width * height))
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("outside") == true)
}

@Test func decodingRejectsAFileWithoutFrames() throws {
    var gif = HandBuiltGIF(width: 4, height: 3)
    gif.appendLoopExtension(count: 0)
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("no frames") == true)
}

@Test func decodingRejectsLocalColourMaps() throws {
    var gif = HandBuiltGIF(width: 2, height: 2)
    gif.appendImage(width: 2, height: 2, pixels: [0, 1, 1, 0], localColors: 2)
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("local colour map") == true)
}

@Test func decodingRejectsAMissingGlobalColourMap() throws {
    var gif = HandBuiltGIF(width: 2, height: 2, globalColors: nil)
    gif.appendImage(width: 2, height: 2, pixels: [0, 1, 1, 0])
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("global colour map") == true)
}

@Test(arguments: [UInt8(2), 3])
func decodingRejectsDisposalThatRestores(disposal: UInt8) throws {
    var gif = HandBuiltGIF(width: 2, height: 1)
    gif.appendControlBlock(delay: 1, disposal: disposal)
    gif.appendImage(width: 2, height: 1, pixels: [0, 1])
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("disposal mode \(disposal)") == true)
}

@Test func decodingRejectsAMalformedControlBlock() throws {
    var gif = HandBuiltGIF(width: 2, height: 1)
    gif.appendControlBlock(delay: 1, length: 3)
    gif.appendImage(width: 2, height: 1, pixels: [0, 1])
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("graphics control extension") == true)
}

@Test func decodingRejectsPixelsBeyondTheColourMap() throws {
    var gif = HandBuiltGIF(width: 2, height: 1)
    gif.appendImage(width: 2, height: 1, pixels: [0, 9])
    gif.appendTrailer()
    #expect(decodingError(gif.bytes)?.message.contains("colour 9 of a 4-colour map") == true)
}

@Test func decodingReportsGiflibErrorsForDefectiveImageData() throws {
    var gif = HandBuiltGIF(width: 2, height: 2)
    gif.appendImage(width: 2, height: 2, pixels: [1, 2, 3, 0], endCodeAfter: 3)
    gif.appendTrailer()
    let error = try #require(decodingError(gif.bytes))
    #expect(error.message.hasPrefix("DGifSlurp failed: "))
    #expect(error.description.contains("before image complete"), "giflib's D_GIF_ERR_EOF_TOO_SOON text")
}

@Test func decodingCorruptedFilesNeverCrashes() throws {
    let original = try encodeGIF(sampleFrames())
    var generator = Random(seed: 42)
    var rejected = 0
    for _ in 0..<2000 {
        var bytes = original
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
        }
        guard let decoded = try? decodeGIF(bytes) else {
            rejected += 1
            continue
        }
        // Whatever survives must still be self-consistent.
        #expect(!decoded.frames.isEmpty)
        for frame in decoded.frames {
            #expect(frame.indices.count == decoded.width * decoded.height)
            #expect(frame.indices.allSatisfy { Int($0) * 3 < decoded.palette.count })
        }
    }
    #expect(rejected > 0, "some corruptions must be caught")
}
