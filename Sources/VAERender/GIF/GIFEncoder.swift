import CGIF

public struct GIFFrame: Sendable {
    public var canvas: Canvas
    public var delayCentiseconds: Int

    public init(canvas: Canvas, delayCentiseconds: Int) {
        self.canvas = canvas
        self.delayCentiseconds = delayCentiseconds
    }
}

/// Largest frame side the renderer makes, and the GIF reader of the tests accepts: a frame
/// of 16,384 x 16,384 grey pixels already takes 256 MB to render.
public let maxGIFSide = 16_384

public struct GIFError: Error, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    /// An error for a failed giflib call, quoting giflib's own explanation of `code`.
    public init(_ failedAction: String, giflibCode code: Int32) {
        let explanation = GifErrorString(code).map { String(cString: $0) } ?? "unknown giflib error \(code)"
        self.init("\(failedAction): \(explanation)")
    }

    public var description: String { "GIFError: \(message)" }
}

/// An animated GIF89a encoded into memory a frame at a time, so that an animation holds its
/// encoded bytes and one frame, however many frames it has.
///
/// `loopCount` 0 loops forever. Every frame must have the encoder's size and must not use
/// `Palette.transparent`. The first frame is written whole; each later one only as the rectangle
/// around the pixels that changed, with unchanged pixels inside it transparent, which LZW packs
/// into almost nothing. A grey pixel counts as changed when it moved by more than `tolerance`
/// steps of the grey ramp from what the viewer shows, so slow drift costs no bytes while every
/// shown pixel stays within `tolerance` steps of its frame (a step is 255/253 of a level of the
/// 0-255 colours, so that is at most `tolerance` + 1 levels); 0 makes every frame exact. Every
/// other colour of `palette` (the caption's accent, the latent map's class colours) is always exact.
public final class GIFEncoder {
    public let width: Int, height: Int
    public private(set) var frameCount = 0
    private let tolerance: Int
    /// For each index, whether it is a colour other than the grey ramp's, which no tolerance blurs.
    private let exact: [Bool]
    private let sink = ByteSink()
    /// nil once `finish` has closed it.
    private var gif: UnsafeMutablePointer<GifFileType>?
    /// What a viewer displays after the frames written so far.
    private var shown: [UInt8] = []

    public init(width: Int, height: Int, loopCount: Int = 0, tolerance: Int = 0, palette: [UInt8] = Palette.rgb) throws {
        guard palette.count == 3 * 256 else { throw GIFError("a palette holds 768 bytes (256 colours), not \(palette.count)") }
        // Screen, delay and loop fields are all 16-bit in the file format.
        guard (1...Int(UInt16.max)).contains(width), (1...Int(UInt16.max)).contains(height) else {
            throw GIFError("canvas \(width)x\(height) does not fit a GIF (1...65535 per side)")
        }
        // giflib takes a frame's pixel count as an Int32.
        guard width * height <= Int(Int32.max) else {
            throw GIFError("canvas \(width)x\(height) has more than \(Int32.max) pixels, which giflib cannot compress")
        }
        guard (0...Int(UInt16.max)).contains(loopCount) else { throw GIFError("loop count \(loopCount) is outside 0...65535") }
        guard (0...Int(Palette.maxGray)).contains(tolerance) else {
            throw GIFError("tolerance \(tolerance) is outside 0...\(Palette.maxGray) grey steps")
        }
        (self.width, self.height, self.tolerance) = (width, height, tolerance)
        exact = (0...255).map { index in
            index > Int(Palette.maxGray) || palette[3 * index..<3 * index + 3] != Palette.rgb[3 * index..<3 * index + 3]
        }
        var openError: Int32 = 0
        guard let gif = EGifOpen(Unmanaged.passUnretained(sink).toOpaque(), appendToSink, &openError) else {
            throw GIFError("EGifOpen failed", giflibCode: openError)
        }
        self.gif = gif
        try writeHeader(width: width, height: height, loopCount: loopCount, palette: palette, to: gif)
    }

    deinit {
        if let gif { EGifCloseFile(gif, nil) }
    }

    /// Appends one frame, refused unless it has the encoder's size, a delay that fits the file and no
    /// transparent pixel.
    public func append(_ frame: GIFFrame) throws {
        guard let gif else { preconditionFailure("a frame appended to a finished GIF") }
        let number = frameCount
        guard frame.canvas.width == width, frame.canvas.height == height else {
            throw GIFError("frame \(number) is \(frame.canvas.width)x\(frame.canvas.height), frame 0 is \(width)x\(height)")
        }
        guard frame.canvas.pixels.count == width * height else {
            throw GIFError("frame \(number) has \(frame.canvas.pixels.count) pixels, expected \(width * height)")
        }
        guard (0...Int(UInt16.max)).contains(frame.delayCentiseconds) else {
            throw GIFError("frame \(number) delay \(frame.delayCentiseconds) is outside 0...65535 centiseconds")
        }
        if let at = frame.canvas.pixels.firstIndex(of: Palette.transparent) {
            throw GIFError("frame \(number) uses index \(Palette.transparent) at (\(at % width), \(at / width)), which is reserved for transparency")
        }
        // The first frame is drawn whole and opaque; later ones as the changes to `shown`.
        var patch: FramePatch
        if number == 0 {
            shown = frame.canvas.pixels
            patch = FramePatch(x: 0, y: 0, width: width, height: height, pixels: frame.canvas.pixels)
        } else {
            patch = FramePatch(changesFrom: &shown, to: frame.canvas.pixels, width: width, tolerance: tolerance, exact: exact)
        }
        var control = GraphicsControlBlock(
            DisposalMode: DISPOSE_DO_NOT, UserInputFlag: false, DelayTime: Int32(frame.delayCentiseconds),
            TransparentColor: number == 0 ? NO_TRANSPARENT_COLOR : Int32(Palette.transparent))
        var controlBytes = [GifByteType](repeating: 0, count: 4)
        let controlLength = EGifGCBToExtension(&control, &controlBytes)
        try check(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, Int32(controlLength), controlBytes),
                  gif, "writing the control block of frame \(number)")
        try check(EGifPutImageDesc(gif, Int32(patch.x), Int32(patch.y), Int32(patch.width), Int32(patch.height), false, nil),
                  gif, "writing the image descriptor of frame \(number)")
        // EGifPutLine masks the pixels in place, which is why the patch is our own copy.
        try patch.pixels.withUnsafeMutableBufferPointer { pixels in
            try check(EGifPutLine(gif, pixels.baseAddress, Int32(pixels.count)), gif, "compressing frame \(number)")
        }
        frameCount += 1
    }

    /// The file: the frames so far and the trailer.
    public func finish() throws -> [UInt8] {
        guard let gif else { preconditionFailure("a GIF finished twice") }
        guard frameCount > 0 else { throw GIFError("cannot encode a GIF without frames") }
        self.gif = nil
        // Closing writes the trailer byte and frees the encoder whether or not it succeeds.
        var closeError: Int32 = 0
        guard EGifCloseFile(gif, &closeError) == GIF_OK else {
            throw GIFError("EGifCloseFile failed", giflibCode: closeError)
        }
        return sink.bytes
    }
}

/// Collects the encoder's output; reached from giflib's callback through `UserData`.
private final class ByteSink {
    var bytes: [UInt8] = []
}

private func appendToSink(_ gif: UnsafeMutablePointer<GifFileType>?, _ data: UnsafePointer<GifByteType>?, _ count: Int32) -> Int32 {
    guard let userData = gif?.pointee.UserData, let data, count > 0 else { return 0 }
    let sink = Unmanaged<ByteSink>.fromOpaque(userData).takeUnretainedValue()
    sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(count)))
    return count
}

/// The screen descriptor with the colour map, then the loop extension.
private func writeHeader(width: Int, height: Int, loopCount: Int, palette: [UInt8], to gif: UnsafeMutablePointer<GifFileType>) throws {
    EGifSetGifVersion(gif, true)  // NETSCAPE looping and frame delays are GIF89a features

    let colors = stride(from: 0, to: palette.count, by: 3).map {
        GifColorType(Red: palette[$0], Green: palette[$0 + 1], Blue: palette[$0 + 2])
    }
    guard let colorMap = GifMakeMapObject(Int32(colors.count), colors) else {
        throw GIFError("GifMakeMapObject could not allocate the colour map")
    }
    defer { GifFreeMapObject(colorMap) }  // EGifPutScreenDesc keeps its own copy
    try check(EGifPutScreenDesc(gif, Int32(width), Int32(height), 8, 0, colorMap), gif, "writing the screen descriptor")

    // The NETSCAPE2.0 block must come before the first image for viewers to honour it.
    let loopBlock: [GifByteType] = [1, UInt8(loopCount & 0xFF), UInt8(loopCount >> 8)]
    try check(EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE), gif, "starting the loop extension")
    try check(EGifPutExtensionBlock(gif, 11, Array("NETSCAPE2.0".utf8)), gif, "writing the loop extension")
    try check(EGifPutExtensionBlock(gif, Int32(loopBlock.count), loopBlock), gif, "writing the loop count")
    try check(EGifPutExtensionTrailer(gif), gif, "ending the loop extension")
}

/// The rectangle of one frame that is written to the file, row-major.
private struct FramePatch {
    var x: Int, y: Int, width: Int, height: Int
    var pixels: [UInt8]

    init(x: Int, y: Int, width: Int, height: Int, pixels: [UInt8]) {
        (self.x, self.y, self.width, self.height, self.pixels) = (x, y, width, height, pixels)
    }

    /// The smallest rectangle holding every pixel of `next` that differs from `shown` beyond
    /// `tolerance` (1x1 and transparent when none does; any change counts where either index is
    /// `exact`), with the others in it transparent; `shown` is updated to what the viewer
    /// displays after this patch.
    init(changesFrom shown: inout [UInt8], to next: [UInt8], width screenWidth: Int, tolerance: Int, exact: [Bool]) {
        func changed(_ old: UInt8, _ new: UInt8) -> Bool {
            exact[Int(old)] || exact[Int(new)] ? old != new : abs(Int(old) - Int(new)) > tolerance
        }
        var left = screenWidth, right = -1, top = Int.max, bottom = -1
        for i in next.indices where changed(shown[i], next[i]) {
            let (row, column) = i.quotientAndRemainder(dividingBy: screenWidth)
            left = min(left, column); right = max(right, column)
            top = min(top, row); bottom = row
        }
        guard right >= 0 else {
            self.init(x: 0, y: 0, width: 1, height: 1, pixels: [Palette.transparent])
            return
        }
        var pixels: [UInt8] = []
        pixels.reserveCapacity((right - left + 1) * (bottom - top + 1))
        for row in top...bottom {
            for i in row * screenWidth + left...row * screenWidth + right {
                if changed(shown[i], next[i]) {
                    shown[i] = next[i]
                    pixels.append(next[i])
                } else {
                    pixels.append(Palette.transparent)
                }
            }
        }
        self.init(x: left, y: top, width: right - left + 1, height: bottom - top + 1, pixels: pixels)
    }
}

private func check(_ status: Int32, _ gif: UnsafeMutablePointer<GifFileType>, _ action: String) throws {
    guard status == GIF_OK else { throw GIFError(action, giflibCode: gif.pointee.Error) }
}
