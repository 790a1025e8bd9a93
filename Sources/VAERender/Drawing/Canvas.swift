/// An 8-bit indexed image whose pixel values are `Palette` indices.
///
/// Drawing operations clip silently against the canvas edges, so callers can lay
/// out grids and captions without bounds arithmetic of their own.
public struct Canvas: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// Palette indices, row-major, `width * height` of them.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        precondition(width >= 0 && height >= 0, "canvas size must not be negative")
        self.width = width
        self.height = height
        self.pixels = [UInt8](repeating: fill, count: width * height)
    }

    public subscript(x: Int, y: Int) -> UInt8 {
        get {
            precondition(contains(x: x, y: y), "pixel (\(x), \(y)) outside \(width)x\(height) canvas")
            return pixels[y * width + x]
        }
        set {
            precondition(contains(x: x, y: y), "pixel (\(x), \(y)) outside \(width)x\(height) canvas")
            pixels[y * width + x] = newValue
        }
    }

    public mutating func fillRect(x: Int, y: Int, width: Int, height: Int, index: UInt8) {
        let columns = visibleSpan(start: x, length: width, limit: self.width)
        let rows = visibleSpan(start: y, length: height, limit: self.height)
        guard !columns.isEmpty, !rows.isEmpty else { return }
        let canvasWidth = self.width
        pixels.withUnsafeMutableBufferPointer { pixels in
            for row in rows {
                let rowStart = row * canvasWidth
                for column in columns {
                    pixels[rowStart + column] = index
                }
            }
        }
    }

    /// Draws a `width` x `height` image of intensities in [0, 1] with its top-left
    /// corner at (`x`, `y`), each source pixel becoming a `scale` x `scale` block.
    public mutating func drawGrayImage(
        _ intensities: UnsafeBufferPointer<Float>, width: Int, height: Int, x: Int, y: Int, scale: Int
    ) {
        drawImage(intensities, width: width, height: height, x: x, y: y, scale: scale, index: Palette.grayIndex)
    }

    /// `drawGrayImage` with each intensity's palette index chosen by `index`, as the latent map's
    /// legend draws characters in shades of a class colour.
    public mutating func drawImage(
        _ intensities: UnsafeBufferPointer<Float>, width: Int, height: Int, x: Int, y: Int, scale: Int, index: (Float) -> UInt8
    ) {
        precondition(width >= 0 && height >= 0 && scale >= 1, "invalid image size or scale")
        precondition(intensities.count >= width * height, "fewer intensities than width * height")
        let columns = visibleSpan(start: x, length: width * scale, limit: self.width)
        let rows = visibleSpan(start: y, length: height * scale, limit: self.height)
        guard !columns.isEmpty, !rows.isEmpty else { return }
        let canvasWidth = self.width
        pixels.withUnsafeMutableBufferPointer { pixels in
            for row in rows {
                let sourceRowStart = (row - y) / scale * width
                let rowStart = row * canvasWidth
                for column in columns {
                    pixels[rowStart + column] = index(intensities[sourceRowStart + (column - x) / scale])
                }
            }
        }
    }

    /// Draws `text` in `BitmapFont` with its top-left corner at (`x`, `y`); only the
    /// glyph strokes are painted, so the background shows through between them.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 1, index: UInt8 = Palette.accent) {
        precondition(scale >= 1, "text scale must be at least 1")
        let canvasWidth = width
        let canvasHeight = height
        let glyphColumns = BitmapFont.glyphWidth * scale
        let glyphRows = BitmapFont.cellHeight * scale
        pixels.withUnsafeMutableBufferPointer { pixels in
            for (position, character) in text.enumerated() {
                let left = x + position * BitmapFont.advance * scale
                let columns = visibleSpan(start: left, length: glyphColumns, limit: canvasWidth)
                let rows = visibleSpan(start: y, length: glyphRows, limit: canvasHeight)
                guard !columns.isEmpty, !rows.isEmpty else { continue }
                let glyph = BitmapFont.rows(for: character) ?? BitmapFont.missingGlyphRows
                for row in rows {
                    let bits = glyph[(row - y) / scale]
                    let rowStart = row * canvasWidth
                    for column in columns where bits & (0b10000 >> ((column - left) / scale)) != 0 {
                        pixels[rowStart + column] = index
                    }
                }
            }
        }
    }

    private func contains(x: Int, y: Int) -> Bool {
        (0..<width).contains(x) && (0..<height).contains(y)
    }
}

/// The part of `start..<start + length` that lies in `0..<limit`; empty when none does.
private func visibleSpan(start: Int, length: Int, limit: Int) -> Range<Int> {
    let lower = min(max(start, 0), limit)
    let upper = max(min(start + length, limit), lower)
    return lower..<upper
}
