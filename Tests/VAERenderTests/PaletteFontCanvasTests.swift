import Testing
import TestSupport
import VAERender

// MARK: - Palette

@Test func paletteIsAGreyRampPlusAnAccent() {
    #expect(Palette.rgb.count == 768)
    for index in 0...253 {
        let expected = UInt8((Double(index) * 255 / 253).rounded())
        #expect(Palette.rgb[index * 3..<index * 3 + 3].elementsEqual([expected, expected, expected]), "index \(index)")
    }
    #expect(Palette.rgb[0] == 0)
    #expect(Palette.rgb[253 * 3] == 255)
    let accent = Array(Palette.rgb[762..<765])
    #expect(Palette.accent == 254)
    #expect(Palette.transparent == 255)
    #expect(accent[0] != accent[1] || accent[1] != accent[2], "the accent must not be a grey")
}

@Test func grayIndexClampsRoundsAndSendsNaNToBlack() {
    #expect(Palette.grayIndex(0) == 0)
    #expect(Palette.grayIndex(1) == Palette.maxGray)
    #expect(Palette.grayIndex(-0.5) == 0)
    #expect(Palette.grayIndex(7) == Palette.maxGray)
    #expect(Palette.grayIndex(-.infinity) == 0)
    #expect(Palette.grayIndex(.infinity) == Palette.maxGray)
    #expect(Palette.grayIndex(.nan) == 0)
    #expect(Palette.grayIndex(0.5) == 127)
    #expect(Palette.grayIndex(10.4 / 253) == 10)
    #expect(Palette.grayIndex(10.6 / 253) == 11)
}

@Test func luminanceIsTheGreyLevelOrTheAccentsLuma() {
    for index in 0...253 {
        #expect(Palette.luminance(index: UInt8(index)) == Palette.rgb[index * 3])
    }
    // Rec.601 of (255, 170, 60): 0.299*255 + 0.587*170 + 0.114*60 = 182.875.
    #expect(Palette.luminance(index: Palette.accent) == 183)
}

// MARK: - BitmapFont

private let printableASCII = (32...126).map { Character(UnicodeScalar(UInt8($0))) }
/// The 3x5 box drawn for characters the font lacks.
private let missingGlyphBox: [UInt8] = [0b00000, 0b01110, 0b01110, 0b01110, 0b01110, 0b01110, 0b00000, 0b00000, 0b00000]

@Test func everyPrintableCharacterHasNineRowsOfFiveBits() throws {
    #expect(BitmapFont.cellHeight == 9)
    for character in printableASCII {
        let rows = try #require(BitmapFont.rows(for: character), "no glyph for \(character)")
        #expect(rows.count == 9, "\(character)")
        #expect(rows.allSatisfy { $0 < 32 }, "\(character) uses more than 5 columns")
    }
}

/// g, j, p, q, y and the comma hang a tail through both rows below the baseline, resting on the
/// baseline; nothing else goes below it.
@Test func onlyTheDescendingLettersReachBelowTheBaseline() throws {
    let baseline = BitmapFont.glyphHeight - 1
    for character in printableASCII {
        let rows = try #require(BitmapFont.rows(for: character))
        let tail = rows[(baseline + 1)...]
        if "gjpqy,".contains(character) {
            #expect(tail.allSatisfy { $0 != 0 }, "\(character) must reach the bottom row")
            #expect(rows[baseline] != 0, "\(character) must rest on the baseline")
        } else {
            #expect(tail.allSatisfy { $0 == 0 }, "\(character) reaches below the baseline")
        }
    }
    let o = try #require(BitmapFont.rows(for: "o"))
    for character: Character in ["g", "p", "q", "y"] {
        let rows = try #require(BitmapFont.rows(for: character))
        #expect(rows[..<2] == o[..<2] && rows[2] != 0, "\(character)'s body starts at the x-height, like o's")
    }
}

@Test func distinctCharactersHaveDistinctGlyphs() throws {
    var owners: [[UInt8]: Character] = [:]
    for character in printableASCII {
        let rows = try #require(BitmapFont.rows(for: character))
        #expect(owners[rows] == nil, "\(character) looks exactly like \(owners[rows].map(String.init) ?? "")")
        owners[rows] = character
        #expect(rows.contains { $0 != 0 } == (character != " "), "only space may be blank: \(character)")
    }
    #expect(owners[missingGlyphBox] == nil, "the missing-glyph box must not look like a character")
}

@Test func charactersOutsidePrintableASCIIHaveNoGlyph() {
    for character: Character in ["\n", "\t", "\u{7F}", "é", "→", "👍"] {
        #expect(BitmapFont.rows(for: character) == nil, "\(character.unicodeScalars.first!.value)")
    }
}

@Test func textWidthCountsGlyphsAndGapsButNotTheTrailingGap() {
    // "epoch 7/30" is 10 characters: 10 * 6 - 1 = 59 columns, doubled.
    #expect(BitmapFont.textWidth("epoch 7/30", scale: 2) == 118)
    #expect(BitmapFont.textWidth("A", scale: 3) == 15)
    #expect(BitmapFont.textWidth("", scale: 4) == 0)
}

@Test func textHeightAddsTheDescentOnlyForTextThatDescends() {
    #expect(BitmapFont.textHeight("EPOCH 7/30", scale: 2) == 14)
    #expect(BitmapFont.textHeight("epoch 7/30", scale: 2) == 18)
    #expect(BitmapFont.textHeight("PC1", scale: 3) == 21)
    #expect(BitmapFont.textHeight("", scale: 1) == 7)
}

// MARK: - Canvas

@Test func canvasStartsFilledAndSubscriptsRowMajor() {
    var canvas = Canvas(width: 4, height: 3, fill: 9)
    #expect(canvas.pixels == [UInt8](repeating: 9, count: 12))
    canvas[2, 1] = 200
    #expect(canvas.pixels[1 * 4 + 2] == 200)
    #expect(canvas[2, 1] == 200)
    #expect(canvas.pixels.filter { $0 == 200 }.count == 1)
}

@Test func fillRectIsClippedToTheCanvas() {
    var canvas = Canvas(width: 5, height: 4)
    canvas.fillRect(x: -2, y: -1, width: 4, height: 3, index: 7)
    canvas.fillRect(x: 4, y: 3, width: 10, height: 10, index: 8)
    for y in 0..<4 {
        for x in 0..<5 {
            let expected: UInt8 = (x < 2 && y < 2) ? 7 : (x == 4 && y == 3) ? 8 : 0
            #expect(canvas[x, y] == expected, "(\(x), \(y))")
        }
    }
    let before = canvas
    for (x, y) in [(-10, 0), (5, 0), (0, -10), (0, 4), (-3, -3)] {
        canvas.fillRect(x: x, y: y, width: 3, height: 3, index: 1)
    }
    canvas.fillRect(x: 1, y: 1, width: -2, height: 2, index: 1)
    expectIdentical(canvas, before, "rectangles off the canvas or of negative size draw nothing")
}

/// What `drawGrayImage` should produce, written the slow and obvious way.
private func expectedGrayDrawing(
    on canvas: Canvas, image: [Float], width: Int, height: Int, x: Int, y: Int, scale: Int
) -> Canvas {
    var expected = canvas
    for sourceY in 0..<height {
        for sourceX in 0..<width {
            for dy in 0..<scale {
                for dx in 0..<scale {
                    let targetX = x + sourceX * scale + dx, targetY = y + sourceY * scale + dy
                    if (0..<canvas.width).contains(targetX), (0..<canvas.height).contains(targetY) {
                        expected[targetX, targetY] = Palette.grayIndex(image[sourceY * width + sourceX])
                    }
                }
            }
        }
    }
    return expected
}

@Test func drawGrayImageUpscalesEachPixelToAScaleByScaleBlock() {
    var canvas = Canvas(width: 10, height: 9, fill: 3)
    canvas.drawGrayImage([0, 1, 1, 0], width: 2, height: 2, x: 1, y: 2, scale: 3)
    for y in 0..<9 {
        for x in 0..<10 {
            let inside = (1..<7).contains(x) && (2..<8).contains(y)
            let white = inside && ((x - 1) / 3 + (y - 2) / 3) % 2 == 1
            let expected: UInt8 = !inside ? 3 : white ? Palette.maxGray : 0
            #expect(canvas[x, y] == expected, "(\(x), \(y))")
        }
    }
}

@Test(arguments: [(-2, -1), (-4, 2), (5, -5), (7, 6), (-6, -6), (20, 0), (0, 30)])
func drawGrayImageClipsAtEveryEdge(x: Int, y: Int) {
    let image: [Float] = [0.0, 0.25, 0.5, 0.75, 1.0, 0.1]
    var canvas = Canvas(width: 8, height: 7, fill: 200)
    canvas.drawGrayImage(image, width: 3, height: 2, x: x, y: y, scale: 3)
    expectIdentical(canvas, expectedGrayDrawing(on: Canvas(width: 8, height: 7, fill: 200),
                                                image: image, width: 3, height: 2, x: x, y: y, scale: 3))
}

/// What `drawText` should produce, written the slow and obvious way.
private func expectedText(_ text: String, on canvas: Canvas, x: Int, y: Int, scale: Int, index: UInt8) -> Canvas {
    var expected = canvas
    for (position, character) in text.enumerated() {
        let rows = BitmapFont.rows(for: character) ?? missingGlyphBox
        for row in 0..<BitmapFont.cellHeight {
            for column in 0..<5 where rows[row] & (1 << (4 - column)) != 0 {
                expected.fillRect(x: x + (position * 6 + column) * scale, y: y + row * scale,
                                  width: scale, height: scale, index: index)
            }
        }
    }
    return expected
}

@Test func drawTextPaintsGlyphPixelsOnlyInsideItsBox() {
    let text = "epoch 7/30"
    var canvas = Canvas(width: 130, height: 24)
    canvas.drawText(text, x: 3, y: 4, scale: 2)
    let box = (x: 3..<(3 + BitmapFont.textWidth(text, scale: 2)), y: 4..<(4 + 18))
    var accentCount = 0
    for y in 0..<canvas.height {
        for x in 0..<canvas.width where canvas[x, y] != 0 {
            #expect(canvas[x, y] == Palette.accent)
            #expect(box.x.contains(x) && box.y.contains(y), "stray pixel at (\(x), \(y))")
            accentCount += 1
        }
    }
    let litBits = text.compactMap { BitmapFont.rows(for: $0) }.joined().map { $0.nonzeroBitCount }.reduce(0, +)
    #expect(accentCount == litBits * 4, "every lit glyph bit becomes a 2x2 block")
    // Text reaching the box's right and bottom edges: the last glyph '0' has its right column lit.
    #expect(canvas[box.x.upperBound - 1, 4 + 2] == Palette.accent)
    // The tail of 'p', the second glyph, fills the bottom row of its stem column.
    #expect(canvas[3 + 6 * 2, box.y.upperBound - 1] == Palette.accent)
    expectIdentical(canvas, expectedText(text, on: Canvas(width: 130, height: 24), x: 3, y: 4, scale: 2, index: Palette.accent))
}

@Test(arguments: [(-7, -3), (-20, 10), (40, -9), (45, 12), (-100, 0), (0, 100)])
func drawTextClipsAtEveryEdge(x: Int, y: Int) {
    var canvas = Canvas(width: 50, height: 16, fill: 1)
    canvas.drawText("z ~ N(0, I)", x: x, y: y, scale: 3, index: 77)
    expectIdentical(canvas, expectedText("z ~ N(0, I)", on: Canvas(width: 50, height: 16, fill: 1),
                                         x: x, y: y, scale: 3, index: 77))
}

@Test func unsupportedCharactersDrawAFilledBox() {
    var canvas = Canvas(width: 12, height: 7)
    canvas.drawText("é", x: 0, y: 0, index: 5)
    var box = Canvas(width: 12, height: 7)
    box.fillRect(x: 1, y: 1, width: 3, height: 5, index: 5)
    expectIdentical(canvas, box)
}

// MARK: - TileLayout

/// A subtitle goes at the right of the caption's line when both fit on it, and on a line of its
/// own below the caption otherwise, the frame widened for it if need be: never left out. Each
/// frame holds the whole subtitle where the layout says, and nothing else in its grey.
@Test func aSubtitleThatDoesNotFitBesideTheCaptionGoesOnALineBelowIt() {
    let style = FrameStyle(scale: 1), line = BitmapFont.glyphHeight, padding = style.captionPadding
    let caption = "epoch 30/30", short = "z ~ N(0,I)", long = "input above, reconstruction below"
    let beside = TileLayout(columns: 10, rows: 1, style: style, widestCaption: caption, subtitle: short)
    let below = TileLayout(columns: 2, rows: 1, style: style, widestCaption: caption, subtitle: long)
    #expect(beside.captionHeight == line + 2 * padding)
    #expect(below.captionHeight == 2 * line + 3 * padding)
    #expect(below.width == BitmapFont.textWidth(long, scale: 1) + 2 * style.gutter, "as wide as the subtitle needs")
    let cases = [(beside, short, beside.width - beside.captionLeft - BitmapFont.textWidth(short, scale: 1), padding),
                 (below, long, below.captionLeft, 2 * padding + line)]
    for (layout, subtitle, x, y) in cases {
        let frame = layout.blankFrame(caption: caption)
        var redrawn = frame
        redrawn.drawText(subtitle, x: x, y: y, index: FrameStyle.subtitleColor)
        expectIdentical(redrawn, frame, "\(subtitle) drawn again where it belongs")
        var alone = Canvas(width: frame.width, height: frame.height)
        alone.drawText(subtitle, x: x, y: y, index: FrameStyle.subtitleColor)
        #expect(frame.pixels.filter { $0 == FrameStyle.subtitleColor }.count == alone.pixels.filter { $0 == FrameStyle.subtitleColor }.count,
                "all of \(subtitle) and nothing else in grey")
    }
    // Beside the caption, a subtitle keeps two characters clear of it, however the widths fall;
    // the sweep comes within a character of that edge.
    var nearest = Int.max
    for scale in [1, 2] {
        for columns in 1...12 {
            for length in 1...60 {
                let subtitle = String(repeating: "x", count: length)
                let layout = TileLayout(columns: columns, rows: 1, style: FrameStyle(scale: scale), widestCaption: caption, subtitle: subtitle)
                let padding = layout.style.captionPadding, line = BitmapFont.glyphHeight * scale
                guard layout.captionHeight == line + 2 * padding else { continue }
                // Right-aligned as far from the right edge as the caption is from the left (drawn there above).
                let subtitleLeft = layout.width - layout.captionLeft - BitmapFont.textWidth(subtitle, scale: scale)
                let gap = subtitleLeft - (layout.captionLeft + BitmapFont.textWidth(caption, scale: scale))
                #expect(gap >= 2 * BitmapFont.advance * scale, "\(columns) columns, \(length) characters at scale \(scale): \(gap) pixels")
                nearest = min(nearest, gap - 2 * BitmapFont.advance * scale)
            }
        }
    }
    #expect(nearest < BitmapFont.advance, "\(nearest)")
}
