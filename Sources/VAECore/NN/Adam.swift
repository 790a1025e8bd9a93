import CVectorMath
import Foundation

/// Adam's update as `torch.optim.Adam` defines it (no weight decay, no amsgrad), equal to it up to
/// Float rounding (the bias corrections are multiplied by here, not divided by):
/// m ← β₁m + (1-β₁)g, v ← β₂v + (1-β₂)g², p ← p - (lr / (1-β₁ᵗ)) · m / (√v / √(1-β₂ᵗ) + ε).
///
/// One loop over the flat parameter buffer updates every tensor of the model, split among the
/// compute threads.
public final class Adam: @unchecked Sendable {
    public struct Hyperparameters: Equatable, Sendable {
        // Doubles, as in PyTorch, where they are Python floats: 1 - β₂ rounds differently in Float.
        public let learningRate: Double
        // PyTorch's defaults, which every optimiser here uses.
        public let beta1 = 0.9
        public let beta2 = 0.999
        public let epsilon = 1e-8

        public init(learningRate: Double) {
            self.learningRate = learningRate
        }
    }

    public let hyperparameters: Hyperparameters
    /// First and second moments, laid out like the parameters.
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// Updates taken so far (PyTorch's `step`).
    public var step: Int = 0

    public init(_ hyperparameters: Hyperparameters, count: Int) {
        self.hyperparameters = hyperparameters
        m = FloatBuffer(count: count)
        v = FloatBuffer(count: count)
    }

    /// One step. Returns false when a gradient was not finite, or so large that its second
    /// moment's term (1 - β₂)·g·g overflows Float (|g| above about 5.8e20, which only a diverging
    /// run makes): the parameters are then spoilt, and the caller must stop. `team` splits the
    /// work (a test gives its own, whose every part then surely runs apart).
    public func update(parameters: FloatBuffer, gradients: FloatBuffer, on team: ComputeThreads = .shared) -> Bool {
        precondition(parameters.count == m.count && gradients.count == m.count)
        step += 1
        let h = hyperparameters
        // PyTorch computes the bias corrections in double precision and rounds the results.
        let stepSize = Float(h.learningRate / (1 - pow(h.beta1, Double(step))))
        let inverseCorrection2Root = Float(1 / (1 - pow(h.beta2, Double(step))).squareRoot())
        let parts = team.streamingParts
        return withUnsafeTemporaryAllocation(of: Bool.self, capacity: parts) { finite in
            finite.initialize(repeating: true)
            let job = AdamStep(p: parameters.pointer, g: gradients.pointer, m: m.pointer, v: v.pointer,
                               stepSize: stepSize, inverseCorrection2Root: inverseCorrection2Root,
                               beta1: Float(h.beta1), beta2: Float(h.beta2), epsilon: Float(h.epsilon),
                               oneMinusBeta1: Float(1 - h.beta1), oneMinusBeta2: Float(1 - h.beta2), finite: finite)
            team.forEachPart(of: parameters.count, alignment: 64, parts: parts, job)
            return finite.allSatisfy { $0 }
        }
    }
}

/// The update of one step over a range of the flat buffers.
private struct AdamStep: SplitJob {
    let p: Floats, g: ConstFloats, m: Floats, v: Floats
    let stepSize: Float, inverseCorrection2Root: Float
    let beta1: Float, beta2: Float, epsilon: Float, oneMinusBeta1: Float, oneMinusBeta2: Float
    /// Whether each part's gradients were all finite.
    let finite: UnsafeMutableBufferPointer<Bool>

    func run(part: Int, range: Range<Int>) {
        // v - v is 0 for a finite second moment and NaN for an infinite or NaN one, so the sum
        // is finite exactly when every new second moment is, whatever the part's size (a sum of
        // the moments themselves could overflow in a long part and not in a short one, and the
        // verdict would depend on the thread count); it costs two ops per eight parameters
        // instead of another pass.
        var notFinite = SIMD8<Float>(repeating: 0)
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let gi = load8(g + i)
            let mi = beta1 * load8(m + i) + oneMinusBeta1 * gi
            let vi = beta2 * load8(v + i) + oneMinusBeta2 * gi * gi
            store8(mi, m + i)
            store8(vi, v + i)
            notFinite += vi - vi
            // Every compute thread reads every weight in the step's products.
            storeStreaming8(load8(p + i) - stepSize * mi / (vector_sqrt8(vi) * inverseCorrection2Root + epsilon), p + i)
            i += 8
        }
        streamingStoresDone()
        while i < range.upperBound {
            let gi = g[i]
            let mi = beta1 * m[i] + oneMinusBeta1 * gi
            let vi = beta2 * v[i] + oneMinusBeta2 * gi * gi
            m[i] = mi
            v[i] = vi
            notFinite[0] += vi - vi
            p[i] -= stepSize * mi / (vi.squareRoot() * inverseCorrection2Root + epsilon)
            i += 1
        }
        finite[part] = notFinite.sum().isFinite
    }
}
