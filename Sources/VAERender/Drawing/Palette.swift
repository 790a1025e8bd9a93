/// The 256-colour map of the GIFs we write.
///
/// Indices 0...253 form an even grey ramp (0 black, 253 white) so images can be
/// drawn straight from intensities; index 254 is a warm accent reserved for captions,
/// so text stays distinguishable from any image pixel. Index 255 is never drawn: the GIF
/// writer marks it transparent in every frame after the first, where it means "unchanged".
/// The latent map alone swaps part of the ramp for class colours (`latentMapRGB`).
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

    /// Tableau 10 (Maureen Stone's 2016 revision), one colour per class 0-9: chosen to stay apart
    /// for colour-blind readers and in greyscale print. Okabe-Ito has only eight colours, one of
    /// them black, which would vanish on the dark frames.
    public static let classColors: [(red: UInt8, green: UInt8, blue: UInt8)] = [
        (0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B), (0xE1, 0x57, 0x59), (0x76, 0xB7, 0xB2), (0x59, 0xA1, 0x4F),
        (0xED, 0xC9, 0x48), (0xB0, 0x7A, 0xA1), (0xFF, 0x9D, 0xA7), (0x9C, 0x75, 0x5F), (0xBA, 0xB0, 0xAC),
    ]

    /// Shades of each class colour, from an eighth of the way from black to the full colour:
    /// enough for the legend's characters to keep their anti-aliased strokes (with four, their
    /// strokes showed bands).
    public static let classShades = 8

    /// A GIF has one 256-entry colour map and the shared one is full (254 greys, the accent,
    /// transparency), so the class colours cannot sit beside the ramp: the latent map's file uses
    /// the shared map with the ramp's entries from here on replaced by `classShades` shades of each
    /// class (80 entries; the greys above them stay). The map draws no grey images, only the
    /// frame's few fixed greys (background, gutter, subtitle, grid lines, black), all below this
    /// index, so those keep their places and the map looks like the other GIFs, captions and all.
    public static let firstClassIndex: UInt8 = 160

    /// The index of shade `shade` (1 to `classShades`, the full colour) of class `label`.
    public static func classIndex(_ label: Int, shade: Int = classShades) -> UInt8 {
        precondition(classColors.indices.contains(label) && (1...classShades).contains(shade))
        return firstClassIndex + UInt8(label * classShades + shade - 1)
    }

    /// The latent map's colour map: `rgb` with the class shades in place of greys it never draws.
    public static let latentMapRGB: [UInt8] = {
        var map = rgb
        for label in classColors.indices {
            let color = classColors[label]
            for shade in 1...classShades {
                let fraction = Double(shade) / Double(classShades)
                let offset = Int(classIndex(label, shade: shade)) * 3
                map[offset] = UInt8((Double(color.red) * fraction).rounded())
                map[offset + 1] = UInt8((Double(color.green) * fraction).rounded())
                map[offset + 2] = UInt8((Double(color.blue) * fraction).rounded())
            }
        }
        return map
    }()

    private static func grayLevel(ofIndex index: Int) -> UInt8 {
        UInt8((Double(index) * 255 / Double(maxGray)).rounded())
    }
}
