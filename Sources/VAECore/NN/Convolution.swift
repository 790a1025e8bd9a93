// The convolutions of `--arch conv`, as forward and backward functions over plain buffers like
// the layers in Linear.swift, every matrix product through `sgemm`.
//
// Activations are NHWC: an image is height × width × channels floats with the channels
// innermost. A batch's patches then form one matrix with a row per grid position, and each
// convolution is one sgemm over [images · positions, patchSize]. The 28x28 input, with one
// channel, is the same in any order. Flattening the 7x7x64 map for the dense layers keeps this
// (y, x, channel) order, so a PyTorch model given these weights must flatten its NCHW maps as
// x.permute(0, 2, 3, 1).flatten(1), and read the decoder's 3136 features as a 7x7x64 NHWC map.
//
// Weights keep PyTorch's layouts, Conv2d [out, in, 3, 3] and ConvTranspose2d [in, out, 3, 3]:
// either is a [gridChannels, imageChannels · 9] matrix over patches ordered (channel, ky, kx),
// the order im2col writes its columns in, so the weights are used as stored.

/// A 3x3 convolution with stride 2 and padding 1 between an NHWC image of height × width ×
/// imageChannels and the grid of gridChannels that its patches map to (28x28 → 14x14 → 7x7).
/// Conv2d maps the image to the grid. ConvTranspose2d maps the grid back to the image: it is the
/// adjoint of Conv2d with the same weight shape, and for an even image side the one PyTorch
/// builds with output_padding=1 (7x7 → 14x14 rather than 13x13).
public struct ConvShape: Sendable, Equatable {
    public static let kernel = 3
    public static let stride = 2
    public static let padding = 1

    public let height: Int
    public let width: Int
    public let imageChannels: Int
    public let gridChannels: Int

    public init(height: Int, width: Int, imageChannels: Int, gridChannels: Int) {
        self.height = height
        self.width = width
        self.imageChannels = imageChannels
        self.gridChannels = gridChannels
    }

    public var gridHeight: Int { (height + 2 * ConvShape.padding - ConvShape.kernel) / ConvShape.stride + 1 }
    public var gridWidth: Int { (width + 2 * ConvShape.padding - ConvShape.kernel) / ConvShape.stride + 1 }
    /// Grid positions per image: the rows one image adds to the im2col matrix.
    public var positions: Int { gridHeight * gridWidth }
    /// Floats in a patch, imageChannels · 3 · 3: the columns of the im2col matrix.
    public var patchSize: Int { imageChannels * ConvShape.kernel * ConvShape.kernel }
    /// Floats per image on the image side and on the grid side.
    public var imageSize: Int { height * width * imageChannels }
    public var gridSize: Int { positions * gridChannels }
}

/// columns[(n·gridHeight + gy)·gridWidth + gx, (c·3 + ky)·3 + kx] = pixel (2gy - 1 + ky,
/// 2gx - 1 + kx), channel c, of image n, and 0 where the patch hangs over the border. The
/// compute threads take whole images.
public func im2col(_ columns: Floats, _ inp: ConstFloats, images: Int, shape: ConvShape) {
    struct Job: SplitJob {
        let columns: Floats, inp: ConstFloats, shape: ConvShape
        func run(part: Int, range images: Range<Int>) {
            let k = ConvShape.kernel, taps = k * k, channels = shape.imageChannels
            var row = columns + images.lowerBound * shape.positions * shape.patchSize
            for n in images {
                let image = inp + n * shape.imageSize
                for gy in 0..<shape.gridHeight {
                    for gx in 0..<shape.gridWidth {
                        for ky in 0..<k {
                            let y = gy * ConvShape.stride - ConvShape.padding + ky
                            for kx in 0..<k {
                                let x = gx * ConvShape.stride - ConvShape.padding + kx
                                // Channel c of this tap goes to column c·9 + tap: PyTorch's weight order.
                                let tap = row + ky * k + kx
                                if y >= 0 && y < shape.height && x >= 0 && x < shape.width {
                                    let pixel = image + (y * shape.width + x) * channels
                                    for c in 0..<channels { tap[c * taps] = pixel[c] }
                                } else {
                                    for c in 0..<channels { tap[c * taps] = 0 }
                                }
                            }
                        }
                        row += shape.patchSize
                    }
                }
            }
        }
    }
    ComputeThreads.shared.forEachPart(of: images, Job(columns: columns, inp: inp, shape: shape))
}

/// The adjoint of `im2col`: overwrites `out` so that each pixel holds the sum of the column
/// entries im2col copies it to (up to four, as stride-2 patches of width 3 overlap).
public func col2im(_ out: Floats, _ columns: ConstFloats, images: Int, shape: ConvShape) {
    struct Job: SplitJob {
        let out: Floats, columns: ConstFloats, shape: ConvShape
        func run(part: Int, range images: Range<Int>) {
            let k = ConvShape.kernel, taps = k * k, channels = shape.imageChannels
            (out + images.lowerBound * shape.imageSize).update(repeating: 0, count: images.count * shape.imageSize)
            var row = columns + images.lowerBound * shape.positions * shape.patchSize
            for n in images {
                let image = out + n * shape.imageSize
                for gy in 0..<shape.gridHeight {
                    for gx in 0..<shape.gridWidth {
                        for ky in 0..<k {
                            let y = gy * ConvShape.stride - ConvShape.padding + ky
                            guard y >= 0 && y < shape.height else { continue }
                            for kx in 0..<k {
                                let x = gx * ConvShape.stride - ConvShape.padding + kx
                                guard x >= 0 && x < shape.width else { continue }
                                let tap = row + ky * k + kx
                                let pixel = image + (y * shape.width + x) * channels
                                for c in 0..<channels { pixel[c] += tap[c * taps] }
                            }
                        }
                        row += shape.patchSize
                    }
                }
            }
        }
    }
    ComputeThreads.shared.forEachPart(of: images, Job(out: out, columns: columns, shape: shape))
}

// `columns` is scratch of images · positions · patchSize floats, shared by all the model's
// convolutions. The backward functions fill it again rather than keep the forward's copy: at the
// evaluation batch of 500 that copy would cost 28 MB for the 32 → 64 convolution, while refilling
// takes under 2% of a training step.

/// out[images, grid] = activation(conv2d(inp[images, image]) + bias), weight [gridChannels,
/// imageChannels, 3, 3]: im2col, then the patches times the weight like a linear layer.
public func conv2dForward(_ out: Floats, _ inp: ConstFloats, weight: ConstFloats, bias: ConstFloats,
                          columns: Floats, images: Int, shape: ConvShape, activation: Activation) {
    im2col(columns, inp, images: images, shape: shape)
    linearForward(out, columns, weight: weight, bias: bias, rows: images * shape.positions,
                  inputs: shape.patchSize, outputs: shape.gridChannels, activation: activation)
}

/// Given dout = ∂L/∂out (including the activation's derivative), writes ∂L/∂weight, ∂L/∂bias
/// and, unless `dinp` is nil, ∂L/∂inp.
public func conv2dBackward(dinp: Floats?, dweight: Floats, dbias: Floats, dout: ConstFloats, inp: ConstFloats,
                           weight: ConstFloats, columns: Floats, images: Int, shape: ConvShape) {
    let rows = images * shape.positions
    im2col(columns, inp, images: images, shape: shape)
    linearBackward(dinp: nil, dweight: dweight, dbias: dbias, dout: dout, inp: columns, weight: weight,
                   rows: rows, inputs: shape.patchSize, outputs: shape.gridChannels)
    guard let dinp else { return }
    // The patches are no longer needed: their gradient takes their place, then folds back.
    sgemm(false, false, rows, shape.patchSize, shape.gridChannels, dout, shape.gridChannels,
          weight, shape.patchSize, columns, shape.patchSize)
    col2im(dinp, columns, images: images, shape: shape)
}

/// out[images, image] = activation(convTranspose2d(inp[images, grid]) + bias), weight
/// [gridChannels, imageChannels, 3, 3]: each grid position spreads its channels times the weight
/// over a patch (one sgemm), and col2im sums the overlapping patches into the image.
public func convTranspose2dForward(_ out: Floats, _ inp: ConstFloats, weight: ConstFloats, bias: ConstFloats,
                                   columns: Floats, images: Int, shape: ConvShape, activation: Activation) {
    sgemm(false, false, images * shape.positions, shape.patchSize, shape.gridChannels, inp, shape.gridChannels,
          weight, shape.patchSize, columns, shape.patchSize)
    col2im(out, columns, images: images, shape: shape)
    addBias(out, bias, rows: images * shape.height * shape.width, outputs: shape.imageChannels, activation: activation)
}

/// Given dout = ∂L/∂out (including the activation's derivative), writes ∂L/∂weight, ∂L/∂bias
/// and, unless `dinp` is nil, ∂L/∂inp: the patches of dout, as Conv2d's forward would cut them.
public func convTranspose2dBackward(dinp: Floats?, dweight: Floats, dbias: Floats, dout: ConstFloats, inp: ConstFloats,
                                    weight: ConstFloats, columns: Floats, images: Int, shape: ConvShape) {
    let rows = images * shape.positions
    biasGradient(dbias, dout: dout, rows: images * shape.height * shape.width, outputs: shape.imageChannels)
    im2col(columns, dout, images: images, shape: shape)
    sgemm(true, false, shape.gridChannels, shape.patchSize, rows, inp, shape.gridChannels,
          columns, shape.patchSize, dweight, shape.patchSize)
    if let dinp {
        sgemm(false, true, rows, shape.gridChannels, shape.patchSize, columns, shape.patchSize,
              weight, shape.patchSize, dinp, shape.gridChannels)
    }
}
