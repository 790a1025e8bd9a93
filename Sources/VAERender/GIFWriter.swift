import CGIF

public struct GIFFrame: Sendable {
    public var canvas: Canvas
    public var delayCentiseconds: Int

    public init(canvas: Canvas, delayCentiseconds: Int) {
        self.canvas = canvas
        self.delayCentiseconds = delayCentiseconds
    }
}

public struct GIFError: Error, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    /// An error for a failed giflib call, quoting giflib's own explanation of `code`.
    init(_ failedAction: String, giflibCode code: Int32) {
        let explanation = GifErrorString(code).map { String(cString: $0) } ?? "unknown giflib error \(code)"
        self.init("\(failedAction): \(explanation)")
    }

    public var description: String { "GIFError: \(message)" }
}

/// Encodes `frames` as an animated GIF89a using `Palette.rgb` as the global colour map.
///
/// `loopCount` 0 loops forever. Every frame must have the first frame's size; each
/// frame is written whole, so viewers never depend on earlier frames' content.
public func encodeGIF(_ frames: [GIFFrame], loopCount: Int = 0) throws -> [UInt8] {
    guard let first = frames.first else { throw GIFError("cannot encode a GIF without frames") }
    let width = first.canvas.width
    let height = first.canvas.height
    // Screen, delay and loop fields are all 16-bit in the file format.
    let fieldRange = 0...Int(UInt16.max)
    guard (1...Int(UInt16.max)).contains(width), (1...Int(UInt16.max)).contains(height) else {
        throw GIFError("canvas \(width)x\(height) does not fit a GIF (1...65535 per side)")
    }
    guard fieldRange.contains(loopCount) else { throw GIFError("loop count \(loopCount) is outside 0...65535") }
    for (number, frame) in frames.enumerated() {
        guard frame.canvas.width == width, frame.canvas.height == height else {
            throw GIFError("frame \(number) is \(frame.canvas.width)x\(frame.canvas.height), frame 0 is \(width)x\(height)")
        }
        guard frame.canvas.pixels.count == width * height else {
            throw GIFError("frame \(number) has \(frame.canvas.pixels.count) pixels, expected \(width * height)")
        }
        guard fieldRange.contains(frame.delayCentiseconds) else {
            throw GIFError("frame \(number) delay \(frame.delayCentiseconds) is outside 0...65535 centiseconds")
        }
    }

    let sink = ByteSink()
    return try withExtendedLifetime(sink) {
        var openError: Int32 = 0
        guard let gif = EGifOpen(Unmanaged.passUnretained(sink).toOpaque(), appendToSink, &openError) else {
            throw GIFError("EGifOpen failed", giflibCode: openError)
        }
        do {
            try writeStream(of: frames, loopCount: loopCount, width: width, height: height, to: gif)
        } catch {
            EGifCloseFile(gif, nil)
            throw error
        }
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

private func writeStream(
    of frames: [GIFFrame], loopCount: Int, width: Int, height: Int, to gif: UnsafeMutablePointer<GifFileType>
) throws {
    EGifSetGifVersion(gif, true)  // NETSCAPE looping and frame delays are GIF89a features

    let colors = stride(from: 0, to: Palette.rgb.count, by: 3).map {
        GifColorType(Red: Palette.rgb[$0], Green: Palette.rgb[$0 + 1], Blue: Palette.rgb[$0 + 2])
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

    for (number, frame) in frames.enumerated() {
        var control = GraphicsControlBlock(
            DisposalMode: DISPOSE_DO_NOT, UserInputFlag: false,
            DelayTime: Int32(frame.delayCentiseconds), TransparentColor: NO_TRANSPARENT_COLOR)
        var controlBytes = [GifByteType](repeating: 0, count: 4)
        let controlLength = EGifGCBToExtension(&control, &controlBytes)
        try check(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, Int32(controlLength), controlBytes),
                  gif, "writing the control block of frame \(number)")
        try check(EGifPutImageDesc(gif, 0, 0, Int32(width), Int32(height), false, nil),
                  gif, "writing the image descriptor of frame \(number)")
        // EGifPutLine masks the pixels in place, so it gets a copy, never the caller's canvas.
        var pixels = frame.canvas.pixels
        try pixels.withUnsafeMutableBufferPointer { pixels in
            try check(EGifPutLine(gif, pixels.baseAddress, Int32(pixels.count)), gif, "compressing frame \(number)")
        }
    }
}

private func check(_ status: Int32, _ gif: UnsafeMutablePointer<GifFileType>, _ action: String) throws {
    guard status == GIF_OK else { throw GIFError(action, giflibCode: gif.pointee.Error) }
}
