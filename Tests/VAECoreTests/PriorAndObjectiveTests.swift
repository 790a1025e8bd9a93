import Foundation
import Testing
import TestSupport
@testable import VAECore

// The VampPrior's mixture log-density and the importance-weighted objective: finite-difference
// checks of their backward passes, alone and through whole models.

/// A mixture's buffers with room for `rows` rows, in their own storage.
private func mixtureScratch(rows: Int, components: Int, latent: Int) -> (MixturePriorScratch, FloatBuffer) {
    let widths = MixturePriorScratch.widths(components: components, latent: latent)
    let storage = FloatBuffer(count: rows * widths.perRow + components * widths.perComponent)
    var slices = RowSlices(of: storage, rows: 1)
    let scratch = MixturePriorScratch(rows: rows, components: components, latent: latent, from: &slices)
    #expect(slices.isExhausted)
    return (scratch, storage)
}

/// Σ_r c_r log p(z_r) for the mixture `components`, in Double.
private func weightedMixtureLogDensity(z: [Float], components: [Float], weights: [Float], latent: Int) -> Double {
    let rows = z.count / latent, k = components.count / (2 * latent)
    let (scratch, storage) = mixtureScratch(rows: rows, components: k, latent: latent)
    var densities = [Double](repeating: 0, count: rows)
    mixtureLogDensityForward(&densities, z: z, components: components, rows: rows, scratch: scratch)
    withExtendedLifetime(storage) {}
    return zip(densities, weights).reduce(0) { $0 + $1.0 * Double($1.1) }
}

/// log p(z) of row `row` of z by the textbook formula, each log N summed directly in Double.
private func directMixtureLogDensity(z: [Float], row: Int, components: [Float], latent: Int) -> Double {
    let k = components.count / (2 * latent)
    let terms = (0..<k).map { c in
        (0..<latent).reduce(0.0) { logN, j in
            let mu = Double(components[c * 2 * latent + j]), logvar = Double(components[c * 2 * latent + latent + j])
            let d = Double(z[row * latent + j]) - mu
            return logN - 0.5 * (log(2 * Double.pi) + logvar + d * d * exp(-logvar))
        }
    }
    let largest = terms.max()!
    return largest + log(terms.reduce(0) { $0 + exp($1 - largest) }) - log(Double(k))
}

/// The mixture's log-density against the textbook formula in Double, and its gradients with
/// respect to z, the component means and the log-variances against finite differences.
@Test func mixturePriorLogDensityAndGradients() {
    let rows = 5, k = 4, latent = 3
    var random = Random(seed: 21)
    let z = randomFloats(rows * latent, random: &random)
    var components = randomFloats(k * 2 * latent, random: &random, scale: 0.8)
    for c in 0..<k { for j in 0..<latent { components[c * 2 * latent + latent + j] *= 0.5 } }
    let upstream = randomFloats(rows, random: &random)

    let (scratch, storage) = mixtureScratch(rows: rows, components: k, latent: latent)
    var densities = [Double](repeating: 0, count: rows)
    mixtureLogDensityForward(&densities, z: z, components: components, rows: rows, scratch: scratch)
    for r in 0..<rows {
        let expected = directMixtureLogDensity(z: z, row: r, components: components, latent: latent)
        #expect(abs(densities[r] - expected) < 1e-5 * max(1, abs(expected)), "row \(r): \(densities[r]) against \(expected)")
    }
    for r in 0..<rows { scratch.upstream[r] = upstream[r] }
    var dz = [Float](repeating: 0.25, count: z.count)  // backward adds to what is there
    var dComponents = [Float](repeating: 7, count: components.count)  // and overwrites these
    mixtureLogDensityBackward(dz: &dz, dComponents: &dComponents, z: z, components: components, rows: rows, scratch: scratch)
    withExtendedLifetime(storage) {}
    expectGradient("z", values: z, analytic: dz.map { $0 - 0.25 }) {
        weightedMixtureLogDensity(z: $0, components: components, weights: upstream, latent: latent)
    }
    expectGradient("components", values: components, analytic: dComponents) {
        weightedMixtureLogDensity(z: z, components: $0, weights: upstream, latent: latent)
    }
}

/// The forward pass expands log N into Float terms of about ½μ²/σ² that cancel, which costs
/// digits when a component is narrow and far from 0. At the spread of the main job's trained
/// components (500 of them in 32 dimensions, log σ² within ±2.4, |μ| up to 12.6 in its 30th
/// checkpoint), here with every log σ² drawn across that range and one mean in 40 at 12.6,
/// codes drawn from the components stay within 1e-3 nats of the direct sum (3.9e-4 at most,
/// 4e-5 on average, when this was written).
@Test func mixturePriorKeepsItsPrecisionAtATrainedModelsSpread() {
    let rows = 64, k = 500, latent = 32
    var random = Random(seed: 5)
    var components = [Float](repeating: 0, count: k * 2 * latent)
    for c in 0..<k {
        for j in 0..<latent {
            let far = random.nextInt(below: 40) == 0
            components[c * 2 * latent + j] = far ? 12.6 * (random.nextUniform() < 0.5 ? -1 : 1) : 8 * random.nextUniform() - 4
            components[c * 2 * latent + latent + j] = 4.8 * random.nextUniform() - 2.4
        }
    }
    var z = randomFloats(rows * latent, random: &random)
    for r in 0..<rows {
        let c = random.nextInt(below: k)
        for j in 0..<latent {
            z[r * latent + j] = components[c * 2 * latent + j] + expf(components[c * 2 * latent + latent + j] / 2) * z[r * latent + j]
        }
    }
    let (scratch, storage) = mixtureScratch(rows: rows, components: k, latent: latent)
    var densities = [Double](repeating: 0, count: rows)
    mixtureLogDensityForward(&densities, z: z, components: components, rows: rows, scratch: scratch)
    withExtendedLifetime(storage) {}
    let errors = (0..<rows).map { abs(densities[$0] - directMixtureLogDensity(z: z, row: $0, components: components, latent: latent)) }
    #expect(errors.max()! < 1e-3, "errors up to \(errors.max()!) nats")
}

/// A component thousands of nats closer to z than the others: the log-sum-exp shifts by the
/// largest log N of all, so the density is that component's alone, less log K, with all the
/// responsibility; any other shift overflows e^x. Then ∂log p/∂z = -(z - μ)/σ² = -z.
@Test func mixturePriorStaysFiniteWhenOneComponentDominates() {
    let latent = 2
    // μ, then log σ²: N(0, I) first, then two narrow components 20 away along each axis.
    let components: [Float] = [0, 0, 0, 0, 20, 20, -2, -2, -20, 20, -2, -2]
    let z: [Float] = [0.1, -0.2]
    let (scratch, storage) = mixtureScratch(rows: 1, components: 3, latent: latent)
    var density = [0.0]
    mixtureLogDensityForward(&density, z: z, components: components, rows: 1, scratch: scratch)
    let expected = -log(2 * Double.pi) - 0.5 * (0.01 + 0.04) - log(3.0)
    #expect(abs(density[0] - expected) < 1e-6, "\(density[0]) against \(expected)")
    scratch.upstream[0] = 1
    var dz: [Float] = [0, 0], dComponents = [Float](repeating: 0, count: components.count)
    mixtureLogDensityBackward(dz: &dz, dComponents: &dComponents, z: z, components: components, rows: 1, scratch: scratch)
    withExtendedLifetime(storage) {}
    #expect(abs(dz[0] + 0.1) < 1e-6 && abs(dz[1] - 0.2) < 1e-6, "\(dz)")
    // The dominant component's ∂/∂μ = (z - μ)/σ² = z and ∂/∂log σ² = ((z - μ)²/σ² - 1)/2; the far
    // ones carry no responsibility, so exactly 0 (and not the NaN of an underflow's 0/0).
    expectClose(dComponents, [0.1, -0.2, -0.495, -0.48] + [Float](repeating: 0, count: 8), absolute: 1e-6, "dComponents")
}

/// Whole models with a VampPrior (the KL term sampled), trained on the importance-weighted
/// bound, and both: every parameter, the pseudo-inputs included. Two MLPs keep their ReLUs (the
/// pseudo-inputs' rows pass them like the images'); the others leave them out, as the conv
/// model's whole-loss check does, so that steps of 1e-2 cross no kink.
@Test(arguments: [
    ("VampPrior, MLP with ReLUs", VAEConfig(hidden: [6, 5], latentDim: 3, prior: .vamp, pseudoInputs: 3), Float(1), nil as Int?),
    ("IWAE k=3, MLP with ReLUs", VAEConfig(hidden: [6, 5], latentDim: 3), 1, 3),
    ("VampPrior, beta 0.5", VAEConfig(hidden: [6], latentDim: 3, prior: .vamp, pseudoInputs: 2), 0.5, nil),
    ("VampPrior, conv", VAEConfig(arch: .conv, convChannels: [2, 3], hidden: [5], latentDim: 3, prior: .vamp, pseudoInputs: 3), 1, nil),
    ("IWAE k=3, learned Gaussian", VAEConfig(hidden: [6], latentDim: 3, likelihood: .gaussian), 1, 3),
    ("IWAE k=4 with a VampPrior", VAEConfig(hidden: [6, 5], latentDim: 3, prior: .vamp, pseudoInputs: 3), 1, 4),
    ("IWAE k=2 with a VampPrior, conv",
     VAEConfig(arch: .conv, convChannels: [2, 3], hidden: [5], latentDim: 3, prior: .vamp, pseudoInputs: 2), 1, 2),
])
func wholeLossGradientOfPriorsAndObjectives(_ name: String, _ config: VAEConfig, _ klWeight: Float, _ samples: Int?) {
    if name.hasSuffix("with ReLUs") { return expectWholeLossGradient(config, klWeight: klWeight, samples: samples) }
    var linear = config
    linear.activation = .none
    expectWholeLossGradient(linear, klWeight: klWeight, samples: samples, h: 1e-2)
}
