import Foundation

/// A log-sum-exp taken one term at a time: the running maximum and the sum of e^(term - maximum),
/// in Double, so that no term is ever exponentiated on its own. The importance-weighted bound
/// combines its log weights with it, in training (the k samples of an image) and in evaluation
/// (up to 5,000, in batches).
public struct LogSumExp: Sendable {
    private var maximum = -Double.infinity
    private var scaledSum = 0.0

    public init() {}

    public mutating func add(_ term: Double) {
        // A zero weight adds nothing; taken first, it would make e^(-∞ - (-∞)) a NaN. A NaN term
        // makes the sum NaN, as it would a plain sum, rather than be skipped.
        guard term > -.infinity || term.isNaN else { return }
        if term > maximum {
            scaledSum = scaledSum * exp(maximum - term) + 1
            maximum = term
        } else {
            scaledSum += exp(term - maximum)
        }
    }

    /// log Σ e^term over the terms added.
    public var value: Double { maximum + log(scaledSum) }
}

extension VAEModel {
    /// log p(x|z) of each of the first `samples` decoded rows into `workspace.logLikelihoods`,
    /// row r scored against input image r / `perImage`; with `gradient`, ∂(-log p(x|z))/∂output
    /// of each row into `workspace.dDecoderOutput`. Split among the compute threads by rows, each
    /// computed as on one thread.
    public func sampleLogLikelihoods(_ ws: Workspace, samples: Int, perImage: Int, gradient: Bool) {
        struct Job: SplitJob {
            let model: VAEModel, ws: Workspace, perImage: Int, gradient: Bool
            func run(part: Int, range: Range<Int>) {
                let width = model.layout.output.outputs
                for r in range {
                    ws.logLikelihoods[r] = -model.reconstructionNLL(
                        ws.decoderOutput + r * width, targets: ws.input + r / perImage * VAEConfig.inputSize,
                        gradient: gradient ? ws.dDecoderOutput + r * width : nil, rows: 1)
                }
            }
        }
        ComputeThreads.shared.forEachPart(of: samples, Job(model: self, ws: ws, perImage: perImage, gradient: gradient))
    }

    /// The importance-weighted bound -log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x) (Burda et al. 2016)
    /// of each of the `rows` images of `workspace.input`, with k = `samples` draws z_i ~ q(z|x)
    /// each (the noise in `workspace.eps`, [rows · samples, latent], an image's draws consecutive),
    /// summed over the images: the training loss of `--objective iwae`. With k = 1 it is the
    /// negative ELBO with the KL term estimated at the draw. Leaves each draw's normalised weight
    /// w_i / Σ w in `workspace.importanceWeights` and, with `computeGradients`, the unweighted
    /// gradient of each draw's reconstruction term for `backwardImportanceWeighted`.
    ///
    /// The split into terms is a report only: `reconstruction` is the weighted -log p(x|z_i),
    /// Σ_i (w_i / Σ w) · -log p(x|z_i), and `kl` the rest of the bound.
    public func forwardImportanceWeighted(_ ws: Workspace, rows: Int, samples: Int, computeGradients: Bool) -> LossTerms {
        precondition(!config.conditional, "importance-weighted training is for unconditional models")
        let latent = config.latentDim, draws = rows * samples
        checkWorkspace(ws, encoderRows: rows + layout.pseudoInputs, samples: draws)
        encodeWithPseudoInputs(ws, rows: rows)
        reparameterizeForward(z: ws.z, head: ws.head, eps: ws.eps, rows: draws, latent: latent, samples: samples)
        decode(ws, rows: draws)
        sampleLogLikelihoods(ws, samples: draws, perImage: samples, gradient: computeGradients)
        priorLogDensity(ws, samples: draws, components: ws.head + rows * 2 * latent)
        posteriorLogDensity(ws.logPosteriors, head: ws.head, eps: ws.eps, rows: draws, latent: latent, samples: samples)
        func logWeight(_ i: Int) -> Double { ws.logLikelihoods[i] + ws.logPriors[i] - ws.logPosteriors[i] }
        let logSamples = log(Double(samples))
        var bound = 0.0, reconstruction = 0.0
        for image in 0..<rows {
            let draws = image * samples..<(image + 1) * samples
            var sum = LogSumExp()
            for i in draws { sum.add(logWeight(i)) }
            let logTotal = sum.value
            bound -= logTotal - logSamples
            for i in draws {
                let weight = exp(logWeight(i) - logTotal)
                ws.importanceWeights[i] = Float(weight)
                reconstruction -= weight * ws.logLikelihoods[i]
            }
        }
        return LossTerms(reconstruction: reconstruction, kl: bound - reconstruction)
    }

    /// Gradients of the summed importance-weighted bound into `gradients`, after
    /// `forwardImportanceWeighted(computeGradients: true)`. The gradient of -log Σ w_i is
    /// -Σ_i (w_i / Σ w) ∇log w_i: each draw's gradient of log p(x|z_i) + log p(z_i) - log q(z_i|x),
    /// through the reparameterisation, scaled by its normalised weight.
    public func backwardImportanceWeighted(_ ws: Workspace, rows: Int, samples: Int) {
        let latent = config.latentDim, draws = rows * samples, width = layout.output.outputs
        checkWorkspace(ws, encoderRows: rows + layout.pseudoInputs, samples: draws)
        struct Scale: SplitJob {
            let gradient: Floats, weights: ConstFloats, width: Int
            func run(part: Int, range: Range<Int>) {
                for r in range {
                    let row = gradient + r * width, weight = weights[r]
                    for i in 0..<width { row[i] *= weight }
                }
            }
        }
        ComputeThreads.shared.forEachPart(of: draws, Scale(gradient: ws.dDecoderOutput, weights: ws.importanceWeights, width: width))
        chainBackward(through: layout.decoder, input: ws.decoderInput, outputs: ws.decoderOutputs, gradients: ws.dDecoderOutputs,
                      dInput: ws.dDecoderInput, parameters: parameters.pointer, parameterGradients: gradients.pointer, rows: draws,
                      convScratch: ws.convScratch)
        switch config.prior {
        case .normal:
            // -w · log N(z; 0, I) has the gradient w · z.
            for r in 0..<draws {
                let weight = ws.importanceWeights[r], z = ws.z + r * latent, dz = ws.dZ + r * latent
                for j in 0..<latent { dz[j] += weight * z[j] }
            }
        case .vamp:
            let upstream = ws.mixture!.upstream
            for r in 0..<draws { upstream[r] = -ws.importanceWeights[r] }
            mixturePriorBackward(ws, samples: draws, images: rows)
        }
        // log q(z_i|x) enters each log w_i with the sign -1, so the loss holds it with the weight w_i / Σ w: 1 in all.
        reparameterizeBackward(dhead: ws.dHead, dz: ws.dZ, head: ws.head, eps: ws.eps, headRows: rows, latent: latent, samples: samples,
                               posteriorWeight: 1)
        encoderBackward(ws, rows: rows)
    }
}
