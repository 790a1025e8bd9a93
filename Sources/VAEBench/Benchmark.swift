import CSgemmClock
import Foundation
import VAECore

/// Timing of one training epoch, split at the sgemm boundary, and of its matrix products alone.
public struct EpochTiming: Sendable {
    public var seconds: Double
    public var sgemmSeconds: Double
    public var images: Int
    /// The same sgemm calls, each step's replayed alone after it: the floor any
    /// implementation on this BLAS stands on.
    public var sgemmOnlySeconds: Double

    public var imagesPerSecond: Double { Double(images) / seconds }
    public var otherSeconds: Double { seconds - sgemmSeconds }
}

extension ImageSet {
    /// The set repeated (and cut) to `count` images, as the anchors' `--tile-to` does, so that an
    /// epoch of the 7,011 local images can be timed like a 60,000-image KMNIST epoch.
    public func tiled(to count: Int) -> ImageSet {
        precondition(self.count > 0)
        let size = VAEConfig.inputSize
        var pixels = [UInt8](), labels = [UInt8]()
        pixels.reserveCapacity(count * size)
        labels.reserveCapacity(count)
        while labels.count < count {
            let take = Swift.min(self.count, count - labels.count)
            pixels += self.pixels[..<(take * size)]
            labels += self.labels[..<take]
        }
        return ImageSet(pixels: pixels, labels: labels)
    }
}

/// Trains `epochs` epochs of `run` on `data` (no evaluation, nothing written) and times each,
/// with the time inside sgemm measured around every call. After every training step, the sgemm
/// calls of a step (recorded once with their shapes and the trainer's own buffers) are replayed
/// alone and timed apart, so that the training and the sgemm-only figures see the machine in the
/// same state to within a few milliseconds; the epoch's time leaves the replays out.
public func benchmarkTraining(_ run: RunConfig, data: KMNIST, epochs: Int) throws -> [EpochTiming] {
    let trainer = Trainer(run: run, data: data)
    let count = data.train.count
    let batches = (count + run.batchSize - 1) / run.batchSize, remainder = count % run.batchSize
    // The products do not depend on the values in the buffers, and a step overwrites everything
    // a replay writes before reading it.
    let fullStep = count >= run.batchSize ? recordSgemmCalls(trainer, rows: run.batchSize) : []
    let lastStep = remainder > 0 ? recordSgemmCalls(trainer, rows: remainder) : []
    var timings: [EpochTiming] = []
    for _ in 0..<epochs {
        var replayNanoseconds: UInt64 = 0
        sgemm_clock_reset()
        sgemm_clock_set_enabled(true)
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try trainer.trainEpoch(progress: { progress in
            sgemm_clock_set_enabled(false)
            let replayStart = DispatchTime.now().uptimeNanoseconds
            for call in progress.batch == batches && remainder > 0 ? lastStep : fullStep { call.run() }
            replayNanoseconds += DispatchTime.now().uptimeNanoseconds - replayStart
            sgemm_clock_set_enabled(true)
        })
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start - replayNanoseconds) / 1e9
        sgemm_clock_set_enabled(false)
        timings.append(EpochTiming(seconds: seconds, sgemmSeconds: Double(sgemm_clock_nanoseconds()) / 1e9,
                                   images: count, sgemmOnlySeconds: Double(replayNanoseconds) / 1e9))
    }
    return timings
}

/// The sgemm calls of one training step on `rows` images, made on the trainer's own buffers
/// (which it leaves overwritten) so that the replay multiplies exactly the same matrices. They
/// are recorded on one thread, each product whole; the replay splits them as training does.
private func recordSgemmCalls(_ trainer: Trainer, rows: Int) -> [sgemm_clock_call] {
    let threads = ComputeThreads.shared.count
    ComputeThreads.shared.setCount(1)
    defer { ComputeThreads.shared.setCount(threads) }
    sgemm_clock_start_recording()
    _ = trainer.model.forward(trainer.workspace, rows: rows, computeGradients: true)
    trainer.model.backward(trainer.workspace, rows: rows)
    let blocks = (0..<sgemm_clock_stop_recording()).map { sgemm_clock_recorded_call(Int32($0)) }
    // A product reaches OpenBLAS as consecutive blocks of rows; the replay splits it again as
    // training does, so join each product's blocks back together.
    var products: [sgemm_clock_call] = []
    for block in blocks {
        if var product = products.last, product.continues(into: block) {
            product.m += block.m
            products[products.count - 1] = product
        } else {
            products.append(block)
        }
    }
    return products
}

extension sgemm_clock_call {
    /// Whether `next` is the block of rows of the same product that comes right after this one.
    func continues(into next: sgemm_clock_call) -> Bool {
        next.transA == transA && next.transB == transB && next.n == n && next.k == k && next.b == b
            && next.lda == lda && next.ldb == ldb && next.ldc == ldc && next.beta == beta
            && next.c == c.map { $0 + Int(m) * Int(ldc) }
            && next.a == a.map { $0 + (transA ? Int(m) : Int(m) * Int(lda)) }
    }

    /// The product again, split among the compute threads as the model splits it.
    func run() {
        sgemm(transA, transB, Int(m), Int(n), Int(k), a!, Int(lda), b!, Int(ldb), c!, Int(ldc), beta: beta)
    }
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
public func peakResidentBytes() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return nil }
    return kilobytes * 1024
}

/// Restarts the peak-RSS counter (Linux: writing 5 to /proc/self/clear_refs), so that
/// consecutive measurements in one process each report their own peak.
public func resetPeakResident() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

