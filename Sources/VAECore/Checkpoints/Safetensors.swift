import CZlib
import Foundation

// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON mapping each tensor name to its dtype, shape and
// [begin, end) byte offsets into the data that follows, plus an optional "__metadata__" map of
// strings; then the raw little-endian tensor data, covered exactly by the offsets.

public enum SafetensorsDType: String, Sendable {
    case F32, U64, I64

    public var size: Int { self == .F32 ? 4 : 8 }
}

/// A tensor to write: its bytes are borrowed, not copied.
public struct SafetensorsEntry {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    public let bytes: UnsafeRawBufferPointer

    public init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == shape.reduce(1, *) * dtype.size, "\(name): shape does not match its bytes")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }
}

/// The metadata key of the CRC-32 of a file's tensor data (zlib's, 8 hex digits), which every
/// file the tools write records and `parseSafetensors` checks where it is recorded: a bit flipped
/// on disk or in a copy is refused, not trained on or rendered. (Files of other writers lack it.)
public let dataChecksumKey = "data_crc32"

/// zlib's CRC-32 of the pieces, one after the other, as 8 lowercase hex digits.
public func crc32(of pieces: [UnsafeRawBufferPointer]) -> String {
    var crc = crc32_z(0, nil, 0)
    for piece in pieces where piece.count > 0 {
        crc = crc32_z(crc, piece.baseAddress!.assumingMemoryBound(to: UInt8.self), piece.count)
    }
    return String(format: "%08x", UInt32(crc))
}

/// Writes the entries, in order, atomically to `path`, with `metadata` and the data's checksum.
/// Identical inputs give identical bytes: JSON keys are sorted and numbers are integers, so
/// checkpoints can be compared byte for byte.
public func writeSafetensors(_ entries: [SafetensorsEntry], metadata: [String: String], to path: String) throws {
    var metadata = metadata
    metadata[dataChecksumKey] = crc32(of: entries.map(\.bytes))
    var offset = 0
    var fields: [(String, String)] = []
    for entry in entries {
        let end = offset + entry.bytes.count
        let shape = entry.shape.map(String.init).joined(separator: ",")
        fields.append((entry.name, "{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}"))
        offset = end
    }
    let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
    fields.append(("__metadata__", "{" + pairs.joined(separator: ",") + "}"))
    fields.sort { $0.0 < $1.0 }
    var header = Array(("{" + fields.map { "\(jsonString($0.0)):\($0.1)" }.joined(separator: ",") + "}").utf8)
    // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    while header.count % 8 != 0 { header.append(0x20) }
    var length = UInt64(header.count).littleEndian
    try withUnsafeBytes(of: &length) { lengthBytes in
        try header.withUnsafeBytes { headerBytes in
            try writeFileAtomically(to: path, pieces: [lengthBytes, headerBytes] + entries.map(\.bytes))
        }
    }
}

private func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case let s where s.value < 0x20:
            let hex = String(s.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A parsed safetensors file: the header has been validated against the data.
public struct SafetensorsFile: Sendable {
    public struct Tensor: Sendable, Equatable {
        public let dtype: SafetensorsDType
        public let shape: [Int]
        /// Byte range within `bytes`.
        public let range: Range<Int>
    }

    public let path: String
    public let metadata: [String: String]
    public let tensors: [String: Tensor]
    public let bytes: [UInt8]

    /// The tensor's values, after checking it is F32 with the expected shape, every value finite.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let tensor = try self.tensor(name, dtype: .F32, shape: shape)
        var values = [Float](repeating: 0, count: tensor.range.count / 4)
        try values.withUnsafeMutableBufferPointer { try copyFloats(name, tensor, into: $0.baseAddress!) }
        return values
    }

    /// Refuses a file whose metadata `format` is not `format`, calling it not a kmnist-vae `kind`,
    /// with `advice` after.
    public func checkFormat(_ format: String, kind: String, advice: String = "") throws {
        guard metadata["format"] != format else { return }
        throw VAEError(.badData, "\(path): not a kmnist-vae \(kind) (metadata format is "
                       + "\(metadata["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(format)\")\(advice)")
    }

    /// Refuses a file that lacks one of `parameters` (F32, of its shape) or holds any other
    /// tensor, naming the extra one and `owner`, the model they should fit; reads no values, so
    /// that a model can be allocated only once its file is known to hold it.
    public func checkParameters(_ parameters: [ParameterTensor], owner: String) throws {
        if let extra = Set(tensors.keys).subtracting(parameters.map(\.name)).sorted().first {
            throw VAEError(.badData, "\(path): unexpected tensor \(extra) for \(owner)")
        }
        for parameter in parameters { _ = try tensor(parameter.name, dtype: .F32, shape: parameter.shape) }
        try checkStoredInOrder(parameters.map(\.name))
    }

    /// Refuses, in a file that records its data's checksum (one the tools wrote), tensors that
    /// are not stored one after the other in the order of `names`, as the tools write them: the
    /// checksum covers the data alone, and a header whose offsets were swapped between two
    /// tensors of one shape would load each into the other's place.
    public func checkStoredInOrder(_ names: [String]) throws {
        guard metadata[dataChecksumKey] != nil else { return }
        for (earlier, later) in zip(names, names.dropFirst()) {
            guard let end = tensors[earlier]?.range.upperBound, let start = tensors[later]?.range.lowerBound else { continue }
            guard start == end else {
                throw VAEError(.badData, "\(path): tensor \(later) is not stored right after \(earlier), where the tools write it; "
                               + "the header was changed (its checksum covers only the data)")
            }
        }
    }

    /// Copies each of `parameters` to its offset in `buffer`, after `checkParameters`.
    public func copyParameters(_ parameters: [ParameterTensor], into buffer: UnsafeMutablePointer<Float>) throws {
        for parameter in parameters { try copyFloats(parameter.name, shape: parameter.shape, into: buffer + parameter.offset) }
    }

    /// Copies an F32 tensor of the expected shape into `target`, checking that every value is
    /// finite: the tools write no NaN or infinity (training stops before it would), so one is
    /// damage, and would otherwise surface far from the file as NaN losses or a crash.
    public func copyFloats(_ name: String, shape: [Int], into target: UnsafeMutablePointer<Float>) throws {
        try copyFloats(name, try self.tensor(name, dtype: .F32, shape: shape), into: target)
    }

    private func copyFloats(_ name: String, _ tensor: Tensor, into target: UnsafeMutablePointer<Float>) throws {
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawPointer(target).copyMemory(from: source.baseAddress! + tensor.range.lowerBound,
                                                       byteCount: tensor.range.count)
        }
        if let bad = (0..<tensor.range.count / 4).first(where: { !target[$0].isFinite }) {
            throw VAEError(.badData, "\(path): tensor \(name) holds \(numberText(target[bad])) at index \(bad) (the tools write only finite values)")
        }
    }

    public func uint64s(_ name: String, shape: [Int]) throws -> [UInt64] {
        let tensor = try self.tensor(name, dtype: .U64, shape: shape)
        var values = [UInt64](repeating: 0, count: tensor.range.count / 8)
        copy(tensor, into: &values)
        return values.map { UInt64(littleEndian: $0) }
    }

    public func tensor(_ name: String, dtype: SafetensorsDType, shape: [Int]) throws -> Tensor {
        guard let tensor = tensors[name] else {
            throw VAEError(.badData, "\(path): tensor \(name) is missing")
        }
        guard tensor.dtype == dtype, tensor.shape == shape else {
            throw VAEError(.badData, "\(path): tensor \(name) is \(tensor.dtype.rawValue) \(tensor.shape), expected \(dtype.rawValue) \(shape)")
        }
        return tensor
    }

    private func copy<T>(_ tensor: Tensor, into values: inout [T]) {
        values.withUnsafeMutableBytes { target in
            bytes.withUnsafeBytes { source in
                target.baseAddress!.copyMemory(from: source.baseAddress! + tensor.range.lowerBound, byteCount: tensor.range.count)
            }
        }
    }
}

/// The header limit of the reference implementation; anything larger is hostile.
public let maximumSafetensorsHeader = 100_000_000
/// The largest safetensors file we read: a run's state (its parameters and Adam's two moments, as
/// Float32) at the most parameters a run may have, under the largest header, with room to spare.
public let maximumSafetensorsFile = 8 + maximumSafetensorsHeader + 3 * 4 * RunConfig.maximumParameters + (1 << 20)

/// `verifyingChecksum: false` reads a file whose data were damaged, for what its header says.
public func readSafetensors(_ path: String, verifyingChecksum: Bool = true) throws -> SafetensorsFile {
    try parseSafetensors(try readFile(path, atMost: maximumSafetensorsFile), path: path, verifyingChecksum: verifyingChecksum)
}

/// What a file is by its first bytes, among the ones a user might pass for a checkpoint: the
/// tools' own outputs and data files, or text.
private func fileKind(of bytes: [UInt8]) -> String? {
    func bigEndian(_ magic: UInt32) -> [UInt8] { withUnsafeBytes(of: magic.bigEndian) { Array($0) } }
    let kinds: [(magic: [UInt8], kind: String)] = [(gzipMagic, "gzip data"), (Array("GIF8".utf8), "a GIF image"),
                                                   ([0x89, 0x50, 0x4e, 0x47], "a PNG image"), (bigEndian(idxImagesMagic), "an IDX images file"),
                                                   (bigEndian(idxLabelsMagic), "an IDX labels file")]
    if let known = kinds.first(where: { bytes.starts(with: $0.magic) }) { return known.kind }
    let start = bytes.prefix(8)
    return start.count == 8 && start.allSatisfy({ (0x20...0x7e).contains($0) || $0 == 0x09 || $0 == 0x0a })
        ? "text (\"\(String(decoding: start, as: UTF8.self).replacingOccurrences(of: "\n", with: "\\n"))\")" : nil
}

/// Parses and validates a safetensors file held in memory. Every inconsistency — header
/// length, JSON, dtype, shape, offsets out of range, overlapping or leaving gaps, data
/// that fail their checksum — is a `VAEError` naming `path`, never a crash.
public func parseSafetensors(_ bytes: [UInt8], path: String, verifyingChecksum: Bool = true) throws -> SafetensorsFile {
    func bad(_ problem: String) -> VAEError { VAEError(.badData, "\(path): \(problem)") }
    let (header, dataStart) = try headerObject(bytes, bad)
    var metadata: [String: String] = [:]
    var tensors: [String: SafetensorsFile.Tensor] = [:]
    // In file order (a dictionary's order changes from run to run): of several damaged entries,
    // the first is named every time, and of a file cut short, the first tensor it cuts.
    func start(_ entry: Any) -> Int { (((entry as? [String: Any])?["data_offsets"] as? [Any])?.first as? Int) ?? .max }
    for (name, value) in header.sorted(by: { (start($0.value), $0.key) < (start($1.value), $1.key) }) {
        if name == "__metadata__" {
            metadata = try metadataEntries(value, bad)
        } else {
            tensors[name] = try tensorEntry(name, value, dataStart: dataStart, dataLength: bytes.count - dataStart, bad)
        }
    }
    try checkTensorsTileTheData(tensors, from: dataStart, to: bytes.count, bad)
    if verifyingChecksum, let recorded = metadata[dataChecksumKey] {
        try checkDataChecksum(bytes, from: dataStart, recorded: recorded, bad)
    }
    return SafetensorsFile(path: path, metadata: metadata, tensors: tensors, bytes: bytes)
}

/// The header's JSON object, and where the data after it start.
private func headerObject(_ bytes: [UInt8], _ bad: (String) -> VAEError) throws -> (header: [String: Any], dataStart: Int) {
    guard bytes.count >= 8 else {
        throw bad("too short for a safetensors file (\(bytes.count) bytes)")
    }
    let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    // A header length that cannot be is, more often than damage, another kind of file given by
    // mistake: named as such when its first bytes tell (a valid length is never sniffed).
    func otherKind() -> VAEError? { fileKind(of: bytes).map { bad("not a safetensors file: it is \($0)") } }
    guard headerLength >= 2, headerLength <= UInt64(maximumSafetensorsHeader) else {
        throw otherKind() ?? bad("header length \(headerLength) is not that of a kmnist-vae file (2 to \(maximumSafetensorsHeader) bytes)")
    }
    // A copy or download that stopped early is the usual damage: say so.
    guard headerLength <= UInt64(bytes.count - 8) else {
        throw otherKind() ?? bad("the file is cut short, or its header length damaged: its \(headerLength)-byte header does not fit "
                                 + "in its \(bytes.count) bytes")
    }
    let dataStart = 8 + Int(headerLength)
    let json: Any
    do {
        json = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))
    } catch {
        throw bad("header is not valid JSON")
    }
    guard let header = json as? [String: Any] else {
        throw bad("header is not a JSON object")
    }
    return (header, dataStart)
}

/// The header's `__metadata__`: string values only.
private func metadataEntries(_ value: Any, _ bad: (String) -> VAEError) throws -> [String: String] {
    guard let map = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
    var metadata: [String: String] = [:]
    for (key, entry) in map.sorted(by: { $0.key < $1.key }) {
        guard let text = entry as? String else { throw bad("__metadata__ value of \(key) is not a string") }
        metadata[key] = text
    }
    return metadata
}

/// One tensor's entry of the header, its offsets within the `dataLength` data bytes and its
/// size checked against its shape.
private func tensorEntry(_ name: String, _ value: Any, dataStart: Int, dataLength: Int,
                         _ bad: (String) -> VAEError) throws -> SafetensorsFile.Tensor {
    guard let fields = value as? [String: Any],
          let dtypeName = fields["dtype"] as? String,
          let shapeValues = fields["shape"] as? [Any],
          let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2
    else { throw bad("tensor \(name) lacks a dtype, shape or data_offsets pair") }
    guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
        throw bad("tensor \(name) has unsupported dtype \(dtypeName)")
    }
    let shape = try shapeValues.map { try integer($0, "a shape entry of \(name)", bad) }
    let begin = try integer(offsetValues[0], "the begin offset of \(name)", bad)
    let end = try integer(offsetValues[1], "the end offset of \(name)", bad)
    guard begin <= end else { throw bad("tensor \(name) has offsets [\(begin), \(end)) that end before they begin") }
    guard end <= dataLength else {
        throw bad("the file is cut short, or its header damaged: tensor \(name) has offsets [\(begin), \(end)) past the \(dataLength) data bytes")
    }
    var size = dtype.size
    for d in shape {
        let (product, overflow) = size.multipliedReportingOverflow(by: d)
        guard !overflow, product <= dataLength else { throw bad("tensor \(name) has shape \(shape), larger than the file") }
        size = product
    }
    guard size == end - begin else {
        throw bad("tensor \(name) of shape \(shape) needs \(size) bytes but its offsets span \(end - begin)")
    }
    return .init(dtype: dtype, shape: shape, range: dataStart + begin..<dataStart + end)
}

/// The tensors must tile the data exactly: no overlaps, no gaps, nothing after the last one.
private func checkTensorsTileTheData(_ tensors: [String: SafetensorsFile.Tensor], from dataStart: Int, to fileSize: Int,
                                     _ bad: (String) -> VAEError) throws {
    var position = dataStart
    for (name, tensor) in tensors.sorted(by: { ($0.value.range.lowerBound, $0.key) < ($1.value.range.lowerBound, $1.key) }) {
        guard tensor.range.lowerBound == position else {
            throw bad(tensor.range.lowerBound < position ? "tensor \(name) overlaps another tensor"
                      : "a gap of \(tensor.range.lowerBound - position) bytes precedes tensor \(name)")
        }
        position = tensor.range.upperBound
    }
    guard position == fileSize else {
        throw bad("\(fileSize - position) bytes after the last tensor are not described by the header")
    }
}

/// The data after the header against the crc32 the file records.
private func checkDataChecksum(_ bytes: [UInt8], from dataStart: Int, recorded: String, _ bad: (String) -> VAEError) throws {
    guard recorded.count == 8, recorded.allSatisfy(\.isHexDigit) else {
        throw bad("metadata \(dataChecksumKey) has the invalid value \"\(recorded)\" (8 hex digits expected)")
    }
    let actual = bytes.withUnsafeBytes { crc32(of: [UnsafeRawBufferPointer(rebasing: $0[dataStart...])]) }
    guard actual == recorded.lowercased() else {
        throw bad("its tensor data do not match the checksum it records (crc32 \(actual), recorded \(recorded)): "
                  + "the file was damaged after it was written")
    }
}

private func integer(_ value: Any, _ what: String, _ bad: (String) -> VAEError) throws -> Int {
    // JSONSerialization yields NSNumber; fractions, negatives and values past 2^53 are refused.
    guard let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue),
          exact >= 0, exact < (1 << 53)
    else { throw bad("\(what) is not a non-negative integer") }
    return exact
}
