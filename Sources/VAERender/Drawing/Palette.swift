/// The single 256-colour map shared by every GIF we write.
///
/// Indices 0...253 form an even grey ramp (0 black, 253 white) so images can be
/// drawn straight from intensities; index 254 is a warm accent reserved for captions,
/// so text stays distinguishable from any image pixel. Index 255 is never drawn: the GIF
/// writer marks it transparent in every frame after the first, where it means "unchanged".
public enum Palette {
    public static let maxGray: UInt8 = 253
    public static let accent: UInt8 = 254
    public static let transparent: UInt8 = 255

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
        if index == Int(transparent) { return [0, 0, 0] }
        let gray = grayLevel(ofIndex: index)
        return [gray, gray, gray]
    }

    /// The grey an index is perceived as: its level for ramp entries, Rec.601 luma for the accent.
    public static func luminance(index: UInt8) -> UInt8 {
        let offset = Int(index) * 3
        return rec601Luma(red: rgb[offset], green: rgb[offset + 1], blue: rgb[offset + 2])
    }

    private static func grayLevel(ofIndex index: Int) -> UInt8 {
        UInt8((Double(index) * 255 / Double(maxGray)).rounded())
    }
}

/// ITU-R BT.601 luma, rounded; exact for greys (r == g == b gives back that value).
public func rec601Luma(red: UInt8, green: UInt8, blue: UInt8) -> UInt8 {
    let weighted: Int = 299 * Int(red) + 587 * Int(green) + 114 * Int(blue)
    return UInt8((weighted + 500) / 1000)
}
