import Foundation

/// Timing of one training epoch, split at the sgemm boundary.
public struct EpochTiming: Sendable {
    public var seconds: Double
    public var sgemmSeconds: Double
    public var sgemmCalls: Int
    public var images: Int

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
/// with the time inside cblas_sgemm measured around every call.
public func benchmarkTraining(_ run: RunConfig, data: KMNIST, epochs: Int) throws -> [EpochTiming] {
    let trainer = Trainer(run: run, data: data)
    let clock = SgemmClock.shared
    clock.enabled = true
    defer { clock.enabled = false }
    var timings: [EpochTiming] = []
    for _ in 0..<epochs {
        clock.reset()
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try trainer.trainEpoch()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        timings.append(EpochTiming(seconds: seconds, sgemmSeconds: Double(clock.nanoseconds) / 1e9,
                                   sgemmCalls: clock.calls, images: data.train.count))
    }
    return timings
}

/// Only the matrix products of `epochs` training epochs — the sgemm calls of a training step,
/// recorded with their shapes and buffers and replayed back to back for every batch — which is
/// the floor any implementation on this BLAS stands on.
public func benchmarkSgemmOnly(_ run: RunConfig, images: Int, epochs: Int) -> [Double] {
    let model = VAEModel(config: run.model)
    var random = Random(seed: run.seed)
    model.initialize(random: &random)
    let workspace = Workspace(layout: model.layout, capacity: run.batchSize)
    // The products do not depend on the values, so the step runs on the workspace's zeros.
    func recordStep(rows: Int) -> [SgemmCall] {
        let clock = SgemmClock.shared
        clock.recording = []
        defer { clock.recording = nil }
        _ = model.forward(workspace, rows: rows, computeGradients: true)
        model.backward(workspace, rows: rows)
        return clock.recording!
    }
    let fullBatches = images / run.batchSize, remainder = images % run.batchSize
    let fullStep = fullBatches > 0 ? recordStep(rows: run.batchSize) : []
    let lastStep = remainder > 0 ? recordStep(rows: remainder) : []
    var seconds: [Double] = []
    for _ in 0..<epochs {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<fullBatches {
            for call in fullStep { call.run() }
        }
        for call in lastStep { call.run() }
        seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return seconds
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

