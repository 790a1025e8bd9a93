import VAECore

/// Where things go in a frame: a caption strip on top, then a grid of 28x28 images scaled up,
/// with gutters between them. Rows may come in groups (A, the morph and B; an original and its
/// reconstruction) separated by a band of background. The caption strip holds the caption that
/// changes from frame to frame and a subtitle that does not (what the picture shows): beside
/// it when both fit on one line, else on a line of its own below. The frame is made wide enough
/// for both, and the grid is centred when they are wider than it.
public struct TileLayout: Sendable, Equatable {
    public let columns: Int
    public let rows: Int
    public let rowsPerGroup: Int
    /// The columns that hold images in the last group's rows; the slots past them stay background.
    public let lastGroupColumns: Int
    public let style: FrameStyle
    /// Side of one scaled image in pixels.
    public let tileSide: Int
    public let captionHeight: Int
    /// The same in every frame: "z ~ N(0,I)", "input above, reconstruction below".
    public let subtitle: String
    public let width: Int
    public let height: Int
    private let gridLeft: Int
    private let gridWidth: Int
    /// Where the caption starts: aligned with the first tile, unless the text needs the room.
    public let captionLeft: Int
    /// Where the subtitle starts, and its line's top.
    private let subtitleLeft: Int
    private let subtitleTop: Int

    /// `items` columns of images (an interpolation's pairs, reconstructed characters) in groups of
    /// `rowsPerGroup` rows, at most `columns` to a group; the last group holds what is left.
    public static func grouped(items: Int, columns: Int, rowsPerGroup: Int, style: FrameStyle, widestCaption: String,
                               subtitle: String) -> TileLayout {
        precondition(items >= 1, "no images to lay out")
        let columns = min(items, columns)
        let groups = (items + columns - 1) / columns
        return TileLayout(columns: columns, rows: rowsPerGroup * groups, rowsPerGroup: rowsPerGroup,
                          lastGroupColumns: items - (groups - 1) * columns, style: style, widestCaption: widestCaption,
                          subtitle: subtitle)
    }

    /// `rowsPerGroup` nil makes all rows one group, `lastGroupColumns` nil fills every column of
    /// the last group. `widestCaption` is the longest caption any frame will carry; the frame is
    /// made wide enough for it and `subtitle`.
    public init(columns: Int, rows: Int, rowsPerGroup: Int? = nil, lastGroupColumns: Int? = nil, style: FrameStyle,
                widestCaption: String, subtitle: String = "") {
        let rowsPerGroup = rowsPerGroup ?? rows
        precondition(columns >= 1 && rows >= 1 && rowsPerGroup >= 1)
        precondition((1...columns).contains(lastGroupColumns ?? columns), "the last group holds 1 to \(columns) columns")
        self.columns = columns
        self.rows = rows
        self.rowsPerGroup = rowsPerGroup
        self.lastGroupColumns = lastGroupColumns ?? columns
        self.style = style
        self.subtitle = subtitle
        tileSide = VAEConfig.imageSide * style.scale
        let lineHeight = BitmapFont.glyphHeight * style.scale
        gridWidth = style.gutter + columns * (tileSide + style.gutter)
        let groups = (rows + rowsPerGroup - 1) / rowsPerGroup
        let gridHeight = style.gutter + rows * (tileSide + style.gutter) + (groups - 1) * style.groupGap
        let captionWidth = BitmapFont.textWidth(widestCaption, scale: style.scale)
        let subtitleWidth = subtitle.isEmpty ? 0 : BitmapFont.textWidth(subtitle, scale: style.scale)
        // One line when the subtitle fits right-aligned two characters clear of the widest caption.
        let oneLineWidth = max(gridWidth, captionWidth + 2 * style.gutter)
        let oneLineLeft = min((oneLineWidth - gridWidth) / 2 + style.gutter, oneLineWidth - style.gutter - captionWidth)
        let oneLine = subtitle.isEmpty || oneLineWidth - oneLineLeft - subtitleWidth >= oneLineLeft + captionWidth + 2 * BitmapFont.advance * style.scale
        width = oneLine ? oneLineWidth : max(oneLineWidth, subtitleWidth + 2 * style.gutter)
        gridLeft = (width - gridWidth) / 2
        captionLeft = min(gridLeft + style.gutter, width - style.gutter - max(captionWidth, oneLine ? 0 : subtitleWidth))
        subtitleLeft = oneLine ? width - captionLeft - subtitleWidth : captionLeft
        subtitleTop = oneLine ? style.captionPadding : 2 * style.captionPadding + lineHeight
        captionHeight = subtitleTop + lineHeight + style.captionPadding
        height = captionHeight + gridHeight
    }

    /// Top-left corner of the tile in `column`, `row`.
    public func tileOrigin(column: Int, row: Int) -> (x: Int, y: Int) {
        let gutter = style.gutter
        return (gridLeft + gutter + column * (tileSide + gutter),
                captionHeight + gutter + row * (tileSide + gutter) + (row / rowsPerGroup) * style.groupGap)
    }

    /// A frame with the gutters drawn (under the last group's images only as far as they go),
    /// `caption` in the accent colour at the top left and the subtitle in grey.
    public func blankFrame(caption: String) -> Canvas {
        var canvas = Canvas(width: width, height: height, fill: FrameStyle.background)
        let gutter = style.gutter
        for group in stride(from: 0, to: rows, by: rowsPerGroup) {
            let top = tileOrigin(column: 0, row: group).y - gutter
            let groupRows = min(rowsPerGroup, rows - group)
            let groupColumns = group + rowsPerGroup >= rows ? lastGroupColumns : columns
            canvas.fillRect(x: gridLeft, y: top, width: gutter + groupColumns * (tileSide + gutter),
                            height: gutter + groupRows * (tileSide + gutter), index: FrameStyle.gutterColor)
        }
        canvas.drawText(caption, x: captionLeft, y: style.captionPadding, scale: style.scale, index: Palette.accent)
        canvas.drawText(subtitle, x: subtitleLeft, y: subtitleTop, scale: style.scale, index: FrameStyle.subtitleColor)
        return canvas
    }

    /// Draws image number `number` of `images` (row-major 28x28 intensities in [0, 1]) into the
    /// tile at `column`, `row`.
    public func draw(_ images: [Float], number: Int, column: Int, row: Int, on canvas: inout Canvas) {
        let size = VAEConfig.inputSize
        let origin = tileOrigin(column: column, row: row)
        images.withUnsafeBufferPointer { images in
            canvas.drawGrayImage(UnsafeBufferPointer(rebasing: images[number * size..<(number + 1) * size]),
                                 width: VAEConfig.imageSide, height: VAEConfig.imageSide,
                                 x: origin.x, y: origin.y, scale: style.scale)
        }
    }
}
