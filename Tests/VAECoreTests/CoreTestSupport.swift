import Foundation
import Testing
import TestSupport
@testable import VAECore

/// The files of a run folder that must come out identical for identical runs: the checkpoints
/// ("epoch N") and the resume state ("state"); metrics.jsonl holds timings.
func runFiles(_ folder: String) throws -> [String: [UInt8]] {
    let directory = RunDirectory(folder)
    var files: [String: [UInt8]] = ["state": try readFile(directory.statePath)]
    for epoch in directory.checkpointEpochs() { files["epoch \(epoch)"] = try readFile(directory.checkpoint(epoch: epoch)) }
    return files
}

/// Fills `count` floats with N(0, scale²) values from `random`.
func randomFloats(_ count: Int, random: inout Random, scale: Float = 1) -> [Float] {
    var values = [Float](repeating: 0, count: count)
    values.withUnsafeMutableBufferPointer { random.fillNormal($0.baseAddress!, count: count) }
    return values.map { $0 * scale }
}

/// A small dataset of random blobs, for tests that train without KMNIST.
func syntheticImageSet(count: Int, seed: UInt64) -> ImageSet {
    var random = Random(seed: seed)
    var pixels = [UInt8](repeating: 0, count: count * VAEConfig.inputSize)
    var labels = [UInt8](repeating: 0, count: count)
    for n in 0..<count {
        let label = random.nextInt(below: 10)
        labels[n] = UInt8(label)
        let cx = 8 + Float(label % 5) * 3 + random.nextUniform() * 2, cy = 8 + Float(label / 5) * 10 + random.nextUniform() * 2
        for y in 0..<28 {
            for x in 0..<28 {
                let d = ((Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy)).squareRoot()
                pixels[n * 784 + y * 28 + x] = UInt8(max(0, min(255, 255 * (1 - (d - 4) / 2))))
            }
        }
    }
    return ImageSet(pixels: pixels, labels: labels)
}

/// Central difference of `loss` with respect to `values[index]`.
func finiteDifference(_ values: inout [Float], _ index: Int, h: Float, _ loss: ([Float]) -> Double) -> Double {
    let saved = values[index]
    values[index] = saved + h
    let plus = loss(values)
    values[index] = saved - h
    let minus = loss(values)
    values[index] = saved
    return (plus - minus) / Double(2 * h)
}

/// The larger of the worst error so far and `error`, a NaN counting as infinitely large: `max`
/// keeps the other, and a gradient of NaNs would pass as exact.
func worse<Value: FloatingPoint>(_ worst: Value, _ error: Value) -> Value {
    error.isNaN ? .infinity : max(worst, error)
}

/// Checks every coordinate; the message names the one that disagrees most.
func expectGradient(_ name: String, values: [Float], analytic: [Float], h: Float = 1e-3, tolerance: Double = 2e-3,
                    sourceLocation: SourceLocation = #_sourceLocation, _ loss: ([Float]) -> Double) {
    var values = values
    var worst = (index: -1, error: 0.0, numeric: 0.0)
    for i in values.indices {
        let numeric = finiteDifference(&values, i, h: h, loss)
        let error = worse(0, abs(numeric - Double(analytic[i])) / max(1, abs(numeric)))
        if error > worst.error { worst = (i, error, numeric) }
    }
    #expect(worst.error < tolerance,
            "\(name): gradient[\(worst.index)] analytic \(worst.index >= 0 ? analytic[worst.index] : 0) vs numeric \(worst.numeric)",
            sourceLocation: sourceLocation)
}

/// Checks the gradient of a small model's whole negative ELBO, or with `samples` its
/// importance-weighted bound with that many draws per image: every parameter tensor (a VampPrior's
/// pseudo-inputs included) along a random direction (a strong signal above Float rounding), and
/// a sample of single coordinates too, each by central differences with step `h`.
func expectWholeLossGradient(_ config: VAEConfig, klWeight: Float, samples: Int? = nil, h: Float = 1e-3,
                             sourceLocation: SourceLocation = #_sourceLocation) {
    let model = VAEModel(config: config)
    var random = Random(seed: 14)
    model.initialize(random: &random)
    let rows = 4, draws = rows * (samples ?? 1)
    let workspace = Workspace(layout: model.layout, capacity: rows, sampleCapacity: draws)
    let image = syntheticImageSet(count: rows, seed: 3)
    image.pixels.withUnsafeBufferPointer { workspace.loadImages($0.baseAddress!, first: 0, rows: rows) }
    image.labels.withUnsafeBufferPointer { workspace.loadLabels($0.baseAddress!, first: 0, rows: rows) }
    let pseudoInputs = syntheticImageSet(count: config.pseudoInputs, seed: 5).pixels
    for (i, pixel) in pseudoInputs.enumerated() { model.parameters[model.layout.pseudoInputsOffset + i] = intensity(pixel) }
    random.fillNormal(workspace.eps, count: draws * config.latentDim)

    // The objective behind the gradients: reconstruction + klWeight · KL, or the bound.
    func loss() -> Double {
        if let samples { return model.forwardImportanceWeighted(workspace, rows: rows, samples: samples, computeGradients: false).total }
        let terms = model.forward(workspace, rows: rows, computeGradients: false)
        return terms.reconstruction + Double(klWeight) * terms.kl
    }
    if let samples {
        _ = model.forwardImportanceWeighted(workspace, rows: rows, samples: samples, computeGradients: true)
        model.backwardImportanceWeighted(workspace, rows: rows, samples: samples)
    } else {
        _ = model.forward(workspace, rows: rows, computeGradients: true)
        model.backward(workspace, rows: rows, klWeight: klWeight)
    }
    let gradient = model.gradients.array
    let p = model.parameters.pointer

    for tensor in model.layout.tensors {
        expectDirectionalDerivative(tensor, parameters: p, gradient: gradient, step: h, random: &random,
                                    tolerance: { 0.01 * abs($0) + 0.05 }, sourceLocation: sourceLocation, loss)

        for _ in 0..<8 {
            let i = tensor.offset + random.nextInt(below: tensor.count)
            let saved = p[i]
            p[i] = saved + h
            let up = loss()
            p[i] = saved - h
            let down = loss()
            p[i] = saved
            let single = (up - down) / Double(2 * h)
            #expect(abs(single - Double(gradient[i])) <= 0.01 * abs(single) + 0.01,
                    "\(tensor.name)[\(i - tensor.offset)]: analytic \(gradient[i]) vs numeric \(single)",
                    sourceLocation: sourceLocation)
        }
    }
}

/// The derivative of `loss` along a random ±1 direction over one parameter tensor, by central
/// differences with `step` per coordinate, against the analytic gradient's; the difference must
/// stay within `tolerance(analytic)`. With `activity` (which units a ReLU passes, as the last
/// `loss()` left them), a step that changes it has crossed a kink, where the difference measures
/// nothing: the step is quartered until neither end crosses one.
func expectDirectionalDerivative(_ tensor: ParameterTensor, parameters p: Floats, gradient: [Float], step: Float,
                                 random: inout Random, tolerance: (Double) -> Double,
                                 activity: (() -> [Bool])? = nil,
                                 sourceLocation: SourceLocation = #_sourceLocation, _ loss: () -> Double) {
    let direction = (0..<tensor.count).map { _ in random.nextUniform() < 0.5 ? Float(-1) : 1 }
    let saved = (0..<tensor.count).map { p[tensor.offset + $0] }
    func lossAndActivity(at offset: Float) -> (Double, [Bool]?) {
        for i in 0..<tensor.count { p[tensor.offset + i] = saved[i] + offset * direction[i] }
        defer { for i in 0..<tensor.count { p[tensor.offset + i] = saved[i] } }
        return (loss(), activity?())
    }
    let atPoint = lossAndActivity(at: 0).1
    var h = step
    for _ in 0..<6 {
        let (plus, plusActivity) = lossAndActivity(at: h), (minus, minusActivity) = lossAndActivity(at: -h)
        if plusActivity != atPoint || minusActivity != atPoint {
            h /= 4
            continue
        }
        let numeric = (plus - minus) / Double(2 * h)
        let analytic = (0..<tensor.count).reduce(0.0) { $0 + Double(gradient[tensor.offset + $1] * direction[$1]) }
        #expect(abs(numeric - analytic) <= tolerance(analytic),
                "\(tensor.name): directional derivative analytic \(analytic) vs numeric \(numeric)", sourceLocation: sourceLocation)
        return
    }
    Issue.record("\(tensor.name): every step down to \(h * 4) crossed a ReLU's kink", sourceLocation: sourceLocation)
}

/// The cblas_sgemm calls (what the fault injection library counts) of an MLP's forward pass on
/// `rows` images, and with `backward` of its training step: a weight gradient for every layer
/// and an input gradient for all but the first; of its first `layers` layers only, if given.
/// Each product is `SgemmCall.blocks(m:n:k:).count` calls.
func sgemmCalls(_ config: VAEConfig, rows: Int, backward: Bool, layers: Int = .max) -> Int {
    ParameterLayout(config).layers.prefix(layers).enumerated().reduce(0) { calls, item in
        let (index, layer) = item
        var products = [(rows, layer.outputs, layer.inputs)]
        if backward {
            products.append((layer.outputs, layer.inputs, rows))
            if index > 0 { products.append((rows, layer.inputs, layer.outputs)) }
        }
        return calls + products.reduce(0) { $0 + SgemmCall.blocks(m: $1.0, n: $1.1, k: $1.2).count }
    }
}

/// An HTTP server on the loopback (python3's, never the network) serving the files of `folder`,
/// with a Content-Length or, if `chunked`, without one (a file it lacks is a 404); `scratch` takes the file its port is
/// passed through. The server leaves when its parent does, as when the test process is killed
/// (SIGKILL), whose children the watchdog cannot then stop: the parent a process has changes only then.
func startFileServer(serving folder: String, in scratch: String, chunked: Bool) throws -> (server: ChildProcess, port: String) {
    let portFile = scratch + "/port"
    let server = try ChildProcess(testPython, ["-c", """
        import http.server, os, sys, threading, time
        parent = os.getppid()
        def leave_with_the_parent():
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(0)
        threading.Thread(target=leave_with_the_parent, daemon=True).start()
        class Files(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                path = os.path.join(sys.argv[1], os.path.basename(self.path))
                if not os.path.isfile(path):
                    return self.send_error(404)
                data = open(path, "rb").read()
                self.send_response(200)
                if sys.argv[3] == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(data), 4096):
                        part = data[start:start + 4096]
                        self.wfile.write(b"%x\\r\\n%s\\r\\n" % (len(part), part))
                    self.wfile.write(b"0\\r\\n\\r\\n")
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
        server = http.server.HTTPServer(("127.0.0.1", 0), Files)
        open(sys.argv[2] + ".partial", "w").write(str(server.server_port))
        os.rename(sys.argv[2] + ".partial", sys.argv[2])
        server.serve_forever()
        """, folder, portFile, chunked ? "chunked" : "length"])
    let started = ContinuousClock.now
    while !FileManager.default.fileExists(atPath: portFile) && ContinuousClock.now - started < .seconds(30) {
        usleep(20_000)
    }
    return (server, String(decoding: try readFile(portFile), as: UTF8.self))
}
