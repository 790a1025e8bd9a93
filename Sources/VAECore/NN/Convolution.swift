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
// either is a [gridChannels, imageChannels · 9] matrix over patches ordered (channel, ky, kx).
// im2col orders a patch's columns (ky, kx, channel) instead, so that each tap's channels are one
// contiguous vector copy of a pixel's rather than 32 scalar stores 9 floats apart (conv's epoch
// 3% shorter, docs/performance.md). The products therefore use the weights reordered the same
// way, into the front of the scratch buffer, and reorder their weight gradients back: 18,432
// floats for the 32 → 64 convolution, a few microseconds. With one image channel the two orders
// are the same and the weights are used as stored.

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
    /// Floats in the weight, gridChannels · patchSize.
    public var weightSize: Int { gridChannels * patchSize }

    /// Floats of scratch a convolution of `images` images needs: its weights in im2col's column
    /// order (none with one image channel, whose order is PyTorch's), then the patches.
    public func scratchSize(images: Int) -> Int {
        (imageChannels == 1 ? 0 : weightSize) + images * positions * patchSize
    }
}

/// The parts of a convolution's scratch buffer (`ConvShape.scratchSize(images:)` floats).
private struct ConvScratch {
    /// The weights reordered to match the patches' columns, [gridChannels, 9, imageChannels],
    /// or nil with one image channel, where the weights serve as stored.
    let weights: Floats?
    /// The im2col matrix, [images · positions, patchSize].
    let columns: Floats

    init(_ scratch: Floats, shape: ConvShape) {
        weights = shape.imageChannels == 1 ? nil : scratch
        columns = shape.imageChannels == 1 ? scratch : scratch + shape.weightSize
    }

    /// The weights in the columns' order: reordered into the scratch, or `weight` itself.
    func weightsForColumns(_ weight: ConstFloats, shape: ConvShape) -> ConstFloats {
        guard let weights else { return weight }
        swapInnerAxes(weights, weight, rows: shape.gridChannels, shape.imageChannels, ConvShape.kernel * ConvShape.kernel)
        return UnsafePointer(weights)
    }

    /// Where the weight gradient's product writes: the scratch, reordered into `dweight` by
    /// `storeWeightGradient`, or `dweight` itself.
    func weightGradientTarget(_ dweight: Floats) -> Floats { weights ?? dweight }

    /// dweight, in PyTorch's order, from the gradient the product wrote in the columns' order.
    func storeWeightGradient(_ dweight: Floats, shape: ConvShape) {
        guard let weights else { return }
        swapInnerAxes(dweight, weights, rows: shape.gridChannels, ConvShape.kernel * ConvShape.kernel, shape.imageChannels)
    }
}

/// to[r, j, i] = from[r, i, j] for from [rows, first, second]: a weight's (channel, tap) order
/// to (tap, channel) and back.
private func swapInnerAxes(_ to: Floats, _ from: ConstFloats, rows: Int, _ first: Int, _ second: Int) {
    for r in 0..<rows {
        let source = from + r * first * second, target = to + r * first * second
        for i in 0..<first {
            for j in 0..<second { target[j * first + i] = source[i * second + j] }
        }
    }
}

/// columns[(n·gridHeight + gy)·gridWidth + gx, (ky·3 + kx)·imageChannels + c] = pixel
/// (2gy - 1 + ky, 2gx - 1 + kx), channel c, of image n, and 0 where the patch hangs over the
/// border. The compute threads take whole images.
public func im2col(_ columns: Floats, _ inp: ConstFloats, images: Int, shape: ConvShape) {
    struct Job: SplitJob {
        let columns: Floats, inp: ConstFloats, shape: ConvShape
        func run(part: Int, range images: Range<Int>) {
            let k = ConvShape.kernel, channels = shape.imageChannels
            var row = columns + images.lowerBound * shape.positions * shape.patchSize
            for n in images {
                let image = inp + n * shape.imageSize
                for gy in 0..<shape.gridHeight {
                    for gx in 0..<shape.gridWidth {
                        for ky in 0..<k {
                            let y = gy * ConvShape.stride - ConvShape.padding + ky
                            for kx in 0..<k {
                                let x = gx * ConvShape.stride - ConvShape.padding + kx
                                let tap = row + (ky * k + kx) * channels
                                if y >= 0 && y < shape.height && x >= 0 && x < shape.width {
                                    copyChannels(tap, image + (y * shape.width + x) * channels, count: channels)
                                } else {
                                    zeroChannels(tap, count: channels)
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
            let k = ConvShape.kernel, channels = shape.imageChannels
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
                                let tap = row + (ky * k + kx) * channels
                                let pixel = image + (y * shape.width + x) * channels
                                addChannels(pixel, tap, count: channels)
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

// A tap's channels, eight at a time: for the 32 channels of a 14x14 map, calls to memmove and
// memset cost more than the copies themselves.

@inline(__always)
private func copyChannels(_ target: Floats, _ source: ConstFloats, count: Int) {
    var c = 0
    while c + 8 <= count { store8(load8(source + c), target + c); c += 8 }
    while c < count { target[c] = source[c]; c += 1 }
}

@inline(__always)
private func zeroChannels(_ target: Floats, count: Int) {
    var c = 0
    while c + 8 <= count { store8(Float8(repeating: 0), target + c); c += 8 }
    while c < count { target[c] = 0; c += 1 }
}

/// target += source, channel by channel.
@inline(__always)
private func addChannels(_ target: Floats, _ source: ConstFloats, count: Int) {
    var c = 0
    while c + 8 <= count { store8(load8(target + c) + load8(source + c), target + c); c += 8 }
    while c < count { target[c] += source[c]; c += 1 }
}

// `scratch` holds `shape.scratchSize(images:)` floats, shared by all the model's convolutions.
// The backward functions fill the patches again rather than keep the forward's copy: at the
// evaluation batch of 500 that copy would cost 28 MB for the 32 → 64 convolution, while refilling
// takes under 2% of a training step.

/// out[images, grid] = activation(conv2d(inp[images, image]) + bias), weight [gridChannels,
/// imageChannels, 3, 3]: im2col, then the patches times the weight like a linear layer.
public func conv2dForward(_ out: Floats, _ inp: ConstFloats, weight: ConstFloats, bias: ConstFloats,
                          scratch: Floats, images: Int, shape: ConvShape, activation: Activation) {
    let parts = ConvScratch(scratch, shape: shape)
    im2col(parts.columns, inp, images: images, shape: shape)
    linearForward(out, parts.columns, weight: parts.weightsForColumns(weight, shape: shape), bias: bias,
                  rows: images * shape.positions, inputs: shape.patchSize, outputs: shape.gridChannels, activation: activation)
}

/// Given dout = ∂L/∂out (including the activation's derivative), writes ∂L/∂weight, ∂L/∂bias
/// and, unless `dinp` is nil, ∂L/∂inp.
public func conv2dBackward(dinp: Floats?, dweight: Floats, dbias: Floats, dout: ConstFloats, inp: ConstFloats,
                           weight: ConstFloats, scratch: Floats, images: Int, shape: ConvShape) {
    if let dinp {
        conv2dInputGradient(dinp, dout: dout, weight: weight, scratch: scratch, images: images, shape: shape)
    }
    let parts = ConvScratch(scratch, shape: shape)
    im2col(parts.columns, inp, images: images, shape: shape)
    linearBackward(dinp: nil, dweight: parts.weightGradientTarget(dweight), dbias: dbias, dout: dout, inp: parts.columns,
                   weight: weight, rows: images * shape.positions, inputs: shape.patchSize, outputs: shape.gridChannels)
    parts.storeWeightGradient(dweight, shape: shape)
}

/// ∂L/∂inp alone, given dout = ∂L/∂out: the patches' gradient, folded back into the image.
public func conv2dInputGradient(_ dinp: Floats, dout: ConstFloats, weight: ConstFloats, scratch: Floats, images: Int,
                                shape: ConvShape) {
    let parts = ConvScratch(scratch, shape: shape)
    sgemm(false, false, images * shape.positions, shape.patchSize, shape.gridChannels, dout, shape.gridChannels,
          parts.weightsForColumns(weight, shape: shape), shape.patchSize, parts.columns, shape.patchSize)
    col2im(dinp, parts.columns, images: images, shape: shape)
}

/// out[images, image] = activation(convTranspose2d(inp[images, grid]) + bias), weight
/// [gridChannels, imageChannels, 3, 3]: each grid position spreads its channels times the weight
/// over a patch (one sgemm), and col2im sums the overlapping patches into the image.
public func convTranspose2dForward(_ out: Floats, _ inp: ConstFloats, weight: ConstFloats, bias: ConstFloats,
                                   scratch: Floats, images: Int, shape: ConvShape, activation: Activation) {
    let parts = ConvScratch(scratch, shape: shape)
    sgemm(false, false, images * shape.positions, shape.patchSize, shape.gridChannels, inp, shape.gridChannels,
          parts.weightsForColumns(weight, shape: shape), shape.patchSize, parts.columns, shape.patchSize)
    col2im(out, parts.columns, images: images, shape: shape)
    addBias(out, bias, rows: images * shape.height * shape.width, outputs: shape.imageChannels, activation: activation)
}

/// Given dout = ∂L/∂out (including the activation's derivative), writes ∂L/∂weight, ∂L/∂bias
/// and, unless `dinp` is nil, ∂L/∂inp: the patches of dout, as Conv2d's forward would cut them.
public func convTranspose2dBackward(dinp: Floats?, dweight: Floats, dbias: Floats, dout: ConstFloats, inp: ConstFloats,
                                    weight: ConstFloats, scratch: Floats, images: Int, shape: ConvShape) {
    let rows = images * shape.positions
    let parts = ConvScratch(scratch, shape: shape)
    biasGradient(dbias, dout: dout, rows: images * shape.height * shape.width, outputs: shape.imageChannels)
    im2col(parts.columns, dout, images: images, shape: shape)
    // The input gradient first: it needs the reordered weights, whose place the weight gradient then takes.
    if let dinp {
        sgemm(false, true, rows, shape.gridChannels, shape.patchSize, parts.columns, shape.patchSize,
              parts.weightsForColumns(weight, shape: shape), shape.patchSize, dinp, shape.gridChannels)
    }
    sgemm(true, false, shape.gridChannels, shape.patchSize, rows, inp, shape.gridChannels,
          parts.columns, shape.patchSize, parts.weightGradientTarget(dweight), shape.patchSize)
    parts.storeWeightGradient(dweight, shape: shape)
}
