/// The schedule of the animations that sweep a path (interpolation, traversal): steps 0 up to
/// `steps` and back down to 1, holding at both ends; the loop's restart brings back step 0. A
/// sweep may start on the way up at `start` instead, the same cycle turned: the traversal starts
/// at the mean, which a viewer then sees first (and a viewer that shows no animation, alone),
/// and which holds there too, so that each sweep sets out from a picture the eye has taken in.
struct ThereAndBack: Sendable {
    let steps: Int
    /// The step each frame shows, in order.
    let frameSteps: [Int]

    init(steps: Int, startingAt start: Int = 0) {
        precondition(0...steps ~= start)
        self.steps = steps
        let cycle = Array(0...steps) + Array((1..<steps).reversed())
        frameSteps = Array(cycle[start...] + cycle[..<start])
    }

    /// Hands `body` one frame per entry of `frameSteps`, drawn by `canvas` as it is needed, so
    /// that a long sweep holds one frame at a time; the frames at 0 and at `steps` hold, and the
    /// first. A step on the way back is drawn a second time rather than kept.
    func forEachFrame(style: FrameStyle, drawing canvas: (Int) -> Canvas, _ body: (GIFFrame) throws -> Void) rethrows {
        for (index, step) in frameSteps.enumerated() {
            let holds = index == 0 || step == 0 || step == steps
            try body(GIFFrame(canvas: canvas(step), delayCentiseconds: style.frameDelay(holds: holds)))
        }
    }
}
