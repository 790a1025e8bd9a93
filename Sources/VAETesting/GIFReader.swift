import CGIF
import VAERender

public struct DecodedGIF: Sendable {
    /// "GIF87a" or "GIF89a".
    public let version: String
    public let width: Int
    public let height: Int
    /// From the NETSCAPE2.0 extension (0 = forever); nil when the file has none.
    public let loopCount: Int?
    /// Whether that extension comes before the first frame, where some viewers alone look for it.
    public let loopCountPrecedesFirstFrame: Bool
    /// The global colour map as red, green, blue bytes, at most 768 of them.
    public let palette: [UInt8]
    public let frames: [DecodedFrame]
}

public struct DecodedFrame: Sendable {
    /// The whole logical screen after compositing this frame, as palette indices, row-major.
    public let indices: [UInt8]
    public let delayCentiseconds: Int
    /// The control block's disposal mode (DISPOSAL_UNSPECIFIED without one).
    public let disposal: Int32
    /// The control block's user-input flag: a viewer would wait for a key before going on.
    public let waitsForInput: Bool
    /// The index the frame leaves transparent, showing the frame before; nil for none.
    public let transparentIndex: Int?
}

/// Cap on frames x screen pixels, bounding both giflib's rasters and our composited frames.
private let maxDecodedPixels = 1 << 28

// The tests' and fuzzers' reader of the GIFs the renderer writes; the tools themselves never
// read a GIF.

/// Decodes a GIF that uses only the global colour map, compositing each frame onto
/// the previous one. Malformed or unsupported input throws `GIFError`.
///
/// Supported: sub-rectangle frames, interlacing, transparency, disposal modes 0 and 1.
/// Rejected: local colour maps, disposal modes 2 and 3 (restore to background/previous).
public func decodeGIF(_ bytes: [UInt8]) throws -> DecodedGIF {
    // DGifSlurp allocates each image's raster from its descriptor before decoding it,
    // so sizes must be vetted before giflib sees the file.
    let layout = try GIFLayout(scanning: bytes)
    let source = ByteSource(bytes)
    return try withExtendedLifetime(source) {
        var openError: Int32 = 0
        guard let gif = DGifOpen(Unmanaged.passUnretained(source).toOpaque(), readFromSource, &openError) else {
            throw GIFError("DGifOpen failed", giflibCode: openError)
        }
        defer { DGifCloseFile(gif, nil) }
        guard DGifSlurp(gif) == GIF_OK else { throw GIFError("DGifSlurp failed", giflibCode: gif.pointee.Error) }
        return try assemble(gif, version: layout.version)
    }
}

/// ITU-R BT.601 luma, rounded; exact for greys (r == g == b gives back that value).
public func rec601Luma(red: UInt8, green: UInt8, blue: UInt8) -> UInt8 {
    let weighted: Int = 299 * Int(red) + 587 * Int(green) + 114 * Int(blue)
    return UInt8((weighted + 500) / 1000)
}

/// The grey level a viewer would show for each pixel of `frame` (Rec.601 luma), for
/// comparisons that should not depend on which palette entries were chosen.
/// Every index in `frame` must have an entry in `palette`, as `decodeGIF` guarantees.
public func luminance(of frame: DecodedFrame, palette: [UInt8]) -> [UInt8] {
    frame.indices.map { index in
        let offset = Int(index) * 3
        precondition(offset + 2 < palette.count, "index \(index) has no palette entry")
        return rec601Luma(red: palette[offset], green: palette[offset + 1], blue: palette[offset + 2])
    }
}

private final class ByteSource {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }
}

/// Hands giflib the next bytes; a short count at the end of the data makes giflib fail cleanly.
private func readFromSource(_ gif: UnsafeMutablePointer<GifFileType>?, _ buffer: UnsafeMutablePointer<GifByteType>?, _ count: Int32) -> Int32 {
    guard let userData = gif?.pointee.UserData, let buffer, count > 0 else { return 0 }
    let source = Unmanaged<ByteSource>.fromOpaque(userData).takeUnretainedValue()
    let available = min(Int(count), source.bytes.count - source.offset)
    guard available > 0 else { return 0 }
    source.bytes.withUnsafeBufferPointer { bytes in
        buffer.update(from: bytes.baseAddress! + source.offset, count: available)
    }
    source.offset += available
    return Int32(available)
}

private func assemble(_ gif: UnsafeMutablePointer<GifFileType>, version: String) throws -> DecodedGIF {
    let file = gif.pointee
    let width = Int(file.SWidth)
    let height = Int(file.SHeight)
    guard let colorMap = file.SColorMap?.pointee, let colors = colorMap.Colors else {
        throw GIFError("the file has no global colour map")
    }
    let colorCount = Int(colorMap.ColorCount)
    let palette = (0..<colorCount).flatMap { [colors[$0].Red, colors[$0].Green, colors[$0].Blue] }
    let images = UnsafeBufferPointer(start: file.SavedImages, count: Int(file.ImageCount))

    // Pixels no frame has covered yet read as index 0, like the black our own canvases start from.
    var screen = [UInt8](repeating: 0, count: width * height)
    var frames: [DecodedFrame] = []
    for (number, image) in images.enumerated() {
        var control = GraphicsControlBlock(
            DisposalMode: DISPOSAL_UNSPECIFIED, UserInputFlag: false, DelayTime: 0, TransparentColor: NO_TRANSPARENT_COLOR)
        // Fails only when the frame has no control block (the layout scan rejected malformed
        // ones), which leaves the defaults above: no delay, no transparency.
        _ = DGifSavedExtensionToGCB(gif, Int32(number), &control)
        guard control.DisposalMode == DISPOSAL_UNSPECIFIED || control.DisposalMode == DISPOSE_DO_NOT else {
            throw GIFError("frame \(number) uses disposal mode \(control.DisposalMode), which is not supported")
        }

        let area = image.ImageDesc
        let left = Int(area.Left), top = Int(area.Top), areaWidth = Int(area.Width), areaHeight = Int(area.Height)
        // The layout scan checked these bytes already; re-checked because the writes below rely on it.
        guard let raster = image.RasterBits, left >= 0, top >= 0, areaWidth > 0, areaHeight > 0,
              left + areaWidth <= width, top + areaHeight <= height else {
            throw GIFError("frame \(number) lies outside the \(width)x\(height) screen")
        }
        try screen.withUnsafeMutableBufferPointer { screen in
            for row in 0..<areaHeight {
                let sourceStart = row * areaWidth
                let screenStart = (top + row) * width + left
                for column in 0..<areaWidth {
                    let index = raster[sourceStart + column]
                    guard Int(index) < colorCount else {
                        throw GIFError("frame \(number) uses colour \(index) of a \(colorCount)-colour map")
                    }
                    if Int32(index) != control.TransparentColor {
                        screen[screenStart + column] = index
                    }
                }
            }
        }
        frames.append(DecodedFrame(indices: screen, delayCentiseconds: Int(control.DelayTime), disposal: control.DisposalMode,
                                   waitsForInput: control.UserInputFlag,
                                   transparentIndex: control.TransparentColor == NO_TRANSPARENT_COLOR ? nil : Int(control.TransparentColor)))
    }
    let loop = findLoopCount(in: gif)
    return DecodedGIF(version: version, width: width, height: height, loopCount: loop?.count,
                      loopCountPrecedesFirstFrame: loop?.beforeFirstFrame ?? false, palette: palette, frames: frames)
}

/// The loop count of the first NETSCAPE2.0 application extension, wherever it appears, and
/// whether it comes before the first frame.
///
/// giflib keeps the extensions before each image with that image, those after the last with the
/// file; it stores an extension's first sub-block with the extension's function code and each
/// following sub-block as a CONTINUE_EXT_FUNC_CODE block right after it.
private func findLoopCount(in gif: UnsafeMutablePointer<GifFileType>) -> (count: Int, beforeFirstFrame: Bool)? {
    let file = gif.pointee
    let images = UnsafeBufferPointer(start: file.SavedImages, count: Int(file.ImageCount))
    let extensionLists = images.map { ($0.ExtensionBlocks, $0.ExtensionBlockCount) }
        + [(file.ExtensionBlocks, file.ExtensionBlockCount)]
    let netscape = Array("NETSCAPE2.0".utf8)
    for (list, (start, count)) in extensionLists.enumerated() {
        let blocks = UnsafeBufferPointer(start: start, count: Int(count))
        for (position, block) in blocks.enumerated().dropLast()
        where block.Function == APPLICATION_EXT_FUNC_CODE && bytes(of: block) == netscape {
            let data = bytes(of: blocks[position + 1])
            if blocks[position + 1].Function == CONTINUE_EXT_FUNC_CODE, data.count >= 3, data[0] == 1 {
                return (Int(data[1]) | Int(data[2]) << 8, list == 0 && images.count > 0)
            }
        }
    }
    return nil
}

private func bytes(of block: ExtensionBlock) -> [UInt8] {
    Array(UnsafeBufferPointer(start: block.Bytes, count: Int(block.ByteCount)))
}

/// A walk over the file's block structure, without decompressing anything, that rejects
/// what giflib would accept but we must not: oversized screens, frames outside the
/// screen, local colour maps, malformed control blocks, a missing trailer.
private struct GIFLayout {
    let version: String

    init(scanning bytes: [UInt8]) throws {
        var cursor = ByteCursor(bytes)
        let signature = try cursor.take(6)
        guard signature == Array("GIF87a".utf8) || signature == Array("GIF89a".utf8) else {
            throw GIFError("not a GIF file (no GIF87a/GIF89a signature)")
        }
        version = String(decoding: signature, as: UTF8.self)

        let width = try cursor.uint16(), height = try cursor.uint16()
        let screenFlags = try cursor.byte()
        try cursor.skip(2)  // background colour, aspect ratio
        guard (1...maxGIFSide).contains(width), (1...maxGIFSide).contains(height) else {
            throw GIFError("screen size \(width)x\(height) is outside 1...\(maxGIFSide) per side")
        }
        guard screenFlags & 0x80 != 0 else { throw GIFError("the file has no global colour map") }
        try cursor.skip(3 << (Int(screenFlags & 0x07) + 1))

        var frameCount = 0
        while true {
            let blockStart = cursor.offset
            switch try cursor.byte() {
            case 0x21:
                let label = try cursor.byte()
                if label == UInt8(GRAPHICS_EXT_FUNC_CODE), try cursor.peek() != 4 {
                    throw GIFError("graphics control extension at offset \(blockStart) is not 4 bytes long")
                }
                try cursor.skipSubBlocks()
            case 0x2C:
                let left = try cursor.uint16(), top = try cursor.uint16()
                let imageWidth = try cursor.uint16(), imageHeight = try cursor.uint16()
                let imageFlags = try cursor.byte()
                guard imageWidth > 0, imageHeight > 0, left + imageWidth <= width, top + imageHeight <= height else {
                    throw GIFError("frame \(frameCount) (\(imageWidth)x\(imageHeight) at \(left),\(top)) "
                                   + "lies outside the \(width)x\(height) screen")
                }
                guard imageFlags & 0x80 == 0 else {
                    throw GIFError("frame \(frameCount) has a local colour map, which is not supported")
                }
                frameCount += 1
                guard frameCount * width * height <= maxDecodedPixels else {
                    throw GIFError("\(frameCount) frames of \(width)x\(height) exceed the decoding limit")
                }
                try cursor.skip(1)  // LZW minimum code size
                try cursor.skipSubBlocks()
            case 0x3B:
                guard frameCount > 0 else { throw GIFError("the file has no frames") }
                return
            case let other:
                throw GIFError("unexpected block type 0x\(String(other, radix: 16)) at offset \(blockStart)")
            }
        }
    }
}

private struct ByteCursor {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func peek() throws -> UInt8 {
        guard offset < bytes.count else { throw truncated() }
        return bytes[offset]
    }

    mutating func byte() throws -> UInt8 {
        let value = try peek()
        offset += 1
        return value
    }

    mutating func uint16() throws -> Int {
        let low = try byte()
        return Int(low) | Int(try byte()) << 8
    }

    mutating func take(_ count: Int) throws -> [UInt8] {
        let start = offset
        try skip(count)
        return Array(bytes[start..<offset])
    }

    mutating func skip(_ count: Int) throws {
        guard count <= bytes.count - offset else { throw truncated() }
        offset += count
    }

    /// Skips a chain of length-prefixed sub-blocks up to and including its empty terminator.
    mutating func skipSubBlocks() throws {
        var length = try byte()
        while length > 0 {
            try skip(Int(length))
            length = try byte()
        }
    }

    private func truncated() -> GIFError {
        GIFError("the file ends early (truncated at \(bytes.count) bytes)")
    }
}
