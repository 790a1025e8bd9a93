import Foundation
import Testing
import TestSupport
@testable import VAECore

/// Four separated 2-D Gaussians, one with a tilted covariance.
private let knownMixture = GaussianMixture(
    latent: 2, weights: [0.1, 0.2, 0.3, 0.4], means: [-6, 0, 0, 6, 6, 0, 0, -6],
    factors: [0.5, 0, 0, 0.5, 1, 0, 0.8, 0.6, 0.3, 0, 0, 1.2, 0.7, 0, -0.4, 0.4])

/// The covariance LLᵀ of 2-D component c of `factors`: its entries (0, 0), (0, 1), (1, 1).
private func componentCovariance(_ factors: [Double], _ c: Int) -> [Double] {
    let l = Array(factors[4 * c..<4 * c + 4])
    return [l[0] * l[0], l[0] * l[2], l[2] * l[2] + l[3] * l[3]]
}

@Test func mixtureSamplesHaveTheComponentsStatistics() {
    var random = Random(seed: 9)
    let samples = knownMixture.sample(count: 40_000, random: &random)
    #expect(samples.count == 40_000 && samples.labels == nil)
    // Points near the second mean: its weight, mean and covariance LLᵀ = [[1, 0.8], [0.8, 1]].
    let near = (0..<samples.count).filter { abs(samples.z[2 * $0]) < 3.5 && samples.z[2 * $0 + 1] > 2 }.flatMap { samples.z[2 * $0...2 * $0 + 1] }
    let stats = FeatureStatistics(features: near, dimension: 2)
    #expect(abs(Double(stats.count) / 40_000 - 0.2) < 0.01)
    #expect(abs(stats.mean[0]) < 0.05 && abs(stats.mean[1] - 6) < 0.05)
    #expect(abs(stats.covariance[0] - 1) < 0.05 && abs(stats.covariance[1] - 0.8) < 0.05 && abs(stats.covariance[3] - 1) < 0.05)
}

/// The mixture's log-likelihood against the densities written out by hand, in Double: for the
/// factor L = [[a, 0], [c, d]], y = L⁻¹(x - μ) and log N(x) = -log 2π - log|a d| - |y|²/2.
@Test func mixtureLogLikelihoodIsTheDensitiesByHand() {
    var random = Random(seed: 13)
    let points = knownMixture.sample(count: 500, random: &random).z.map(Double.init) + [30, -30, 0.5, 0.25]
    var total = 0.0
    for r in 0..<points.count / 2 {
        let logTerms = (0..<4).map { k -> Double in
            let f = Array(knownMixture.factors[4 * k..<4 * k + 4])
            let y0 = (points[2 * r] - knownMixture.means[2 * k]) / f[0]
            let y1 = (points[2 * r + 1] - knownMixture.means[2 * k + 1] - f[2] * y0) / f[3]
            return log(knownMixture.weights[k]) - log(2 * Double.pi) - log(abs(f[0] * f[3])) - (y0 * y0 + y1 * y1) / 2
        }
        let top = logTerms.max()!
        total += top + log(logTerms.map { exp($0 - top) }.reduce(0, +))
    }
    let expected = total / Double(points.count / 2), got = knownMixture.meanLogLikelihood(points)
    #expect(abs(got - expected) < 1e-10 * abs(expected), "\(got) against \(expected) by hand")
}

@Test func expectationMaximisationRecoversAKnownMixture() {
    var random = Random(seed: 10)
    let points = knownMixture.sample(count: 4000, random: &random).z
    // Four components fit the held-out tenth far better than one or two, and as well as more.
    let (chosen, scores) = GaussianMixture.fit(points, latent: 2, covariance: .full, seed: 3)
    #expect(scores.map(\.components) == GaussianMixture.componentCandidates(.full))
    let score = Dictionary(uniqueKeysWithValues: scores.map { ($0.components, $0.logLikelihood) })
    #expect(score[1]! < score[4]! - 1 && score[2]! < score[4]! - 1, "held-out log-likelihoods: \(scores)")
    #expect(scores.allSatisfy { $0.logLikelihood < score[4]! + 0.01 }, "held-out log-likelihoods: \(scores)")
    #expect(chosen.components >= 4 && score[chosen.components] == scores.map(\.logLikelihood).max())

    var fitRandom = Random(seed: 11)
    let fitted = GaussianMixture.fit(points.map(Double.init), latent: 2, components: 4, covariance: .full, random: &fitRandom)
    // Match each true component with the fitted one nearest its mean.
    func distance(_ fittedComponent: Int, _ k: Int) -> Double {
        let dx = fitted.means[2 * fittedComponent] - knownMixture.means[2 * k]
        let dy = fitted.means[2 * fittedComponent + 1] - knownMixture.means[2 * k + 1]
        return (dx * dx + dy * dy).squareRoot()
    }
    #expect(abs(fitted.weights.reduce(0, +) - 1) < 1e-12, "weights \(fitted.weights)")
    for k in 0..<4 {
        let match = (0..<fitted.components).min { distance($0, k) < distance($1, k) }!
        #expect(abs(fitted.weights[match] - knownMixture.weights[k]) < 0.02, "component \(k) weight")
        #expect(distance(match, k) < 0.1, "component \(k) mean")
        for (got, want) in zip(componentCovariance(fitted.factors, match), componentCovariance(knownMixture.factors, k)) {
            let tolerance: Double = 0.1 * max(abs(want), 0.3)
            #expect(abs(got - want) < tolerance, "component \(k) covariance \(got) vs \(want)")
        }
    }
    // The tilted component needs the off-diagonal terms: diagonal covariances fit the held-out points worse.
    let diagonal = GaussianMixture.fit(points, latent: 2, covariance: .diagonal, seed: 3)
    #expect(diagonal.heldOutScores.map(\.logLikelihood).max()! < scores.map(\.logLikelihood).max()!)
    fitRandom = Random(seed: 11)
    let again = GaussianMixture.fit(points.map(Double.init), latent: 2, components: 4, covariance: .full, random: &fitRandom)
    #expect(again.means == fitted.means && again.factors == fitted.factors, "deterministic")
}

/// A fit is a fixed point of EM: one more E and M step moves it by next to nothing. Two
/// overlapping components, whose soft responsibilities show a fit stopped early, or covariances
/// summed with other weights than the responsibilities.
@Test func aMixtureFitIsAFixedPointOfEM() {
    let overlapping = GaussianMixture(latent: 2, weights: [0.4, 0.6], means: [-0.8, 0, 0.8, 0.3],
                                      factors: [1, 0, 0.5, 0.8, 0.7, 0, -0.3, 0.9])
    var random = Random(seed: 21)
    let n = 3000, points = overlapping.sample(count: n, random: &random).z.map(Double.init)
    var fitRandom = Random(seed: 4)
    let fitted = GaussianMixture.fit(points, latent: 2, components: 2, covariance: .full, random: &fitRandom)
    var responsibilities = [Double](repeating: 0, count: n * 2)
    _ = fitted.expectation(points, responsibilities: &responsibilities, team: .shared)
    let soft = responsibilities.filter { $0 > 0.1 && $0 < 0.9 }.count
    #expect(soft > n / 4, "\(soft) of \(n) points have soft responsibilities")
    let stepped = GaussianMixture.maximisation(points, latent: 2, responsibilities: responsibilities, components: 2,
                                               covariance: .full, team: .shared)
    func covariances(_ m: GaussianMixture) -> [Double] { (0..<2).flatMap { componentCovariance(m.factors, $0) } }
    let moves = zip(stepped.weights + stepped.means + covariances(stepped), fitted.weights + fitted.means + covariances(fitted))
        .map { abs($0 - $1) }
    // Convergence stops EM once a step gains less than 1e-3 nats a point: here moves of about 0.02
    // are left, and a fit stopped after its first step is left 0.12 from the next.
    #expect(moves.max()! < 0.05, "one more EM step moves the fit by \(moves)")
}

/// The M step by hand, for soft responsibilities: each weight is the mean responsibility, each mean
/// and covariance the responsibility-weighted ones over the points (those below 1e-12 left out),
/// plus the floor 1e-4 on the diagonal, off-diagonal terms zero for diagonal covariances.
@Test func theMaximisationStepIsTheWeightedMoments() {
    let points: [Double] = [0, 0, 1, 2, -1, 0.5, 2, -1, 0.5, 1.5, -2, -1]
    // 1e-13 is below the negligible responsibility and skipped; 2e-6 is small and still counts.
    let first: [Double] = [0.9, 0.3, 0.5, 1e-13, 0.75, 2e-6]
    let responsibilities = first.flatMap { [$0, 1 - $0] }
    for kind in CovarianceKind.allCases {
        let m = GaussianMixture.maximisation(points, latent: 2, responsibilities: responsibilities, components: 2, covariance: kind,
                                             team: .shared)
        for c in 0..<2 {
            let r = first.map { c == 0 ? $0 : 1 - $0 }, kept = r.map { $0 < 1e-12 ? 0 : $0 }, total = kept.reduce(0, +)
            let mean = (0..<2).map { j in (0..<6).map { kept[$0] * points[2 * $0 + j] }.reduce(0, +) / total }
            func moment(_ i: Int, _ j: Int) -> Double {
                (0..<6).map { kept[$0] * (points[2 * $0 + i] - mean[i]) * (points[2 * $0 + j] - mean[j]) }.reduce(0, +) / total
            }
            let expected = [moment(0, 0) + 1e-4, kind == .full ? moment(0, 1) : 0, moment(1, 1) + 1e-4]
            let got = componentCovariance(m.factors, c)
            #expect(abs(m.weights[c] - r.reduce(0, +) / 6) < 1e-15, "\(kind) weight \(c)")
            #expect(zip(m.means[2 * c..<2 * c + 2], mean).allSatisfy { abs($0 - $1) < 1e-12 }, "\(kind) mean \(c)")
            #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-12 }, "\(kind) covariance \(c): \(got) against \(expected)")
        }
    }
}

/// The count is chosen on every tenth point, the 10th, 20th, ...: each candidate is the EM fit of
/// the other nine tenths from its own stream of the seed, scored on those held-out points.
@Test func theHeldOutTenthIsEveryTenthPointFromTheTenth() {
    var random = Random(seed: 14)
    let points = knownMixture.sample(count: 300, random: &random).z
    let rows = (0..<300).map { r in points[2 * r..<2 * r + 2].map(Double.init) }
    let heldOut = (0..<300).filter { $0 % 10 == 9 }.flatMap { rows[$0] }, fitted = (0..<300).filter { $0 % 10 != 9 }.flatMap { rows[$0] }
    let fit = GaussianMixture.fit(points, latent: 2, covariance: .full, seed: 6)
    for (components, score) in fit.heldOutScores {
        var stream = Random(seed: 6, stream: UInt64(components))
        let mixture = GaussianMixture.fit(fitted, latent: 2, components: components, covariance: .full, random: &stream)
        #expect(score == mixture.meanLogLikelihood(heldOut), "\(components) components")
    }
}

/// EM starts from k-means++: far, small clusters get components of their own from the start.
/// Here 600 points around the origin and 6 at each of (40, 0) and (0, 40); a start drawn
/// uniformly puts every centre near the origin nearly always, and EM then keeps the two far
/// clusters in one wide component.
@Test func theMixtureStartsFromKMeansPlusPlus() {
    var random = Random(seed: 15)
    let noise = randomFloats(612 * 2, random: &random)
    let points = (0..<612).flatMap { r -> [Double] in
        let centre: [Double] = r < 600 ? [0, 0] : r < 606 ? [40, 0] : [0, 40]
        return [centre[0] + 0.5 * Double(noise[2 * r]), centre[1] + 0.5 * Double(noise[2 * r + 1])]
    }
    for seed: UInt64 in 1...5 {
        var stream = Random(seed: seed)
        let mixture = GaussianMixture.fit(points, latent: 2, components: 3, covariance: .full, random: &stream)
        for far: [Double] in [[40, 0], [0, 40]] {
            let nearest = (0..<3).map { c in hypot(mixture.means[2 * c] - far[0], mixture.means[2 * c + 1] - far[1]) }.min()!
            #expect(nearest < 1, "seed \(seed): no component at \(far): means \(mixture.means)")
        }
    }
}

/// Each count tried has ten fitted points per component at least: 100 points of 4 dimensions, 90
/// of them fitted, try 1 to 8 components, whatever the dimension (the count of points, not of
/// their values).
@Test func mixtureCountsTriedHaveTenPointsEach() {
    var random = Random(seed: 13)
    let points = randomFloats(100 * 4, random: &random)
    for covariance in CovarianceKind.allCases {
        let fit = GaussianMixture.fit(points, latent: 4, covariance: covariance, seed: 5)
        #expect(fit.heldOutScores.map(\.components) == [1, 2, 4, 8], "\(covariance)")
    }
}

/// The E and M steps split components and points among the threads; every part is computed
/// whole by one thread and the log-likelihood added in point order, so one and two threads
/// give the same mixture, bit for bit.
@Test func mixtureFitIsTheSameForEveryThreadCount() {
    var random = Random(seed: 12)
    let points = knownMixture.sample(count: 3000, random: &random).z
    for covariance in CovarianceKind.allCases {
        let one = GaussianMixture.fit(points, latent: 2, covariance: covariance, seed: 5, team: ComputeThreads(count: 1))
        let two = GaussianMixture.fit(points, latent: 2, covariance: covariance, seed: 5, team: ComputeThreads(count: 2))
        #expect(one.heldOutScores.map(\.components) == GaussianMixture.componentCandidates(covariance))
        #expect(one.heldOutScores.map(\.logLikelihood) == two.heldOutScores.map(\.logLikelihood), "\(covariance)")
        #expect(one.mixture.weights == two.mixture.weights && one.mixture.means == two.mixture.means
                && one.mixture.factors == two.mixture.factors, "\(covariance)")
    }
}

@Test func temperatureScalesEveryCovariance() throws {
    let tempered = try #require(knownMixture.tempered(1.5) as? GaussianMixture)
    #expect(tempered.weights == knownMixture.weights && tempered.means == knownMixture.means)
    #expect(tempered.factors == knownMixture.factors.map { 1.5 * $0 }, "LLᵀ scaled by 1.5²")
}

/// The temperature makeSampler is given reaches the mixtures it fits: the same fit, each
/// covariance factor times the temperature.
@Test func fittedMixturesTakeMakeSamplersTemperature() throws {
    let model = VAEModel(config: VAEConfig(hidden: [8], latentDim: 2))
    var random = Random(seed: 2)
    model.initialize(random: &random)
    let codec = LatentCodec(config: model.config), training = syntheticImageSet(count: 60, seed: 11)
    for kind in [SamplerKind.gmm, .gmmDiagonal] {
        let plain = try #require(try makeSampler(kind, model: model, codec: codec, training: training, seed: 0) as? GaussianMixture)
        let wide = try #require(try makeSampler(kind, model: model, codec: codec, training: training, seed: 0, temperature: 1.5)
            as? GaussianMixture)
        #expect(wide.weights == plain.weights && wide.means == plain.means, "\(kind)")
        #expect(wide.factors == plain.factors.map { 1.5 * $0 }, "\(kind)")
    }
}

@Test func priorSamplerDrawsStandardNormals() {
    var a = Random(seed: 4), b = Random(seed: 4)
    let samples = StandardNormalSampler(latent: 3).sample(count: 5, random: &a)
    var expected = [Float](repeating: 0, count: 15)
    expected.withUnsafeMutableBufferPointer { b.fillNormal($0.baseAddress!, count: 15) }
    #expect(samples.z == expected && samples.latent == 3 && samples.count == 5)
}

@Test func classConditionalSamplesComeInBlocksByClass() throws {
    // Class c's sampler is the prior shifted to c, so every draw tells which sampler made it.
    struct Shifted: LatentSampler {
        let latent = 2, shift: Float
        func sample(count: Int, random: inout Random) -> LatentSamples {
            LatentSamples(latent: 2, z: StandardNormalSampler(latent: 2).sample(count: count, random: &random).z.map { $0 * 0.01 + shift })
        }
        func tempered(_ temperature: Double) -> any LatentSampler { Shifted(shift: shift * Float(temperature)) }
        var summary: String { "shifted" }
    }
    let sampler = ClassConditionalSampler(perClass: (0..<3).map { Shifted(shift: Float($0)) })
    var random = Random(seed: 1)
    let samples = sampler.sample(count: 8, random: &random)
    #expect(samples.labels == [0, 0, 1, 1, 1, 2, 2, 2], "blocks of 8·(c+1)/3 - 8·c/3")
    for (i, label) in samples.labels!.enumerated() {
        #expect(abs(samples.z[2 * i] - Float(label)) < 0.1 && abs(samples.z[2 * i + 1] - Float(label)) < 0.1)
    }
    let ones = sampler.sample(count: 4, label: 1, random: &random)
    #expect(ones.labels == [1, 1, 1, 1] && ones.z.allSatisfy { abs($0 - 1) < 0.1 })
    let tempered = try #require(sampler.tempered(2) as? ClassConditionalSampler)
    #expect(tempered.perClass.map { ($0 as! Shifted).shift } == [0, 2, 4] && sampler.summary == "shifted per class")
}

@Test func classConditionalSummaryNamesTheClassesSamplersInOneLine() {
    struct Named: LatentSampler {
        let latent = 1, summary: String
        func sample(count: Int, random: inout Random) -> LatentSamples { LatentSamples(latent: 1, z: []) }
        func tempered(_ temperature: Double) -> any LatentSampler { self }
    }
    func summary(_ names: [String]) -> String { ClassConditionalSampler(perClass: names.map { Named(summary: $0) }).summary }
    #expect(summary(["2 components", "4 components", "2 components"]) == "per class: 2 or 4 components")
    #expect(summary(["sigma 0.755 of it", "sigma 0.709 of it", "sigma 0.779 of it", "sigma 0.755 of it"])
            == "per class: sigma 0.709 to 0.779 of it", "three values or more: their range, numerically sorted")
    #expect(summary(["10 components", "9 components"]) == "per class: 9 or 10 components", "sorted as numbers, not as text")
    #expect(summary(["1 component", "2 components"]) == "per class: 1 or 2 components", "the singular after 1 merges")
    #expect(summary(["1 component", "4 components", "2 components"]) == "per class: 1 to 4 components")
    #expect(summary(["1 cat", "2 dogs"]) == "per class: 1 cat or 2 dogs", "two words differ")
    #expect(summary(["2 components", "N(0, I)"]) == "per class: 2 components or N(0, I)")
    #expect(summary(["a 1 b 2", "a 3 b 4"]) == "per class: a 1 b 2 or a 3 b 4", "two numbers differ")
}
