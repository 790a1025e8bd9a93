import Foundation
import Testing
import TestSupport
import VAECore

private func smallRun(seed: UInt64 = 5) -> RunConfig {
    RunConfig(model: VAEConfig(hidden: [12, 7], latentDim: 3), epochs: 4, batchSize: 16, learningRate: 2e-3,
              seed: seed, preset: "default", trainImages: 100, testImages: 30)
}

private func trainedModel(_ run: RunConfig) -> VAEModel {
    let model = VAEModel(config: run.model)
    var random = Random(seed: run.seed)
    model.initialize(random: &random)
    return model
}

private let sampleMetrics = EpochMetrics(epoch: 3, train: LossTerms(reconstruction: 200.5, kl: 20.25),
                                         test: LossTerms(reconstruction: 210.125, kl: 19.5), seconds: 1.5, imagesPerSecond: 66.7)

@Test func checkpointRoundTrip() throws {
    let run = smallRun()
    let model = trainedModel(run)
    let path = temporaryFolder() + "/epoch-0003.safetensors"
    try writeCheckpoint(model, run: run, metrics: sampleMetrics, to: path)
    let checkpoint = try readCheckpoint(path)
    #expect(checkpoint.run == run)
    #expect(checkpoint.epoch == 3)
    #expect(checkpoint.testLoss == 229.625)
    #expect(checkpoint.model.parameters.array == model.parameters.array)
    #expect(checkpointPath(runDirectory: "runs/x", epoch: 7) == "runs/x/checkpoints/epoch-0007.safetensors")
    // No temporary file is left beside the checkpoint.
    #expect(try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent) == ["epoch-0003.safetensors"])
}

/// The reference Python `safetensors` package (numpy API) reads our checkpoint: tensor names,
/// shapes, values and the metadata come out as written.
@Test func checkpointLoadsWithPythonSafetensors() throws {
    let run = smallRun()
    let model = trainedModel(run)
    let folder = temporaryFolder()
    let path = folder + "/epoch-0003.safetensors"
    try writeCheckpoint(model, run: run, metrics: sampleMetrics, to: path)

    var expected: [String: Any] = [:]
    for tensor in model.layout.tensors {
        let values = UnsafeBufferPointer(start: model.parameters.pointer + tensor.offset, count: tensor.count)
        expected[tensor.name] = ["shape": tensor.shape, "values": values.map(Double.init)]
    }
    try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: folder + "/expected.json"))
    let script = """
        import json, sys
        import numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file
        path, expected = sys.argv[1], json.load(open(sys.argv[2]))
        tensors = load_file(path)
        assert sorted(tensors) == sorted(expected), (sorted(tensors), sorted(expected))
        for name, want in expected.items():
            got = tensors[name]
            assert got.dtype == np.float32, (name, got.dtype)
            assert list(got.shape) == want["shape"], (name, got.shape, want["shape"])
            assert np.array_equal(got.reshape(-1), np.array(want["values"], dtype=np.float32)), name
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata()
        assert meta["hidden"] == "12,7" and meta["latent_dim"] == "3", meta
        assert meta["likelihood"] == "bernoulli" and meta["epoch"] == "3", meta
        assert meta["seed"] == "5" and meta["train_images"] == "100" and meta["test_images"] == "30", meta
        assert float(meta["test_loss"]) == 229.625, meta
        print("ok", len(tensors))
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, path, folder + "/expected.json"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "python safetensors check failed: \(text)")
    #expect(text.hasPrefix("ok \(model.layout.tensors.count)"))
}

/// Same inputs give the same bytes: the header is written with sorted keys and no timings.
@Test func checkpointBytesAreDeterministic() throws {
    let run = smallRun()
    let folder = temporaryFolder()
    try writeCheckpoint(trainedModel(run), run: run, metrics: sampleMetrics, to: folder + "/a")
    var other = sampleMetrics
    other.seconds = 99
    try writeCheckpoint(trainedModel(run), run: run, metrics: other, to: folder + "/b")
    #expect(try readFile(folder + "/a") == readFile(folder + "/b"))
    try writeCheckpoint(trainedModel(smallRun(seed: 6)), run: run, metrics: sampleMetrics, to: folder + "/c")
    #expect(try readFile(folder + "/a") != readFile(folder + "/c"))
}

private func expectCorrupt(_ bytes: [UInt8], _ problem: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let path = temporaryFolder() + "/bad.safetensors"
    write(bytes, to: path)
    do {
        _ = try readCheckpoint(path)
        Issue.record("expected an error saying \(problem)", sourceLocation: sourceLocation)
    } catch let error as VAEError {
        #expect(error.kind == .badData, sourceLocation: sourceLocation)
        #expect(error.message.hasPrefix(path), sourceLocation: sourceLocation)
        #expect(error.message.contains(problem), "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

/// Rebuilds a safetensors file from a header string and data bytes.
private func safetensors(header: String, data: [UInt8]) -> [UInt8] {
    let json = Array(header.utf8)
    var length = UInt64(json.count).littleEndian
    return withUnsafeBytes(of: &length) { Array($0) } + json + data
}

@Test func corruptCheckpointsGetClearErrors() throws {
    let run = smallRun()
    let path = temporaryFolder() + "/good.safetensors"
    try writeCheckpoint(trainedModel(run), run: run, metrics: sampleMetrics, to: path)
    let good = try readFile(path)
    let headerLength = Int(good.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    let header = String(decoding: good[8..<8 + headerLength], as: UTF8.self)
    let data = Array(good[(8 + headerLength)...])

    expectCorrupt([], "too short")
    expectCorrupt(Array(good[..<(good.count / 2)]), "bytes")
    expectCorrupt([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f] + good[8...], "header length")
    expectCorrupt(safetensors(header: "{\"a\": [1, 2", data: []), "not valid JSON")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"F32\"", with: "\"F17\""), data: data), "unsupported dtype F17")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"latent_dim\":\"3\"", with: "\"latent_dim\":\"4\""), data: data),
                  "tensor encoder.mu.weight is F32 [3, 7], expected F32 [4, 7]")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"format\":\"kmnist-vae-checkpoint/1\",", with: ""), data: data),
                  "not a kmnist-vae checkpoint")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"hidden\":\"12,7\"", with: "\"hidden\":\"12,x\""), data: data),
                  "metadata hidden has the invalid value \"12,x\"")
    expectCorrupt(safetensors(header: header, data: data + [0, 0, 0, 0]), "4 bytes after the last tensor")
    // Point the first tensor's offsets at the second one's bytes: an overlap.
    let overlapping = header.replacingOccurrences(of: "\"data_offsets\":[0,", with: "\"data_offsets\":[4,")
    expectCorrupt(safetensors(header: overlapping, data: data), "offsets span")
    let beyond = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4000000000,4000000000],\"data_offsets\":[0,16]}}"
    expectCorrupt(safetensors(header: beyond, data: [UInt8](repeating: 0, count: 16)), "larger than the file")
    let outOfRange = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,9999999999]}}"
    expectCorrupt(safetensors(header: outOfRange, data: [UInt8](repeating: 0, count: 16)), "outside the 16 data bytes")
}
