import Foundation

// The encoder's head writes one [rows, 2·latent] buffer: mu in the first `latent` columns and
// log σ² in the rest, so one sgemm computes both.

/// z = mu + eps · exp(logvar / 2), the reparameterisation that lets gradients reach the encoder.
/// Row r of the noise uses head row r / `samples`: each head row gives `samples` consecutive
/// draws (the k samples of one image in an importance-weighted bound).
public func reparameterizeForward(z: Floats, head: ConstFloats, eps: ConstFloats, rows: Int, latent: Int, samples: Int = 1) {
    for r in 0..<rows {
        let mu = head + r / samples * 2 * latent, logvar = mu + latent
        let e = eps + r * latent, zr = z + r * latent
        for j in 0..<latent { zr[j] = mu[j] + e[j] * expf(0.5 * logvar[j]) }
    }
}

/// KL(N(mu, σ²) ‖ N(0, I)) = -½ Σ (1 + log σ² - mu² - σ²), summed over rows and latent dimensions.
public func klDivergence(head: ConstFloats, rows: Int, latent: Int) -> Double {
    var total = 0.0
    for r in 0..<rows {
        let mu = head + r * 2 * latent, logvar = mu + latent
        for j in 0..<latent { total -= 0.5 * Double(1 + logvar[j] - mu[j] * mu[j] - expf(logvar[j])) }
    }
    return total
}

/// Backward of the reparameterisation and of `klWeight` · KL together, into the head gradient:
/// ∂/∂mu = dz + w·mu, ∂/∂logvar = ½·dz·eps·σ + ½·w·(σ² - 1).
public func reparameterizeKLBackward(dhead: Floats, dz: ConstFloats, head: ConstFloats, eps: ConstFloats,
                                     rows: Int, latent: Int, klWeight: Float) {
    for r in 0..<rows {
        let mu = head + r * 2 * latent, logvar = mu + latent
        let dmu = dhead + r * 2 * latent, dlogvar = dmu + latent
        let dzr = dz + r * latent, e = eps + r * latent
        for j in 0..<latent {
            let sigma = expf(0.5 * logvar[j])
            dmu[j] = dzr[j] + klWeight * mu[j]
            dlogvar[j] = 0.5 * (dzr[j] * e[j] * sigma + klWeight * (sigma * sigma - 1))
        }
    }
}

/// log q(z_r|x) = -½ Σ_j (log 2π + log σ²_j + eps²_rj) of each of `rows` draws z_r = mu + eps_r σ,
/// row r drawn from head row r / `samples`, into `logDensities`.
public func posteriorLogDensity(_ logDensities: UnsafeMutablePointer<Double>, head: ConstFloats, eps: ConstFloats, rows: Int,
                                latent: Int, samples: Int = 1) {
    let logTwoPi = log(2 * Double.pi)
    for r in 0..<rows {
        let logvar = head + r / samples * 2 * latent + latent, e = eps + r * latent
        var sum = 0.0
        for j in 0..<latent { sum += logTwoPi + Double(logvar[j]) + Double(e[j] * e[j]) }
        logDensities[r] = -0.5 * sum
    }
}

/// log N(z_r; 0, I) = -½ Σ_j (log 2π + z²_rj) of each of `rows` rows of z, into `logDensities`.
public func normalLogDensity(_ logDensities: UnsafeMutablePointer<Double>, z: ConstFloats, rows: Int, latent: Int) {
    let logTwoPi = log(2 * Double.pi)
    for r in 0..<rows {
        let zr = z + r * latent
        var sum = 0.0
        for j in 0..<latent { sum += logTwoPi + Double(zr[j] * zr[j]) }
        logDensities[r] = -0.5 * sum
    }
}

/// Backward of the reparameterisation when the KL term is estimated from the draws (log q(z|x) -
/// log p(z)): `dz` holds the decoder's and -log p(z)'s gradients, and log q(z|x), written in eps
/// below, depends on logvar alone, so nothing of it goes through z. Each of the `headRows` head
/// rows (images, where the forward functions count `rows` of draws) sums its `samples` rows of
/// `dz`, ∂/∂mu = Σ dz, ∂/∂logvar = ½ σ Σ dz·eps, and log q(z|x) = -½ Σ (log 2π + logvar + eps²)
/// at fixed eps adds `posteriorWeight` · (-½) to ∂/∂logvar, where `posteriorWeight` is the
/// weight of log q(z|x) in the loss summed over the samples: β for the ELBO, 1 for the
/// importance-weighted bound (its normalised weights sum to 1).
public func reparameterizeBackward(dhead: Floats, dz: ConstFloats, head: ConstFloats, eps: ConstFloats, headRows: Int, latent: Int,
                                   samples: Int, posteriorWeight: Float) {
    for r in 0..<headRows {
        let logvar = head + r * 2 * latent + latent
        let dmu = dhead + r * 2 * latent, dlogvar = dmu + latent
        for j in 0..<latent {
            var sum: Float = 0, weighted: Float = 0
            for i in r * samples..<(r + 1) * samples {
                sum += dz[i * latent + j]
                weighted += dz[i * latent + j] * eps[i * latent + j]
            }
            dmu[j] = sum
            dlogvar[j] = 0.5 * (weighted * expf(0.5 * logvar[j]) - posteriorWeight)
        }
    }
}
