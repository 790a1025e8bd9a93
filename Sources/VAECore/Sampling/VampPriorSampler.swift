import Foundation

/// A VampPrior model's own prior as a sampler: the equally weighted mixture of the diagonal
/// Gaussians its encoder gives the pseudo-inputs. Held as means and standard deviations, K·d
/// numbers each, where a `GaussianMixture`'s Cholesky factors would take K·d² (500 components of
/// 4,096 dimensions: 67 GB) and a draw d² multiply-adds. Draws the same points as a
/// `GaussianMixture` of those components would, from the same random stream.
public struct VampPriorSampler: LatentSampler {
    public let latent: Int
    /// `[components, latent]`: each component's mean, and its standard deviations.
    public let means: [Double], deviations: [Double]

    public var components: Int { means.count / latent }

    /// The mixture of the diagonal Gaussians in `components` ([K, 2·latent]: μ, then log σ², each row).
    public init(latent: Int, diagonalComponents components: [Float]) {
        precondition(latent >= 1 && components.count % (2 * latent) == 0, "components are rows of 2·latent numbers")
        let k = components.count / (2 * latent)
        var means = [Double](repeating: 0, count: k * latent), deviations = means
        for c in 0..<k {
            for j in 0..<latent {
                means[c * latent + j] = Double(components[c * 2 * latent + j])
                deviations[c * latent + j] = exp(0.5 * Double(components[c * 2 * latent + latent + j]))
            }
        }
        self.init(latent: latent, means: means, deviations: deviations)
    }

    init(latent: Int, means: [Double], deviations: [Double]) {
        precondition(latent >= 1 && !means.isEmpty && means.count % latent == 0 && deviations.count == means.count)
        self.latent = latent
        self.means = means
        self.deviations = deviations
    }

    /// Every standard deviation times the temperature.
    public func tempered(_ temperature: Double) -> any LatentSampler {
        VampPriorSampler(latent: latent, means: means, deviations: deviations.map { $0 * temperature })
    }

    public var summary: String { "\(count: components, "component")" }

    /// A component drawn uniformly, then its mean plus its deviations times N(0, I) noise.
    public func sample(count: Int, random: inout Random) -> LatentSamples {
        let chosen = drawComponents(count: count, weights: [Double](repeating: 1 / Double(components), count: components),
                                    random: &random)
        var noise = [Float](repeating: 0, count: count * latent)
        noise.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: $0.count) }
        var z = [Float](repeating: 0, count: count * latent)
        for i in 0..<count {
            let component = chosen[i] * latent
            for j in 0..<latent {
                z[i * latent + j] = Float(means[component + j] + deviations[component + j] * Double(noise[i * latent + j]))
            }
        }
        return LatentSamples(latent: latent, z: z)
    }
}
