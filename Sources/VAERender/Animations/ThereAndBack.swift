/// The schedule of the animations that sweep a path (interpolation, traversal): steps 0 up to
/// `steps` and back to 0, holding at both ends.
struct ThereAndBack: Sendable {
    let steps: Int
    /// The step each frame shows, in order.
    let frameSteps: [Int]

    init(steps: Int) {
        self.steps = steps
        frameSteps = Array(0...steps) + Array((0..<steps).reversed())
    }

    /// One frame per entry of `frameSteps`, showing `canvases[step]`; the frames at `steps` and
    /// the last, before the loop starts again, hold.
    func frames(_ canvases: [Canvas], style: FrameStyle) -> [GIFFrame] {
        precondition(canvases.count == steps + 1)
        return frameSteps.enumerated().map { position, step in
            let isEnd = step == steps || position == frameSteps.count - 1
            return GIFFrame(canvas: canvases[step], delayCentiseconds: isEnd ? style.hold : style.delay)
        }
    }
}
