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

/// Only the matrix products of `epochs` training epochs — the same sgemm calls with the same
/// shapes, back to back — which is the floor any implementation on this BLAS stands on.
public func benchmarkSgemmOnly(_ run: RunConfig, images: Int, epochs: Int) -> [Double] {
    let model = VAEModel(config: run.model)
    var random = Random(seed: run.seed)
    model.initialize(random: &random)
    let workspace = Workspace(layout: model.layout, capacity: run.batchSize)
    var seconds: [Double] = []
    for _ in 0..<epochs {
        let start = DispatchTime.now().uptimeNanoseconds
        var first = 0
        while first < images {
            let rows = Swift.min(run.batchSize, images - first)
            model.matrixProductsOfOneStep(workspace, rows: rows)
            first += rows
        }
        seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return seconds
}

extension VAEModel {
    /// The sgemm calls of `forward` + `backward`, without any elementwise work.
    func matrixProductsOfOneStep(_ ws: Workspace, rows: Int) {
        let p = parameters.pointer, g = gradients.pointer
        let inputs = [UnsafePointer(ws.input)] + ws.encoderOutputs.map { UnsafePointer($0) } + [UnsafePointer(ws.z)]
            + ws.decoderOutputs.map { UnsafePointer($0) }
        let outputs = ws.encoderOutputs + [ws.head] + ws.decoderOutputs + [ws.decoderOutput]
        let gradientsIn = [nil] + ws.dEncoderOutputs + [ws.dZ] + ws.dDecoderOutputs
        let gradientsOut = ws.dEncoderOutputs + [ws.dHead] + ws.dDecoderOutputs + [ws.dDecoderOutput]
        let layers = layout.layers
        for (i, layer) in layers.enumerated() {
            sgemm(false, true, rows, layer.outputs, layer.inputs, inputs[i], layer.inputs, p + layer.weight, layer.inputs,
                  outputs[i], layer.outputs)
        }
        for (i, layer) in layers.enumerated().reversed() {
            sgemm(true, false, layer.outputs, layer.inputs, rows, gradientsOut[i], layer.outputs, inputs[i], layer.inputs,
                  g + layer.weight, layer.inputs)
            if let dinp = gradientsIn[i] {
                sgemm(false, false, rows, layer.inputs, layer.outputs, gradientsOut[i], layer.outputs, p + layer.weight,
                      layer.inputs, dinp, layer.inputs)
            }
        }
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

