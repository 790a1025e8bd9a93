// Shift augmentation, for the classifier and for `vae-train --augment-shift`: an image seen at a
// fresh offset each time is a new image to a network that would otherwise learn 7,011 by heart.

/// The image moved right by dx and down by dy pixels, scaled to [0, 1]; what moves in is 0.
public func loadShifted(_ pixels: UnsafePointer<UInt8>, into target: Floats, dx: Int, dy: Int) {
    let side = VAEConfig.imageSide
    for y in 0..<side {
        let sourceY = y - dy
        for x in 0..<side {
            let sourceX = x - dx
            let inside = (0..<side).contains(sourceY) && (0..<side).contains(sourceX)
            target[y * side + x] = inside ? intensity(pixels[sourceY * side + sourceX]) : 0
        }
    }
}

/// An offset drawn uniformly from -maximum...maximum in x, then in y.
public func randomShift(upTo maximum: Int, random: inout Random) -> (dx: Int, dy: Int) {
    let dx = random.nextInt(below: 2 * maximum + 1) - maximum
    let dy = random.nextInt(below: 2 * maximum + 1) - maximum
    return (dx, dy)
}

/// Loads the images `indices` of `pixels` (IDX bytes, 784 an image) into consecutive rows of
/// `target`, each shifted by its own `randomShift(upTo: maximum)`, drawn row after row.
public func loadShiftedImages(_ pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int32>, rows: Int, upTo maximum: Int,
                              into target: Floats, random: inout Random) {
    let size = VAEConfig.inputSize
    for row in 0..<rows {
        let shift = randomShift(upTo: maximum, random: &random)
        loadShifted(pixels + Int(indices[row]) * size, into: target + row * size, dx: shift.dx, dy: shift.dy)
    }
}
