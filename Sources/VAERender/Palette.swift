/// The single 256-colour map shared by every GIF we write.
///
/// Indices 0...254 form an even grey ramp (0 black, 254 white) so images can be
/// drawn straight from intensities; index 255 is a warm accent reserved for captions,
/// so text stays distinguishable from any image pixel.
public enum Palette {
    public static let maxGray: UInt8 = 254
    public static let accent: UInt8 = 255

    private static let accentRGB: (red: UInt8, green: UInt8, blue: UInt8) = (255, 170, 60)

    /// The grey index nearest to `intensity`, clamped to [0, 1]; NaN maps to black.
    public static func grayIndex(_ intensity: Float) -> UInt8 {
        guard intensity > 0 else { return 0 }  // also catches NaN
        guard intensity < 1 else { return maxGray }
        return UInt8((intensity * Float(maxGray)).rounded())
    }

    /// The colour map as 768 bytes: red, green, blue for each index in order.
    public static let rgb: [UInt8] = (0...255).flatMap { index -> [UInt8] in
        if index == Int(accent) {
            return [accentRGB.red, accentRGB.green, accentRGB.blue]
        }
        let gray = grayLevel(ofIndex: index)
        return [gray, gray, gray]
    }

    /// The grey an index is perceived as: its level for ramp entries, Rec.601 luma for the accent.
    public static func luminance(index: UInt8) -> UInt8 {
        index == accent
            ? rec601Luma(red: accentRGB.red, green: accentRGB.green, blue: accentRGB.blue)
            : grayLevel(ofIndex: Int(index))
    }

    private static func grayLevel(ofIndex index: Int) -> UInt8 {
        UInt8((Double(index) * 255 / Double(maxGray)).rounded())
    }
}

/// ITU-R BT.601 luma, rounded; exact for greys (r == g == b gives back that value).
func rec601Luma(red: UInt8, green: UInt8, blue: UInt8) -> UInt8 {
    let weighted: Int = 299 * Int(red) + 587 * Int(green) + 114 * Int(blue)
    return UInt8((weighted + 500) / 1000)
}
