import VAECore
import VAERender

// Whole files made in memory at once, for the tests and vae-fixtures; the tools write theirs
// a piece at a time (GIFEncoder, gzipCompress(pieces:)).

/// Encodes `frames` as an animated GIF89a with `palette` (768 bytes, as `Palette.rgb`) as the
/// global colour map; `GIFEncoder` says how.
public func encodeGIF(_ frames: [GIFFrame], loopCount: Int = 0, tolerance: Int = 0, palette: [UInt8] = Palette.rgb) throws -> [UInt8] {
    guard let first = frames.first else { throw GIFError("cannot encode a GIF without frames") }
    let encoder = try GIFEncoder(width: first.canvas.width, height: first.canvas.height, loopCount: loopCount,
                                 tolerance: tolerance, palette: palette)
    for frame in frames { try encoder.append(frame) }
    return try encoder.finish()
}

/// Encodes an IDX file: big-endian magic and dimensions, then the payload.
public func encodeIDX(magic: UInt32, dimensions: [Int], payload: [UInt8]) -> [UInt8] {
    idxHeader(magic: magic, dimensions: dimensions) + payload
}

/// Gzip-compresses `bytes` as `gzipCompress(pieces:)` does.
public func gzipCompress(_ bytes: [UInt8]) -> [UInt8] {
    bytes.withUnsafeBytes { gzipCompress(pieces: [$0]) }
}
