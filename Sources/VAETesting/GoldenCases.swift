import VAERender

/// The golden GIFs in fixtures/golden: small renders of the fixture runs that the golden tests
/// re-render and compare with. `vae-fixtures --goldens-only` writes them; both read this one
/// list, so they cannot drift apart.
///
/// Between them the cases cover both interpolation paths, each kind of source of sampling points
/// (the GMM sampler standing for the fitted ones, whose other kinds and the VampPrior are tested
/// without pictures; z ~ N(0, I); the prior-quantile and principal-plane grids), both latent-map
/// projections (the coordinates, the principal plane), traversals of two and three dimensions,
/// two scales and non-default timing, while keeping every file under 100 KB.
public struct GoldenCase: Sendable {
    public let name: String
    /// What to render, but not yet where from: its run folder a name in fixtures/runs, its data
    /// folder empty, until `request(fixtures:data:)` places both.
    public let template: RenderRequest

    public static let all: [GoldenCase] = [
        GoldenCase(name: "latent2", template: RenderRequest(
            runDirectory: "latent2", dataFolder: "",
            interpolation: InterpolationOptions(pairs: [ImagePair(a: 0, b: 1), ImagePair(a: 2, b: 3), ImagePair(a: 4, b: 5)],
                                                spherical: false, steps: 3),
            sampling: SamplingOptions(grid: 4, source: .plane),
            reconstruction: ReconstructionOptions(indices: [0, 1, 2, 3, 4]),
            latentMap: LatentMapOptions(), traversal: TraversalOptions(),
            style: FrameStyle(scale: 1, delay: 10, hold: 50))),
        GoldenCase(name: "latent3", template: RenderRequest(
            runDirectory: "latent3", dataFolder: "",
            interpolation: InterpolationOptions(pairs: [ImagePair(a: 6, b: 7), ImagePair(a: 8, b: 9)], spherical: true, steps: 4),
            sampling: SamplingOptions(grid: 4),
            reconstruction: ReconstructionOptions(indices: [5, 6, 7, 8]),
            latentMap: LatentMapOptions(images: 60), traversal: TraversalOptions(dims: 2),
            style: FrameStyle(scale: 1, delay: 7, hold: 120))),
        GoldenCase(name: "latent3-random", template: RenderRequest(
            runDirectory: "latent3", dataFolder: "",
            sampling: SamplingOptions(grid: 2, source: .sampler(.prior), seed: 3),
            style: FrameStyle(scale: 2, delay: 12, hold: 80))),
        GoldenCase(name: "latent3-plane", template: RenderRequest(
            runDirectory: "latent3", dataFolder: "",
            sampling: SamplingOptions(grid: 3, source: .plane),
            style: FrameStyle(scale: 1, delay: 9, hold: 60))),
    ]

    /// The animations this case renders, in `Animation` order.
    public var animations: [Animation] { template.animations }

    /// The render of this case from the runs in `fixtures` (the repository's fixtures/ folder)
    /// and the synthetic test images in `data`, a folder with the official KMNIST file names.
    public func request(fixtures: String, data: String) -> RenderRequest {
        var request = template
        request.runDirectory = fixtures + "/runs/" + template.runDirectory
        request.dataFolder = data
        return request
    }

    public func goldenPath(_ animation: Animation, fixtures: String) -> String {
        fixtures + "/golden/\(name)-\(animation.fileName)"
    }
}
