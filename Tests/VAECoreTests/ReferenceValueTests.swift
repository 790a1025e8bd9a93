import Foundation
import Testing
import TestSupport
import VAECore

// llm.c's test_gpt2.c in this project's terms: PyTorch's forward values and gradients for tiny
// VAEs (fixtures/reference/tiny-vaes.safetensors, written by scripts/reference-values in
// float64 from the same float32 weights, inputs and noise), against this code's forward and
// backward. The finite-difference checks prove each backward matches its own forward; this
// proves the forward is the model PyTorch computes, layouts included.

struct ReferenceCase: CustomTestStringConvertible, Sendable {
    let name: String
    let config: VAEConfig
    var testDescription: String { name }
}

/// The configurations of scripts/reference-values' CASES, with rows 4 and a latent of 3.
let referenceCases = [
    ReferenceCase(name: "mlp-bernoulli", config: VAEConfig(hidden: [4], latentDim: 3)),
    ReferenceCase(name: "mlp-gaussian", config: VAEConfig(hidden: [6, 4], latentDim: 3, likelihood: .gaussian)),
    ReferenceCase(name: "mlp-gaussian-fixed", config: VAEConfig(hidden: [4], latentDim: 3, likelihood: .gaussianFixed, sigma: 0.1)),
    ReferenceCase(name: "conv-bernoulli", config: VAEConfig(arch: .conv, convChannels: [2, 3], hidden: [4], latentDim: 3)),
]

private let referenceRows = 4
private let reference = Result { try readSafetensors(packageRoot + "/fixtures/reference/tiny-vaes.safetensors") }

/// Every value within `tolerance` times the largest magnitude in `expected` of its expected value.
private func expectClose(_ what: String, _ actual: UnsafePointer<Float>, _ expected: [Float], tolerance: Float,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    let scale = expected.map(abs).max()!
    #expect(scale > 0, "\(what): the expected values are all 0", sourceLocation: sourceLocation)
    expectClose(Array(UnsafeBufferPointer(start: actual, count: expected.count)), expected, absolute: Double(tolerance * scale),
                "\(what) (values up to \(scale))", sourceLocation: sourceLocation)
}

@Test(arguments: referenceCases)
func forwardAndBackwardMatchPyTorch(_ test: ReferenceCase) throws {
    let file = try reference.get()
    let rows = referenceRows, latent = test.config.latentDim, prefix = test.name + "/"
    let model = VAEModel(config: test.config)
    for tensor in model.layout.tensors {
        try file.copyFloats(prefix + "param/" + tensor.name, shape: tensor.shape, into: model.parameters.pointer + tensor.offset)
    }
    let ws = Workspace(layout: model.layout, capacity: rows)
    try file.copyFloats(prefix + "input", shape: [rows, VAEConfig.inputSize], into: ws.input)
    try file.copyFloats(prefix + "eps", shape: [rows, latent], into: ws.eps)

    let terms = model.forward(ws, rows: rows, computeGradients: true)
    model.backward(ws, rows: rows)

    let outputs = VAEConfig.inputSize * test.config.likelihood.outputsPerPixel
    expectClose("head", ws.head, try file.floats(prefix + "head", shape: [rows, 2 * latent]), tolerance: 2e-6)
    expectClose("z", ws.z, try file.floats(prefix + "z", shape: [rows, latent]), tolerance: 2e-6)
    expectClose("decoder output", ws.decoderOutput, try file.floats(prefix + "decoder_output", shape: [rows, outputs]),
                tolerance: 2e-6)
    let reconstruction = try #require(file.metadata[prefix + "reconstruction"].flatMap(Double.init))
    let kl = try #require(file.metadata[prefix + "kl"].flatMap(Double.init))
    #expect(abs(terms.reconstruction - reconstruction) <= 1e-6 * abs(reconstruction), "reconstruction \(terms.reconstruction) against \(reconstruction)")
    #expect(abs(terms.kl - kl) <= 2e-6 * abs(kl), "KL \(terms.kl) against \(kl)")
    for tensor in model.layout.tensors {
        let expected = try file.floats(prefix + "grad/" + tensor.name, shape: tensor.shape)
        expectClose("gradient of \(tensor.name)", model.gradients.pointer + tensor.offset, expected, tolerance: 5e-6)
    }
}

/// The configurations of scripts/reference-values' PRIOR_CASES: a VampPrior, the
/// importance-weighted bound, and both; rows 4, a latent of 3, Bernoulli decoders.
let priorReferenceCases = [
    (name: "mlp-vamp", config: VAEConfig(hidden: [4], latentDim: 3, prior: .vamp, pseudoInputs: 3), samples: nil as Int?),
    (name: "mlp-iwae", config: VAEConfig(hidden: [4], latentDim: 3), samples: 3),
    (name: "conv-vamp-iwae", config: VAEConfig(arch: .conv, convChannels: [2, 3], hidden: [4], latentDim: 3, prior: .vamp, pseudoInputs: 2),
     samples: 2),
]
private let priorReference = Result { try readSafetensors(packageRoot + "/fixtures/reference/tiny-priors.safetensors") }

/// PyTorch's VampPrior ELBO (the KL term at the drawn z) and importance-weighted bound
/// (fixtures/reference/tiny-priors.safetensors), their draws, weights and every gradient, the
/// pseudo-inputs' included, against this code's.
@Test(arguments: priorReferenceCases.indices)
func priorsAndObjectivesMatchPyTorch(_ index: Int) throws {
    let test = priorReferenceCases[index]
    let file = try priorReference.get()
    let rows = referenceRows, latent = test.config.latentDim, prefix = test.name + "/", draws = rows * (test.samples ?? 1)
    let model = VAEModel(config: test.config)
    for tensor in model.layout.tensors {
        try file.copyFloats(prefix + "param/" + tensor.name, shape: tensor.shape, into: model.parameters.pointer + tensor.offset)
    }
    let ws = Workspace(layout: model.layout, capacity: rows, sampleCapacity: draws)
    try file.copyFloats(prefix + "input", shape: [rows, VAEConfig.inputSize], into: ws.input)
    try file.copyFloats(prefix + "eps", shape: [draws, latent], into: ws.eps)

    if let samples = test.samples {
        let terms = model.forwardImportanceWeighted(ws, rows: rows, samples: samples, computeGradients: true)
        model.backwardImportanceWeighted(ws, rows: rows, samples: samples)
        let loss = try #require(file.metadata[prefix + "loss"].flatMap(Double.init))
        #expect(abs(terms.total - loss) <= 1e-6 * abs(loss), "bound \(terms.total) against \(loss)")
        let weights = try file.floats(prefix + "weights", shape: [draws])
        expectClose("importance weights", ws.importanceWeights, weights, tolerance: 2e-6)
        // The reconstruction term it reports is each draw's -log p(x|z_i) by its normalised weight.
        let size = VAEConfig.inputSize
        let weighted = (0..<draws).reduce(0.0) { sum, i in
            sum + Double(weights[i]) * bernoulliNLL(logits: ws.decoderOutput + i * size, targets: ws.input + i / samples * size,
                                                    dlogits: nil, rows: 1, columns: size)
        }
        #expect(abs(terms.reconstruction - weighted) <= 1e-5 * abs(weighted), "reconstruction \(terms.reconstruction) against \(weighted)")
    } else {
        let terms = model.forward(ws, rows: rows, computeGradients: true)
        model.backward(ws, rows: rows)
        let reconstruction = try #require(file.metadata[prefix + "reconstruction"].flatMap(Double.init))
        let kl = try #require(file.metadata[prefix + "kl"].flatMap(Double.init))
        #expect(abs(terms.reconstruction - reconstruction) <= 1e-6 * abs(reconstruction),
                "reconstruction \(terms.reconstruction) against \(reconstruction)")
        #expect(abs(terms.kl - kl) <= 2e-6 * max(abs(kl), 1), "KL \(terms.kl) against \(kl)")
    }
    expectClose("head", ws.head, try file.floats(prefix + "head", shape: [rows, 2 * latent]), tolerance: 2e-6)
    expectClose("z", ws.z, try file.floats(prefix + "z", shape: [draws, latent]), tolerance: 2e-6)
    expectClose("decoder output", ws.decoderOutput, try file.floats(prefix + "decoder_output", shape: [draws, VAEConfig.inputSize]),
                tolerance: 2e-6)
    for tensor in model.layout.tensors {
        let expected = try file.floats(prefix + "grad/" + tensor.name, shape: tensor.shape)
        expectClose("gradient of \(tensor.name)", model.gradients.pointer + tensor.offset, expected, tolerance: 5e-6)
    }
}
