import Foundation

/// What the animations share: image scale, timing and colours.
public struct FrameStyle: Sendable, Equatable {
    /// Each 28x28 image pixel becomes a `scale` x `scale` block; captions are drawn at the same scale.
    public var scale: Int
    /// Centiseconds each frame of a sweep shows, and the least an epoch's frame shows.
    public var delay: Int
    /// Centiseconds the ends show (the last epoch, a sweep's two ends), so viewers can read them, and
    /// the most an epoch's frame shows.
    public var hold: Int
    /// Centiseconds per doubling of the epochs trained, shared out among the frames of every epoch
    /// (see `epochDelay`); 0 shows each of them for `delay`.
    public var doubling: Int
    /// Steps of the grey ramp a pixel may lag behind its true value in a later frame before it is
    /// redrawn (see `GIFEncoder`). At 4 of 253 the lag is invisible, yet it cuts the default run's
    /// sampling GIF by 30% (docs/design.md gives the sizes), since its every pixel drifts a little
    /// each epoch.
    public var tolerance: Int

    public init(scale: Int = 2, delay: Int = 10, hold: Int = 200, doubling: Int = 80, tolerance: Int = 4) {
        precondition(scale >= 1 && delay >= 0 && hold >= 0 && doubling >= 0 && tolerance >= 0)
        self.scale = scale
        self.delay = delay
        self.hold = hold
        self.doubling = doubling
        self.tolerance = tolerance
    }

    /// How long a frame of a sweep shows: `hold` where it holds (an end, the traversal's first frame), else `delay`.
    public func frameDelay(holds: Bool) -> Int { holds ? hold : delay }

    /// How long the frame of `epoch` shows when `next` is the next epoch shown, or nil for the last
    /// frame, which holds: its share of the doublings, `doubling` x log2(next / epoch), kept between
    /// `delay` and `hold`. A model changes most in its first epochs, so equal time per doubling lets
    /// a viewer see them (by default epochs 1, 2 and 3 show for 80, 47 and 33 cs) while the later
    /// epochs of a run of any length pass at `delay`.
    public func epochDelay(epoch: Int, next: Int?) -> Int {
        guard let next else { return hold }
        precondition(epoch >= 1 && next > epoch, "epochs in increasing order")
        let share = Int((Double(doubling) * log2(Double(next) / Double(epoch))).rounded())
        return max(delay, min(hold, share))
    }

    /// Behind the caption and between groups of rows.
    public static let background: UInt8 = 18
    /// The lines between tiles, a little lighter than the background so that black tiles stand out.
    public static let gutterColor: UInt8 = 58
    /// Secondary caption text, dimmer than the accent.
    public static let subtitleColor: UInt8 = 140

    /// Width of the lines between tiles.
    public var gutter: Int { 2 * scale }
    /// Extra space between groups of rows (such as an original and its reconstruction).
    public var groupGap: Int { 4 * scale }
    /// Space above and below a line of caption text; the tails of g, j, p, q, y and ',' take 2 of
    /// the 3 rows below (`BitmapFont.descent`).
    public var captionPadding: Int { 3 * scale }
}
