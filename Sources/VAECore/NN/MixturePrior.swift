import Foundation

// The VampPrior's log-density: log p(z) = log (1/K) Σ_k N(z; μ_k, diag σ²_k), a mixture of K
// diagonal Gaussians (the encoder's posteriors at the pseudo-inputs), for every row of z.
//
// Expanded, log N(z; μ_k, σ²_k) = c_k + Σ_j (-½ z_j² / σ²_kj + z_j μ_kj / σ²_kj), with
// c_k = -½ Σ_j (log 2π + log σ²_kj + μ²_kj / σ²_kj): a linear layer applied to the features
// [z², z] of a row, with the weight [-½/σ², μ/σ²] and the bias c of each component, so all rows
// against all components are one sgemm forward (`linearForward`) and two backward
// (`linearBackward`). The components come as the encoder's head rows: μ, then log σ².

/// The mixture prior's buffers for up to `rows` rows of z against `components` components.
public struct MixturePriorScratch {
    public let rows: Int, components: Int, latent: Int
    /// [rows, 2·latent]: z², then z, of each row; and their gradient.
    public let features: Floats, dFeatures: Floats
    /// [rows, components]: log N(z_r; μ_k, σ²_k), then the posterior over the components
    /// (the responsibilities), then in backward the gradient of each log N.
    public let responsibilities: Floats
    /// [components, 2·latent] and [components]: the expanded form's weight and bias, and their gradients.
    public let weights: Floats, dWeights: Floats, bias: Floats, dBias: Floats
    /// [rows]: ∂loss/∂log p(z_r), which the backward pass spreads over the components.
    public let upstream: Floats

    /// Floats per row of z, and per component, that the buffers take.
    static func widths(components: Int, latent: Int) -> (perRow: Int, perComponent: Int) {
        (2 * 2 * latent + components + 1, 2 * 2 * latent + 2)
    }

    /// Carves the buffers from `slices` (rows of one float each).
    init(rows: Int, components: Int, latent: Int, from slices: inout RowSlices) {
        precondition(slices.rows == 1)
        self.rows = rows
        self.components = components
        self.latent = latent
        features = slices.take(rows * 2 * latent)
        dFeatures = slices.take(rows * 2 * latent)
        responsibilities = slices.take(rows * components)
        upstream = slices.take(rows)
        weights = slices.take(components * 2 * latent)
        dWeights = slices.take(components * 2 * latent)
        bias = slices.take(components)
        dBias = slices.take(components)
    }
}

/// Writes log p(z_r) of each of `rows` rows of z ([rows, latent]) into `logDensities`, the prior
/// being the equally weighted mixture of the diagonal Gaussians in `components` ([K, 2·latent]:
/// μ, then log σ²). Leaves in `scratch` what `mixtureLogDensityBackward` needs. Each row is
/// computed whole by one thread, so the values do not depend on the thread count.
public func mixtureLogDensityForward(_ logDensities: UnsafeMutablePointer<Double>, z: ConstFloats, components: ConstFloats,
                                     rows: Int, scratch s: MixturePriorScratch) {
    let latent = s.latent, k = s.components
    precondition(rows <= s.rows)
    let logTwoPi = log(2 * Double.pi)
    for c in 0..<k {
        let mu = components + c * 2 * latent, logvar = mu + latent
        let w = s.weights + c * 2 * latent
        var constant = 0.0
        for j in 0..<latent {
            let precision = expf(-logvar[j])
            w[j] = -0.5 * precision
            w[latent + j] = mu[j] * precision
            constant += logTwoPi + Double(logvar[j]) + Double(mu[j] * mu[j] * precision)
        }
        s.bias[c] = Float(-0.5 * constant)
    }
    for r in 0..<rows {
        let zr = z + r * latent, f = s.features + r * 2 * latent
        for j in 0..<latent {
            f[j] = zr[j] * zr[j]
            f[latent + j] = zr[j]
        }
    }
    linearForward(s.responsibilities, s.features, weight: s.weights, bias: s.bias, rows: rows, inputs: 2 * latent, outputs: k,
                  activation: .none)
    struct Normalisation: SplitJob {
        let rows: Floats, components: Int, logDensities: UnsafeMutablePointer<Double>
        func run(part: Int, range: Range<Int>) {
            let logK = log(Double(components))
            for r in range {
                let row = rows + r * components
                var largest = -Float.infinity
                for c in 0..<components { largest = max(largest, row[c]) }
                var sum = 0.0
                for c in 0..<components {
                    row[c] = expf(row[c] - largest)
                    sum += Double(row[c])
                }
                let inverse = Float(1 / sum)
                for c in 0..<components { row[c] *= inverse }
                logDensities[r] = Double(largest) + log(sum) - logK
            }
        }
    }
    ComputeThreads.shared.forEachPart(of: rows, Normalisation(rows: s.responsibilities, components: k, logDensities: logDensities))
}

/// Given `scratch.upstream[r]` = ∂loss/∂log p(z_r) after `mixtureLogDensityForward`, adds
/// ∂loss/∂z into `dz` and writes ∂loss/∂components (μ, then log σ², per component) into
/// `dComponents`. ∂log p(z_r)/∂log N_rk is the responsibility of component k for row r.
public func mixtureLogDensityBackward(dz: Floats, dComponents: Floats, z: ConstFloats, components: ConstFloats, rows: Int,
                                      scratch s: MixturePriorScratch) {
    let latent = s.latent, k = s.components
    for r in 0..<rows {
        let g = s.upstream[r], row = s.responsibilities + r * k
        for c in 0..<k { row[c] *= g }
    }
    linearBackward(dinp: s.dFeatures, dweight: s.dWeights, dbias: s.dBias, dout: s.responsibilities, inp: s.features,
                   weight: s.weights, rows: rows, inputs: 2 * latent, outputs: k)
    for r in 0..<rows {
        let zr = z + r * latent, d = dz + r * latent, f = s.dFeatures + r * 2 * latent
        for j in 0..<latent { d[j] += 2 * zr[j] * f[j] + f[latent + j] }
    }
    // From the weight [-½P, μP] and the bias c back to μ and log σ², with P = 1/σ² = e^{-log σ²}:
    // ∂c/∂μ = -μP, ∂c/∂log σ² = -½(1 - μ²P), ∂(-½P)/∂log σ² = ½P, ∂(μP)/∂μ = P, ∂(μP)/∂log σ² = -μP.
    for c in 0..<k {
        let mu = components + c * 2 * latent, logvar = mu + latent
        let dmu = dComponents + c * 2 * latent, dlogvar = dmu + latent
        let dw = s.dWeights + c * 2 * latent, dc = s.dBias[c]
        for j in 0..<latent {
            let precision = expf(-logvar[j]), m = mu[j]
            dmu[j] = dw[latent + j] * precision - dc * m * precision
            dlogvar[j] = 0.5 * precision * dw[j] - m * precision * dw[latent + j] - 0.5 * dc * (1 - m * m * precision)
        }
    }
}
