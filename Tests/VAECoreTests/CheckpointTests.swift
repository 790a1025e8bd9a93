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
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/epoch-0003.safetensors"
    try writeCheckpoint(model, run: run, metrics: sampleMetrics, to: path)
    let checkpoint = try readCheckpoint(path)
    #expect(checkpoint.run == run)
    #expect(checkpoint.epoch == 3)
    #expect(checkpoint.metrics.test.total == 229.625)
    expectIdentical(checkpoint.model.parameters.array, model.parameters.array, "parameters read back")
    let metadata = try readSafetensors(path).metadata
    let losses = ["train_loss": "220.75", "train_reconstruction": "200.5", "train_kl": "20.25",
                  "test_loss": "229.625", "test_reconstruction": "210.125", "test_kl": "19.5"]
    #expect(metadata.filter { losses[$0.key] != nil } == losses)
    #expect(RunDirectory("runs/x").checkpoint(epoch: 7) == "runs/x/checkpoints/epoch-0007.safetensors")
    // No temporary file is left beside the checkpoint.
    #expect(try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent) == ["epoch-0003.safetensors"])
}

/// A conv checkpoint: PyTorch's names and layouts, the arch in the metadata, the values read
/// back; and its tensors refused when the metadata says mlp, or a likelihood conv cannot have.
@Test func convCheckpointRoundTrip() throws {
    var run = smallRun()
    run.model = VAEConfig(arch: .conv, hidden: [12], latentDim: 3)
    let model = trainedModel(run)
    #expect(model.layout.tensors.map { "\($0.name) \($0.shape)" } == [
        "encoder.conv.0.weight [32, 1, 3, 3]", "encoder.conv.0.bias [32]",
        "encoder.conv.1.weight [64, 32, 3, 3]", "encoder.conv.1.bias [64]",
        "encoder.hidden.0.weight [12, 3136]", "encoder.hidden.0.bias [12]",
        "encoder.mu.weight [3, 12]", "encoder.logvar.weight [3, 12]", "encoder.mu.bias [3]", "encoder.logvar.bias [3]",
        "decoder.hidden.0.weight [12, 3]", "decoder.hidden.0.bias [12]",
        "decoder.hidden.1.weight [3136, 12]", "decoder.hidden.1.bias [3136]",
        "decoder.deconv.0.weight [64, 32, 3, 3]", "decoder.deconv.0.bias [32]",
        "decoder.deconv.1.weight [32, 1, 3, 3]", "decoder.deconv.1.bias [1]",
    ])
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/epoch-0003.safetensors"
    try writeCheckpoint(model, run: run, metrics: sampleMetrics, to: path)
    #expect(try readSafetensors(path).metadata["arch"] == "conv")
    let checkpoint = try readCheckpoint(path)
    #expect(checkpoint.run == run)
    expectIdentical(checkpoint.model.parameters.array, model.parameters.array, "parameters read back")

    let (header, data) = try headerAndData(path)
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"arch\":\"conv\"", with: "\"arch\":\"mlp\""), data: data),
                  "unexpected tensor decoder.deconv.0.bias for a model with arch mlp")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"arch\":\"conv\"", with: "\"arch\":\"resnet\""), data: data),
                  "metadata arch has the invalid value \"resnet\"")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"likelihood\":\"bernoulli\"", with: "\"likelihood\":\"gaussian\""),
                              data: data),
                  "metadata likelihood \"gaussian\" is not possible with arch \"conv\"")
}

/// The reference Python `safetensors` package (numpy API) reads our checkpoint: tensor names,
/// shapes, values and the metadata come out as written.
@Test func checkpointLoadsWithPythonSafetensors() throws {
    let run = smallRun()
    let model = trainedModel(run)
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
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
    let python = try ChildProcess(testPython, ["-c", script, path, folder + "/expected.json"],
                                  mergingStandardError: true)
    defer { python.stop() }
    let result = try python.finish()
    let text = result.stdout
    #expect(result.status == 0,
            "python safetensors check failed (\(testPython); scripts/install-dependencies --tests makes its environment): \(text)")
    #expect(text.hasPrefix("ok \(model.layout.tensors.count)"))
}

/// Same inputs give the same bytes: the header is written with sorted keys and no timings.
@Test func checkpointBytesAreDeterministic() throws {
    let run = smallRun()
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    try writeCheckpoint(trainedModel(run), run: run, metrics: sampleMetrics, to: folder + "/a")
    var other = sampleMetrics
    other.seconds = 99
    try writeCheckpoint(trainedModel(run), run: run, metrics: other, to: folder + "/b")
    expectIdentical(try readFile(folder + "/b"), try readFile(folder + "/a"), "the same checkpoint with other timings")
    try writeCheckpoint(trainedModel(smallRun(seed: 6)), run: run, metrics: sampleMetrics, to: folder + "/c")
    expectDifferent(try readFile(folder + "/c"), try readFile(folder + "/a"), "another seed's checkpoint")
}

/// Metadata that JSON must escape comes back as written, and the data starts 8-byte aligned, as
/// the reference writer leaves it, whatever the header's unpadded length.
@Test func safetensorsEscapesMetadataAndAlignsTheData() throws {
    let values: [Float] = [1, -2]
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    for extra in 0..<8 {
        let path = folder + "/escaped-\(extra).safetensors"
        let note = "a \"quote\", a \\ backslash,\n\r\t and \u{7}" + String(repeating: "x", count: extra)
        try values.withUnsafeBytes { bytes in
            try writeSafetensors([SafetensorsEntry(name: "x", dtype: .F32, shape: [2], bytes: bytes)],
                                 metadata: ["note": note], to: path)
        }
        let file = try readSafetensors(path)
        // With the checksum of the data, zlib's CRC-32 of the two floats' 8 bytes (as Python's zlib.crc32 gives it).
        #expect(file.metadata == ["note": note, dataChecksumKey: "c3872656"])
        #expect(try file.floats("x", shape: [2]) == values)
        #expect(file.tensors["x"]!.range.lowerBound % 8 == 0, "data at byte \(file.tensors["x"]!.range.lowerBound)")
    }
}

private func expectCorrupt(_ bytes: [UInt8], _ problem: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/bad.safetensors"
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

/// A checkpoint of `smallRun()` in a new temporary folder, to damage: the folder, its path and its bytes.
private func goodCheckpoint() throws -> (folder: String, path: String, bytes: [UInt8]) {
    let run = smallRun(), folder = temporaryFolder(), path = folder + "/good.safetensors"
    try writeCheckpoint(trainedModel(run), run: run, metrics: sampleMetrics, to: path)
    return (folder, path, try readFile(path))
}

/// `header` with the data offsets of tensors `a` and `b` exchanged.
private func swappingOffsets(_ header: String, _ a: String, _ b: String) throws -> String {
    func offsets(_ name: String) throws -> Range<String.Index> {
        let entry = try #require(header.range(of: "\"\(name)\":{"), "\(name) in the header")
        let start = try #require(header.range(of: "\"data_offsets\":[", range: entry.upperBound..<header.endIndex)).upperBound
        return start..<(try #require(header[start...].firstIndex(of: "]")))
    }
    let (first, second) = (try offsets(a), try offsets(b))
    var swapped = header
    // The later range first, so that the earlier one's indices still hold.
    for (range, other) in [(first, second), (second, first)].sorted(by: { $0.0.lowerBound > $1.0.lowerBound }) {
        swapped.replaceSubrange(range, with: header[other])
    }
    return swapped
}

/// A header whose offsets were swapped between two tensors of one shape would load each into the
/// other's place, and the data's checksum still holds: a file the tools wrote (it records the
/// checksum) is refused unless its tensors lie in the order they are written in. A checkpoint
/// without the checksum (another writer's) is read as its header says.
@Test func tensorsSwappedInTheHeaderAreRefused() throws {
    let (folder, path, _) = try goodCheckpoint()
    defer { removeTemporaryFolder(folder) }
    let (header, data) = try headerAndData(path)
    let original = try readCheckpoint(path).model
    let swapped = try swappingOffsets(header, "encoder.mu.weight", "encoder.logvar.weight")
    expectCorrupt(safetensors(header: swapped, data: data),
                  "tensor encoder.mu.weight is not stored right after encoder.hidden.1.bias, where the tools write it; "
                  + "the header was changed (its checksum covers only the data)")
    let unchecked = try #require(swapped.range(of: "\"\(dataChecksumKey)\":\"[0-9a-f]{8}\",", options: .regularExpression))
    write(safetensors(header: swapped.replacingCharacters(in: unchecked, with: ""), data: data), to: path)
    let loaded = try readCheckpoint(path).model.parameters.array, weights = original.parameters.array
    let mu = try #require(original.layout.tensors.first { $0.name == "encoder.mu.weight" })
    let logvar = try #require(original.layout.tensors.first { $0.name == "encoder.logvar.weight" })
    let count = mu.shape.reduce(1, *)
    #expect(loaded[mu.offset..<mu.offset + count] == weights[logvar.offset..<logvar.offset + count])
    #expect(loaded[logvar.offset..<logvar.offset + count] == weights[mu.offset..<mu.offset + count])

    let run = smallRun(), state = folder + "/state.safetensors"
    let trainer = Trainer(run: run, data: KMNIST(train: syntheticImageSet(count: 100, seed: 1), test: syntheticImageSet(count: 30, seed: 2)))
    try trainer.writeState(to: state)
    let (stateHeader, stateData) = try headerAndData(state)
    write(safetensors(header: try swappingOffsets(stateHeader, "adam.m", "adam.v"), data: stateData), to: state)
    expectVAEError(.badData, containing: ["\(state): tensor adam.m is not stored right after parameters, where the tools write it"]) {
        _ = try readTrainingState(state)
    }
}

/// Each reader refuses another kind's file (a checkpoint given for a training state or a
/// classifier, a classifier for a checkpoint), naming the format the file has and the one it
/// needs, and for a classifier how to make one.
@Test func eachReaderNamesTheFormatItFoundInAnotherKindsFile() throws {
    let run = smallRun()
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let checkpoint = folder + "/epoch-0003.safetensors", classifier = folder + "/classifier.safetensors"
    try writeCheckpoint(trainedModel(run), run: run, metrics: sampleMetrics, to: checkpoint)
    try writeClassifier(Classifier(), metadata: [:], to: classifier)
    func found(_ format: String, expected: String) -> String { "(metadata format is \"\(format)\", expected \"\(expected)\")" }
    expectVAEError(.badData, containing: ["\(checkpoint): not a kmnist-vae training state \(found(checkpointFormat, expected: stateFormat))"]) {
        _ = try readTrainingState(checkpoint)
    }
    expectVAEError(.badData, containing: ["\(classifier): not a kmnist-vae checkpoint \(found(classifierFormat, expected: checkpointFormat))"]) {
        _ = try readCheckpoint(classifier)
    }
    expectVAEError(.badData, containing: ["\(checkpoint): not a kmnist-vae classifier \(found(checkpointFormat, expected: classifierFormat)); "
                                          + "make one with vae-classifier"]) {
        _ = try readClassifier(checkpoint)
    }
}

/// A bit flipped anywhere in a checkpoint's data (on disk, in a copy) is refused by the checksum
/// the file records, naming the file; a file of another writer, which records none, is read.
@Test func aFlippedBitInTheDataIsRefusedByItsChecksum() throws {
    let (folder, path, good) = try goodCheckpoint()
    defer { removeTemporaryFolder(folder) }
    let (header, data) = try headerAndData(path)
    let recorded = try #require(try readSafetensors(path).metadata[dataChecksumKey])
    #expect(recorded == data.withUnsafeBytes { crc32(of: [$0]) })
    for index in [0, data.count / 2, data.count - 1] {
        var flipped = good
        flipped[good.count - data.count + index] ^= 0x10
        expectCorrupt(flipped, "its tensor data do not match the checksum it records (crc32 ")
        expectCorrupt(flipped, ", recorded \(recorded)): the file was damaged after it was written")
    }
    for bad in ["0123456", "0123456g", "+1234567"] {
        expectCorrupt(safetensors(header: header.replacingOccurrences(of: recorded, with: bad), data: data),
                      "metadata data_crc32 has the invalid value \"\(bad)\" (8 hex digits expected)")
    }
    let unrecorded = header.replacingOccurrences(of: "\"\(dataChecksumKey)\":\"\(recorded)\",", with: "")
    #expect(unrecorded.count < header.count)
    let parameters = try readCheckpoint(path).model.parameters.array
    write(safetensors(header: unrecorded, data: data), to: path)
    expectIdentical(try readCheckpoint(path).model.parameters.array, parameters, "a checkpoint without a checksum")
    // Hex digits in either case, as the format check takes them.
    let capitals = recorded.uppercased()
    #expect(capitals != recorded, "the checksum has a letter to write in capitals")
    write(safetensors(header: header.replacingOccurrences(of: recorded, with: capitals), data: data), to: path)
    expectIdentical(try readCheckpoint(path).model.parameters.array, parameters, "a checkpoint whose checksum is in capitals")
}

@Test func corruptCheckpointsGetClearErrors() throws {
    let (folder, path, good) = try goodCheckpoint()
    defer { removeTemporaryFolder(folder) }
    let (header, data) = try headerAndData(path)

    expectCorrupt([], "too short")
    // Cut short in the data, then in the header: a copy that stopped early, named as such.
    expectCorrupt(Array(good[..<(good.count / 2)]), "the file is cut short, or its header damaged: tensor ")
    expectCorrupt(Array(good[..<(good.count / 2)]), "past the \(good.count / 2 - 8 - header.utf8.count) data bytes")
    // Of a file cut short, the first tensor it cuts is named, in every process: a dictionary's
    // order changes from one to the next, and every tensor lies past the end of this one.
    let cut = Array(good[..<(8 + header.utf8.count + 4)])
    let tensors = try parseSafetensors(good, path: path).tensors
    #expect(tensors.count > 4)
    let first = tensors.min { $0.value.range.lowerBound < $1.value.range.lowerBound }!.key
    expectCorrupt(cut, "tensor \(first) has offsets [0, ")
    write(cut, to: folder + "/cut.safetensors")
    let messages = try (0..<3).map { _ in try runTool("vae-eval", [folder + "/cut.safetensors", "--k", "0"]).stderr }
    #expect(Set(messages).count == 1 && messages[0].contains("tensor \(first) has offsets [0, "), "\(messages)")
    expectCorrupt(Array(good[..<100]), "the file is cut short, or its header length damaged: its \(header.utf8.count)-byte header does not fit in its 100 bytes")
    expectCorrupt([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f] + good[8...], "header length 9223372036854775807 is not that of")
    expectCorrupt(safetensors(header: "{\"a\": [1, 2", data: []), "not valid JSON")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"F32\"", with: "\"F17\""), data: data), "unsupported dtype F17")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"latent_dim\":\"3\"", with: "\"latent_dim\":\"4\""), data: data),
                  "tensor encoder.mu.weight is F32 [3, 7], expected F32 [4, 7]")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"format\":\"kmnist-vae-checkpoint/1\",", with: ""), data: data),
                  "not a kmnist-vae checkpoint")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"hidden\":\"12,7\"", with: "\"hidden\":\"12,x\""), data: data),
                  "metadata hidden has the invalid value \"12,x\"")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"epoch\":\"3\"", with: "\"epoch\":\"0\""), data: data),
                  "metadata epoch has the invalid value \"0\"")
    expectCorrupt(safetensors(header: header, data: data + [0, 0, 0, 0]), "4 bytes after the last tensor")
    // A batch past vae-train's range would overflow the batch count of a resumed run.
    let hugeBatch = header.replacingOccurrences(of: "\"batch_size\":\"[0-9]+\"", with: "\"batch_size\":\"9223372036854775807\"",
                                                options: .regularExpression)
    #expect(hugeBatch != header)
    expectCorrupt(safetensors(header: hugeBatch, data: data), "metadata batch_size has the invalid value \"9223372036854775807\"")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"input_shape\":\"28,28\"", with: "\"input_shape\":\"32,32\""),
                              data: data),
                  "metadata input_shape has the invalid value \"32,32\"")
    // What vae-train's flags refuse, metadata is refused for too: a rate or a KL weight that
    // Float makes 0, a KL weight on the importance-weighted bound (which has no KL term), and a
    // loss no trainer writes.
    func edited(_ pairs: [(String, String)]) -> [UInt8] {
        var edited = header
        for (old, new) in pairs {
            #expect(edited.contains(old), "the header holds \(old)")
            edited = edited.replacingOccurrences(of: old, with: new)
        }
        return safetensors(header: edited, data: data)
    }
    expectCorrupt(edited([("\"learning_rate\":\"0.002\"", "\"learning_rate\":\"1e-50\"")]),
                  "metadata learning_rate has the invalid value \"1e-50\"")
    expectCorrupt(edited([("\"beta\":\"1.0\"", "\"beta\":\"1e-40\"")]), "metadata beta has the invalid value \"1e-40\"")
    let iwae = ("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"objective\":\"iwae\",\"train_k\":\"3\"")
    write(edited([iwae]), to: folder + "/iwae.safetensors")
    #expect(try readCheckpoint(folder + "/iwae.safetensors").run.objective == .iwae)
    expectCorrupt(edited([("\"beta\":\"1.0\"", "\"beta\":\"0.5\",\"objective\":\"iwae\",\"train_k\":\"3\"")]),
                  "metadata objective \"iwae\" has no KL term to weight: it needs beta 1.0 and kl_warmup_epochs 0, not 0.5 and 0")
    expectCorrupt(edited([iwae, ("\"kl_warmup_epochs\":\"0\"", "\"kl_warmup_epochs\":\"2\"")]),
                  "metadata objective \"iwae\" has no KL term to weight: it needs beta 1.0 and kl_warmup_epochs 0, not 1.0 and 2")
    expectCorrupt(edited([("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"objective\":\"iwae\"")]), "metadata objective \"iwae\" needs train_k")
    // Settings that contradict each other, and a key left out.
    let vamp = ("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"prior\":\"vamp\"")
    expectCorrupt(edited([vamp]), "metadata prior \"vamp\" needs pseudo_inputs")
    expectCorrupt(edited([("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"prior\":\"vamp\",\"pseudo_inputs\":\"4\",\"conditional\":\"true\"")]),
                  "metadata prior \"vamp\" is not possible with a conditional model")
    expectCorrupt(edited([("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"objective\":\"iwae\",\"train_k\":\"3\",\"conditional\":\"true\"")]),
                  "metadata objective \"iwae\" is not possible with a conditional model")
    expectCorrupt(edited([("\"latent_dim\":\"3\",", "")]), "metadata key latent_dim is missing")
    expectCorrupt(edited([("\"optimizer\":\"adam\"", "\"optimizer\":\"sgd\"")]), "metadata optimizer has the invalid value \"sgd\"")
    expectCorrupt(edited([("\"train_kl\":\"20.25\"", "\"train_kl\":\"nan\"")]), "metadata train_kl has the invalid value \"nan\"")
    expectCorrupt(edited([("\"test_reconstruction\":\"210.125\"", "\"test_reconstruction\":\"1e39\"")]),
                  "metadata test_reconstruction has the invalid value \"1e39\"")
    // A split's checksum as ImageSet.md5 writes it: 32 lower-case hex digits, compared as text.
    let md5 = "0123456789abcdef0123456789abcdef"
    write(edited([("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"train_md5\":\"\(md5)\"")]), to: folder + "/md5.safetensors")
    #expect(try readCheckpoint(folder + "/md5.safetensors").run.trainMD5 == md5)
    for bad in [md5.uppercased(), String(md5.dropLast())] {
        expectCorrupt(edited([("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"train_md5\":\"\(bad)\"")]),
                      "metadata train_md5 has the invalid value \"\(bad)\"")
    }
    // No shift is written as no key: "0" was not written by a trainer.
    write(edited([("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"augment_shift\":\"4\"")]), to: folder + "/shift.safetensors")
    #expect(try readCheckpoint(folder + "/shift.safetensors").run.augmentShift == 4)
    for bad in ["0", "5"] {
        expectCorrupt(edited([("\"beta\":\"1.0\"", "\"beta\":\"1.0\",\"augment_shift\":\"\(bad)\"")]),
                      "metadata augment_shift has the invalid value \"\(bad)\"")
    }
    // decoder.out.bias, 784 floats, ends the data: a NaN, then an infinity, in its last value.
    // A changed byte of the data is refused by its checksum; resealed (as a hand-made file would
    // be, or one of another writer, which records none), a value no tool writes still is.
    expectCorrupt(safetensors(header: header, data: Array(data.dropLast(4)) + [0, 0, 0xc0, 0x7f]),
                  "its tensor data do not match the checksum it records (crc32 ")
    expectCorrupt(resealed(safetensors(header: header, data: Array(data.dropLast(4)) + [0, 0, 0xc0, 0x7f])),
                  "tensor decoder.out.bias holds NaN at index 783 (the tools write only finite values)")
    expectCorrupt(resealed(safetensors(header: header, data: Array(data.dropLast(4)) + [0, 0, 0xc0, 0xff])),
                  "tensor decoder.out.bias holds NaN at index 783")  // its sign bit set: Swift prints "-nan"
    expectCorrupt(resealed(safetensors(header: header, data: Array(data.dropLast(4)) + [0, 0, 0x80, 0xff])),
                  "tensor decoder.out.bias holds -inf at index 783")
    // Point the first tensor's offsets at the second one's bytes: an overlap.
    let overlapping = header.replacingOccurrences(of: "\"data_offsets\":[0,", with: "\"data_offsets\":[4,")
    expectCorrupt(safetensors(header: overlapping, data: data), "offsets span")
    let beyond = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4000000000,4000000000],\"data_offsets\":[0,16]}}"
    expectCorrupt(safetensors(header: beyond, data: [UInt8](repeating: 0, count: 16)), "larger than the file")
    // Larger than the data without overflowing too, told as such before its offsets are compared.
    let large = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1000],\"data_offsets\":[0,16]}}"
    expectCorrupt(safetensors(header: large, data: [UInt8](repeating: 0, count: 16)), "tensor x has shape [1000], larger than the file")
    let outOfRange = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,9999999999]}}"
    expectCorrupt(safetensors(header: outOfRange, data: [UInt8](repeating: 0, count: 16)),
                  "the file is cut short, or its header damaged: tensor x has offsets [0, 9999999999) past the 16 data bytes")
    let backwards = "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}"
    expectCorrupt(safetensors(header: backwards, data: [UInt8](repeating: 0, count: 16)), "tensor x has offsets [8, 4) that end before they begin")
}

/// Hostile headers: each is refused with its own message before anything is allocated.
@Test func hostileSafetensorsHeadersAreRefused() throws {
    let (folder, path, good) = try goodCheckpoint()
    defer { removeTemporaryFolder(folder) }
    let (header, data) = try headerAndData(path)

    expectCorrupt([0, 0, 0, 0, 0, 0, 0, 0x80] + good[8...], "header length 9223372036854775808 is not that of a kmnist-vae file")
    expectCorrupt([1, 0, 0, 0, 0, 0, 0, 0] + good[8...], "header length 1 is not that of a kmnist-vae file (2 to 100000000 bytes)")
    expectCorrupt(safetensors(header: "[1, 2]", data: []), "header is not a JSON object")
    // Other files a user may give for a checkpoint are named, not read as a header length.
    for (start, kind) in [([0x1f, 0x8b, 8, 0], "gzip data"), (Array("GIF89a".utf8), "a GIF image"), ([0x89] + Array("PNG".utf8), "a PNG image"),
                          ([0, 0, 8, 3, 0, 0, 0x27, 0x10], "an IDX images file"), ([0, 0, 8, 1], "an IDX labels file"),
                          (Array("#!/bin/sh\necho".utf8), "text (\"#!/bin/s\")"), (Array("{\"epoch\":1}\n".utf8), "text (\"{\"epoch\"\")"),
                          (Array("epoch\n\n1".utf8), "text (\"epoch\\n\\n1\")"), (Array("a\tb\tc\td\n".utf8), "text (\"a\tb\tc\td\\n\")")]
        as [([UInt8], String)] {
        expectCorrupt(start + good[8...], "not a safetensors file: it is \(kind)")
    }
    // A valid header length is never sniffed: 35,615 bytes (0x8b1f, a writer that pads no header)
    // begins the file with gzip's two bytes, and the checkpoint is read.
    let gzipLike = safetensors(header: header + String(repeating: " ", count: 0x8b1f - header.utf8.count), data: data)
    #expect(gzipLike.starts(with: [0x1f, 0x8b]))
    write(gzipLike, to: path)
    _ = try readCheckpoint(path)

    // Each tensor the right size for its shape, so that only the tiling check can object.
    func twoTensors(_ a: (Int, Int), _ b: (Int, Int)) -> String {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[\((a.1 - a.0) / 4)],\"data_offsets\":[\(a.0),\(a.1)]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[\((b.1 - b.0) / 4)],\"data_offsets\":[\(b.0),\(b.1)]}}"
    }
    let twelveBytes = [UInt8](repeating: 0, count: 12)
    expectCorrupt(safetensors(header: twoTensors((0, 4), (8, 12)), data: twelveBytes), "a gap of 4 bytes precedes tensor b")
    expectCorrupt(safetensors(header: twoTensors((0, 8), (4, 12)), data: twelveBytes), "tensor b overlaps another tensor")

    // decoder.out.bias, 784 floats, is the last tensor in the data: dropping it keeps the tiling.
    let withoutBias = header.replacingOccurrences(of: "\"decoder.out.bias\":\\{[^}]*\\},", with: "", options: .regularExpression)
    #expect(withoutBias.count < header.count)
    expectCorrupt(resealed(safetensors(header: withoutBias, data: Array(data.dropLast(784 * 4)))), "tensor decoder.out.bias is missing")

    // Metadata describing a model of billions of parameters over a file of a few thousand: the
    // shapes are compared before the model is allocated (allocating it would abort the tests).
    let gigantic = header.replacingOccurrences(of: "\"hidden\":\"12,7\"", with: "\"hidden\":\"65536,65536,65536\"")
        .replacingOccurrences(of: "\"latent_dim\":\"3\"", with: "\"latent_dim\":\"784\"")
    expectCorrupt(safetensors(header: gigantic, data: data),
                  "tensor encoder.hidden.0.weight is F32 [12, 784], expected F32 [65536, 784]")
    // A code wider than the image: what the tools fit to it would grow with its square.
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"latent_dim\":\"3\"", with: "\"latent_dim\":\"785\""), data: data),
                  "metadata latent_dim has the invalid value \"785\" (1 to 784 expected)")
    // Thousands of layers at two bytes each would make the tensor list alone huge. 1,024 are
    // allowed (vae-train trains them): the first tensor's shape is what is wrong then.
    let deepest = Array(repeating: "1", count: 1024).joined(separator: ",")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"hidden\":\"12,7\"", with: "\"hidden\":\"\(deepest)\""), data: data),
                  "tensor encoder.hidden.0.weight is F32 [12, 784], expected F32 [1, 784]")
    let deep = Array(repeating: "1", count: 1025).joined(separator: ",")
    expectCorrupt(safetensors(header: header.replacingOccurrences(of: "\"hidden\":\"12,7\"", with: "\"hidden\":\"\(deep)\""), data: data),
                  "metadata hidden has the invalid value \"1,1,1,")
}

/// A conv checkpoint may not claim more than 1,024 channels a convolution: each is 196 floats an
/// image of activations, so 65,536 (a 210 MB file) would have a reader allocate 100 GB.
@Test func aConvCheckpointOfTooManyChannelsIsRefused() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let run = RunConfig(model: VAEConfig(arch: .conv, convChannels: [2, 3], hidden: [4], latentDim: 2), epochs: 1, batchSize: 8,
                        learningRate: 1e-3, seed: 0, preset: "conv", trainImages: 8, testImages: 8)
    let path = folder + "/good.safetensors"
    try writeCheckpoint(trainedModel(run), run: run, metrics: sampleMetrics, to: path)
    #expect(try readCheckpoint(path).run.model.convChannels == [2, 3])
    let (header, data) = try headerAndData(path)
    for channels in ["1025,3", "2,0"] {
        let changed = header.replacingOccurrences(of: "\"conv_channels\":\"2,3\"", with: "\"conv_channels\":\"\(channels)\"")
        #expect(changed != header)
        expectCorrupt(safetensors(header: changed, data: data), "metadata conv_channels has the invalid value \"\(channels)\"")
    }
}

/// σ for gaussian-fixed: σ² and 1/σ² normal Floats, as the likelihood computes them, which holds
/// from 1.1e-19 to 9.2e18 and not a little beyond either end.
@Test func sigmaIsValidWhereItsSquareAndInverseAreNormalFloats() {
    #expect(RunConfig.isValidSigma(1.1e-19) && RunConfig.isValidSigma(0.1) && RunConfig.isValidSigma(9.2e18))
    #expect(!RunConfig.isValidSigma(1.05e-19) && !RunConfig.isValidSigma(9.3e18))
    #expect(!RunConfig.isValidSigma(0) && !RunConfig.isValidSigma(-0.1) && !RunConfig.isValidSigma(.infinity) && !RunConfig.isValidSigma(.nan))
}

/// A tensor of no elements (shape [0], offsets [n, n]) is valid safetensors, as other writers
/// produce it: it is read, not refused as offsets that end before they begin.
@Test func anEmptyTensorIsRead() throws {
    let header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        + "\"empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}"
    let file = try parseSafetensors(safetensors(header: header, data: [0, 0, 0x80, 0x3f]), path: "x.safetensors")
    #expect(file.tensors["empty"]?.range.count == 0)
    #expect(try file.floats("a", shape: [1]) == [1])
}

/// Every control character in metadata, 0x1f included, is escaped: raw, it makes the header
/// invalid JSON, and the file could not be read back.
@Test func everyControlCharacterInMetadataIsEscaped() throws {
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/m.safetensors"
    let text = String((1..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }) + "\u{7f}"
    try writeSafetensors([], metadata: ["note": text], to: path)
    #expect(try readSafetensors(path).metadata["note"] == text)
}

/// The configuration's metadata is read exactly as written: a switch other than "true", a
/// width list with an empty entry, an MD5 of other than 32 digits, or an iwae_k of 0 is refused.
@Test func malformedConfigurationMetadataIsRefused() throws {
    let (folder, path, _) = try goodCheckpoint()
    defer { removeTemporaryFolder(folder) }
    let (header, data) = try headerAndData(path)
    func changed(_ old: String, _ new: String) -> [UInt8] {
        let edited = header.replacingOccurrences(of: old, with: new)
        #expect(edited != header)
        return safetensors(header: edited, data: data)
    }
    expectCorrupt(changed("\"hidden\":\"12,7\"", "\"hidden\":\"12,,7\""), "metadata hidden has the invalid value \"12,,7\"")
    expectCorrupt(changed("\"hidden\":\"12,7\"", "\"conditional\":\"false\",\"hidden\":\"12,7\""),
                  "metadata conditional has the invalid value \"false\"")
    let md5 = "\"train_md5\":\"" + String(repeating: "a", count: 33) + "\",\"hidden\":\"12,7\""
    expectCorrupt(changed("\"hidden\":\"12,7\"", md5), "metadata train_md5 has the invalid value \"" + String(repeating: "a", count: 33) + "\"")
    expectCorrupt(changed("\"hidden\":\"12,7\"", "\"hidden\":\"12,7\",\"iwae_k\":\"0\",\"test_iwae\":\"200.5\""),
                  "metadata iwae_k has the invalid value \"0\"")
}
