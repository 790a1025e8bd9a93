/// The schedule of the animations that sweep a path (interpolation, traversal): steps 0 up to
/// `steps` and back down to 1, holding at both ends; the loop's restart brings back step 0.
struct ThereAndBack: Sendable {
    let steps: Int
    /// The step each frame shows, in order.
    let frameSteps: [Int]

    init(steps: Int) {
        self.steps = steps
        frameSteps = Array(0...steps) + Array((1..<steps).reversed())
    }

    /// One frame per entry of `frameSteps`, showing `canvases[step]`; the frames at 0 and at
    /// `steps` hold.
    func frames(_ canvases: [Canvas], style: FrameStyle) -> [GIFFrame] {
        precondition(canvases.count == steps + 1)
        return frameSteps.map { step in
            let isEnd = step == 0 || step == steps
            return GIFFrame(canvas: canvases[step], delayCentiseconds: isEnd ? style.hold : style.delay)
        }
    }
}
