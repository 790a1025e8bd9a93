import Foundation

/// The second stage of a two-stage VAE (Dai and Wipf 2019): a small VAE fitted to the first
/// model's encoded training means, with a Gaussian decoder N(mean(u), γI) whose one variance γ
/// is learned, as in the paper. Where the first model's N(0, I) prior misses the region its
/// encoder fills, the second model maps N(0, I) onto that region: a sample is u ~ N(0, T²I)
/// (T the temperature), then z ~ N(mean(u), T²γI) from the second decoder, which the first
/// model decodes.
///
/// Unlike the paper, each dimension of the means is standardised first (and the samples scaled
/// back): with one γ for all dimensions, a dimension whose spread is below √γ is otherwise taken
/// for noise and collapses to its mean in the samples.
public struct TwoStageSampler: LatentSampler {
    public let latent: Int
    let network: TwoStageNetwork
    /// The second stage's parameters, in the order of `network`'s layers, then log γ.
    let parameters: [Float]
    /// Each dimension's mean and standard deviation over the fitted points (0 for a constant one,
    /// whose samples are that constant).
    let center: [Float], scale: [Float]
    let temperature: Double

    /// The second stage's shape: two hidden layers of `hidden` ReLU units in the encoder and the
    /// decoder, and as many latent dimensions as the first model's (the paper's choice).
    public static let hidden = 256
    /// Passes over the points, batch 128, Adam at 1e-3.
    public static let epochs = 100
    static let batchSize = 128
    public static let learningRate = 1e-3

    /// Fits the second stage to `points` (row-major `[n, latent]`) with Adam on its negative
    /// ELBO, initialised, shuffled and reparameterised from `seed`: the same points and seed give
    /// the same sampler on any number of threads. Throws if a gradient stops being finite.
    public static func fit(_ points: [Float], latent: Int, seed: UInt64, hidden: Int = hidden, epochs: Int = epochs,
                           learningRate: Double = learningRate) throws -> TwoStageSampler {
        let n = points.count / latent
        precondition(n >= 1 && points.count == n * latent)
        var center = [Float](repeating: 0, count: latent), scale = center
        for j in 0..<latent {
            var sum = 0.0, squares = 0.0
            for r in 0..<n { sum += Double(points[r * latent + j]) }
            let mean = sum / Double(n)
            for r in 0..<n { squares += (Double(points[r * latent + j]) - mean) * (Double(points[r * latent + j]) - mean) }
            let deviation = (squares / Double(n)).squareRoot()
            center[j] = Float(mean)
            scale[j] = Float(deviation)
        }
        let network = TwoStageNetwork(dimension: latent, hidden: hidden)
        let parameters = FloatBuffer(count: network.count), gradients = FloatBuffer(count: network.count)
        var random = Random(seed: seed, stream: 0x2_57A6E)
        for layer in network.layers { layer.initialize(parameters.pointer, random: &random) }
        let optimizer = Adam(.init(learningRate: learningRate), count: network.count)
        let ws = TwoStageWorkspace(network, capacity: min(batchSize, n))
        let order = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { order.deallocate() }
        for epoch in 1...epochs {
            random.shuffle(order, count: n)
            for (first, rows) in Batches(count: n, size: ws.capacity) {
                for r in 0..<rows {
                    let source = Int(order[first + r]) * latent
                    for j in 0..<latent { ws.input[r * latent + j] = scale[j] > 0 ? (points[source + j] - center[j]) / scale[j] : 0 }
                }
                random.fillNormal(ws.eps, count: rows * latent)
                _ = network.lossAndGradients(ws, rows: rows, parameters: parameters, gradients: gradients)
                guard optimizer.update(parameters: parameters, gradients: gradients) else {
                    throw VAEError(.failed, "the two-stage sampler's fit diverged in epoch \(epoch) of \(epochs): a gradient is not finite")
                }
            }
        }
        return TwoStageSampler(latent: latent, network: network, parameters: parameters.array, center: center, scale: scale,
                               temperature: 1)
    }

    public func sample(count: Int, random: inout Random) -> LatentSamples {
        var u = [Float](repeating: 0, count: count * latent), noise = u
        u.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
        noise.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
        let spread = Float(temperature), sigma = Float(temperature * decoderSigma)
        let parameters = FloatBuffer(self.parameters)
        let ws = TwoStageWorkspace(network, capacity: min(max(count, 1), evaluationBatchSize))
        var z = [Float](repeating: 0, count: count * latent)
        for (first, rows) in Batches(count: count, size: ws.capacity) {
            for i in 0..<rows * latent { ws.z[i] = spread * u[first * latent + i] }
            network.decode(ws, rows: rows, parameters: parameters.pointer)
            for i in 0..<rows * latent {
                let j = first * latent + i
                z[j] = center[i % latent] + scale[i % latent] * (ws.mean[i] + sigma * noise[j])
            }
        }
        return LatentSamples(latent: latent, z: z)
    }

    /// The same second stage drawing u ~ N(0, T²I).
    public func tempered(_ temperature: Double) -> any LatentSampler {
        TwoStageSampler(latent: latent, network: network, parameters: parameters, center: center, scale: scale, temperature: temperature)
    }

    /// The second decoder's learned standard deviation √γ, in standardised units.
    public var decoderSigma: Double { exp(0.5 * Double(parameters[network.logGammaOffset])) }

    public var summary: String { String(format: "second-stage VAE, decoder sigma %.3f of a standard deviation", decoderSigma) }
}

/// The second stage's layers over one flat buffer: the encoder d → h → h → (mu, log σ²) of d
/// dimensions, the decoder d → h → h → d means, then log γ.
struct TwoStageNetwork: Sendable {
    let dimension: Int
    let encoder: [Layer], decoder: [Layer]
    let logGammaOffset: Int
    var count: Int { logGammaOffset + 1 }
    var layers: [Layer] { encoder + decoder }

    init(dimension d: Int, hidden h: Int) {
        dimension = d
        var builder = LayoutBuilder()
        encoder = [builder.linear("encoder.0", d, h, .relu), builder.linear("encoder.1", h, h, .relu),
                   builder.linear("encoder.2", h, 2 * d, .none)]
        decoder = [builder.linear("decoder.0", d, h, .relu), builder.linear("decoder.1", h, h, .relu),
                   builder.linear("decoder.2", h, d, .none)]
        logGammaOffset = builder.add("log_gamma", [1])
    }

    func decode(_ ws: TwoStageWorkspace, rows: Int, parameters: ConstFloats) {
        chainForward(through: decoder, input: ws.z, outputs: ws.decoderOutputs, parameters: parameters, rows: rows, convScratch: nil)
    }

    /// The summed negative ELBO of the rows of `ws.input`, Σ ½(log 2π + log γ + (x - mean)²/γ)
    /// plus the KL term, with the noise in `ws.eps`; its gradient into `gradients`.
    func lossAndGradients(_ ws: TwoStageWorkspace, rows: Int, parameters: FloatBuffer, gradients: FloatBuffer) -> Double {
        let p = parameters.pointer, d = dimension
        chainForward(through: encoder, input: ws.input, outputs: ws.encoderOutputs, parameters: p, rows: rows, convScratch: nil)
        reparameterizeForward(z: ws.z, head: ws.head, eps: ws.eps, rows: rows, latent: d)
        decode(ws, rows: rows, parameters: p)
        let logGamma = p[logGammaOffset], precision = expf(-logGamma)
        var squares = 0.0
        for i in 0..<rows * d {
            let difference = ws.input[i] - ws.mean[i]
            squares += Double(difference * difference)
            ws.dMean[i] = -difference * precision
        }
        let count = Double(rows * d)
        let reconstruction = 0.5 * (count * (log(2 * Double.pi) + Double(logGamma)) + squares * Double(precision))
        let kl = klDivergence(head: ws.head, rows: rows, latent: d)
        gradients[logGammaOffset] = Float(0.5 * (count - squares * Double(precision)))
        chainBackward(through: decoder, input: ws.z, outputs: ws.decoderOutputs, gradients: ws.dDecoderOutputs, dInput: ws.dZ,
                      parameters: p, parameterGradients: gradients.pointer, rows: rows, convScratch: nil)
        reparameterizeKLBackward(dhead: ws.dHead, dz: ws.dZ, head: ws.head, eps: ws.eps, rows: rows, latent: d, klWeight: 1)
        chainBackward(through: encoder, input: ws.input, outputs: ws.encoderOutputs, gradients: ws.dEncoderOutputs, dInput: nil,
                      parameters: p, parameterGradients: gradients.pointer, rows: rows, convScratch: nil)
        return reconstruction + kl
    }
}

/// The second stage's activations and gradients for up to `capacity` rows.
final class TwoStageWorkspace {
    let capacity: Int
    private let storage: FloatBuffer
    let input: Floats, encoderOutputs: [Floats], head: Floats, eps: Floats, z: Floats, decoderOutputs: [Floats], mean: Floats
    let dEncoderOutputs: [Floats], dHead: Floats, dZ: Floats, dDecoderOutputs: [Floats], dMean: Floats

    init(_ network: TwoStageNetwork, capacity: Int) {
        self.capacity = capacity
        let d = network.dimension
        let encoderWidths = network.encoder.map(\.outputs), decoderWidths = network.decoder.map(\.outputs)
        storage = FloatBuffer(count: capacity * (4 * d + 2 * (encoderWidths.reduce(0, +) + decoderWidths.reduce(0, +))))
        var slices = RowSlices(of: storage, rows: capacity)
        input = slices.take(d)
        encoderOutputs = encoderWidths.map { slices.take($0) }
        head = encoderOutputs[encoderOutputs.count - 1]
        eps = slices.take(d)
        z = slices.take(d)
        decoderOutputs = decoderWidths.map { slices.take($0) }
        mean = decoderOutputs[decoderOutputs.count - 1]
        dEncoderOutputs = encoderWidths.map { slices.take($0) }
        dHead = dEncoderOutputs[dEncoderOutputs.count - 1]
        dZ = slices.take(d)
        dDecoderOutputs = decoderWidths.map { slices.take($0) }
        dMean = dDecoderOutputs[dDecoderOutputs.count - 1]
        precondition(slices.isExhausted)
    }
}
