import Foundation

// The encoder's head writes one [rows, 2·latent] buffer: mu in the first `latent` columns and
// log σ² in the rest, so one sgemm computes both.

/// z = mu + eps · exp(logvar / 2), the reparameterisation that lets gradients reach the encoder.
/// Row r of the noise uses head row r, or head row 0 for every row with `sharedHead` (the k
/// samples of one image in the importance-weighted estimate).
public func reparameterizeForward(z: Floats, head: ConstFloats, eps: ConstFloats, rows: Int, latent: Int,
                                  sharedHead: Bool = false) {
    for r in 0..<rows {
        let mu = head + (sharedHead ? 0 : r * 2 * latent), logvar = mu + latent
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

