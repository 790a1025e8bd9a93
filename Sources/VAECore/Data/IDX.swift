import CZlib
import Foundation

/// The bytes of an IDX file after its header has been checked against the payload.
public struct IDXFile: Sendable {
    public let dimensions: [Int]
    public let payload: [UInt8]
}

/// Largest payload we accept: Kuzushiji-49, the biggest sibling dataset, is ~210 MB.
public let maximumIDXPayload = 1 << 30
/// Largest IDX file we read, raw or gzipped: the largest payload, its header, and room for
/// gzip's overhead on data that does not compress.
public let maximumIDXFile = maximumIDXPayload + (1 << 20)

/// Reads an IDX file, raw or gzip-compressed (recognised by its magic bytes), and checks that
/// its magic number is `magic` and that the payload is exactly as long as the header says.
///
/// The header is read first and its size checked against what the file can possibly hold
/// before anything is allocated, so a lying header cannot make us allocate gigabytes.
public func readIDX(_ path: String, magic: UInt32) throws -> IDXFile {
    try parseIDX(try readFile(path, atMost: maximumIDXFile), path: path, magic: magic)
}

/// `readIDX` on bytes already in memory; `path` only names them in errors.
public func parseIDX(_ bytes: [UInt8], path: String, magic: UInt32) throws -> IDXFile {
    func bad(_ problem: String) -> VAEError { VAEError(.badData, "\(path): \(problem)") }

    let isGzip = bytes.starts(with: gzipMagic)
    if path.hasSuffix(".gz") && !isGzip {
        throw bad("not a gzip file (it does not start with the gzip magic bytes 1f 8b)")
    }
    var source: ByteSource = isGzip ? try GzipSource(bytes, path: path) : RawSource(bytes)

    var word = [UInt8](repeating: 0, count: 4)
    func readWord(_ what: String) throws -> UInt32 {
        guard try source.read(into: &word, count: 4) == 4 else {
            throw bad(source.isTruncated ? "truncated gzip data inside the IDX header" : "file ends inside the IDX header (\(what))")
        }
        return word.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    let foundMagic = try readWord("magic number")
    guard foundMagic == magic else {
        throw bad("wrong magic number 0x\(String(format: "%08x", foundMagic)), expected 0x\(String(format: "%08x", magic))"
                  + " (\(magic == idxImagesMagic ? "IDX images of unsigned bytes" : "IDX labels of unsigned bytes"))")
    }
    var dimensions: [Int] = []
    for d in 0..<Int(magic & 0xff) {
        dimensions.append(Int(try readWord("dimension \(d + 1)")))
    }

    var payloadSize = 1
    for d in dimensions {
        let (product, overflow) = payloadSize.multipliedReportingOverflow(by: d)
        guard !overflow, product <= maximumIDXPayload else {
            throw bad("header dimensions \(dimensions) describe more than \(maximumIDXPayload) bytes")
        }
        payloadSize = product
    }
    guard payloadSize <= source.maximumRemaining else {
        throw bad(isGzip
                  ? "header dimensions \(dimensions) need \(payloadSize) bytes of data but the file can hold at most \(source.maximumRemaining) after decompression"
                  : "data is shorter than the header says: \(source.maximumRemaining) of \(payloadSize) bytes")
    }

    var payload = [UInt8](repeating: 0, count: payloadSize)
    let got = try source.read(into: &payload, count: payloadSize)
    if got < payloadSize {
        throw bad(source.isTruncated
                  ? "truncated gzip data: it ends after \(got) of the \(payloadSize) data bytes the header announces"
                  : "data is shorter than the header says: \(got) of \(payloadSize) bytes")
    }
    var extra = [UInt8](repeating: 0, count: 1)
    if try source.read(into: &extra, count: 1) > 0 {
        throw bad("data is longer than the header says (more than \(payloadSize) bytes after the header)")
    }
    try source.finish()
    return IDXFile(dimensions: dimensions, payload: payload)
}

public let idxImagesMagic: UInt32 = 0x0000_0803
public let idxLabelsMagic: UInt32 = 0x0000_0801
/// The first two bytes of a gzip file.
let gzipMagic: [UInt8] = [0x1f, 0x8b]

/// Where IDX bytes come from: the file itself, or a gzip stream inflated on demand.
private protocol ByteSource {
    /// Fills up to `count` bytes; fewer only at the end of the data.
    mutating func read(into buffer: inout [UInt8], count: Int) throws -> Int
    /// An upper bound on the bytes still to come, to refuse lying headers before allocating.
    var maximumRemaining: Int { get }
    /// True when the data ended because the compressed stream was cut short.
    var isTruncated: Bool { get }
    /// Checks that nothing is left over after the payload.
    func finish() throws
}

private struct RawSource: ByteSource {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func read(into buffer: inout [UInt8], count: Int) throws -> Int {
        let n = min(count, bytes.count - position)
        buffer.withUnsafeMutableBytes { target in
            bytes.withUnsafeBytes { source in
                target.baseAddress!.copyMemory(from: source.baseAddress! + position, byteCount: n)
            }
        }
        position += n
        return n
    }

    var maximumRemaining: Int { bytes.count - position }
    var isTruncated: Bool { false }
    func finish() throws {}
}

/// Inflates gzip data (one member or several in a row) with zlib, a piece at a time, so that
/// the payload size can be checked against the header before the payload is decompressed.
private final class GzipSource: ByteSource {
    private let input: UnsafeMutableBufferPointer<UInt8>
    private var stream = z_stream()
    private var ended = false
    private let path: String

    init(_ bytes: [UInt8], path: String) throws {
        self.path = path
        // zlib counts its input in 32 bits. Deflate barely expands incompressible data, so no
        // encoder makes 4 GiB of gzip out of the at most 1 GiB of payload we accept.
        guard bytes.count <= UInt32.max else {
            throw VAEError(.badData, "\(path): \(bytes.count) bytes of gzip data, more than any IDX payload we accept compresses to")
        }
        input = .allocate(capacity: bytes.count)
        _ = input.initialize(from: bytes)
        stream.next_in = input.baseAddress
        stream.avail_in = UInt32(bytes.count)
        // 16 + MAX_WBITS: expect a gzip wrapper and check its CRC and length.
        let status = inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        // No cleanup here: every property is set, so throwing runs deinit, which frees `input`
        // (and inflateEnd ignores a stream that failed to start).
        guard status == Z_OK else {
            throw VAEError(.failed, "\(path): zlib could not start (error \(status))")
        }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    func read(into buffer: inout [UInt8], count: Int) throws -> Int {
        if ended || count == 0 { return 0 }
        return try buffer.withUnsafeMutableBytes { target -> Int in
            stream.next_out = target.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(count)
            inflating: while stream.avail_out > 0 {
                switch inflate(&stream, Z_NO_FLUSH) {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    // Concatenated members are one file, as gzip(1) reads them (`cat a.gz b.gz`,
                    // bgzip's blocks); any other bytes after a member are trailing data.
                    if stream.avail_in >= 2 && stream.next_in[0] == 0x1f && stream.next_in[1] == 0x8b {
                        inflateReset(&stream)
                        continue
                    }
                    ended = true
                    break inflating
                case Z_BUF_ERROR:
                    // No progress is possible: the input ran out before the stream ended.
                    break inflating
                case let status:
                    let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw VAEError(.badData, "\(path): corrupt gzip data (\(reason))")
                }
            }
            return count - Int(stream.avail_out)
        }
    }

    /// Deflate expands at most 1032:1, so a header may not promise more than that.
    var maximumRemaining: Int { Int(stream.avail_in) * 1032 + 1024 }

    var isTruncated: Bool { !ended && stream.avail_in == 0 }

    func finish() throws {
        if !ended {
            throw VAEError(.badData, "\(path): truncated gzip data (the compressed stream has no end)")
        }
        if stream.avail_in > 0 {
            throw VAEError(.badData, "\(path): \(count: Int(stream.avail_in), "byte") of trailing data after the gzip data")
        }
    }
}

/// The header of an IDX file: its big-endian magic and dimensions, which the payload follows.
public func idxHeader(magic: UInt32, dimensions: [Int]) -> [UInt8] {
    ([magic] + dimensions.map(UInt32.init)).flatMap { (word: UInt32) -> [UInt8] in withUnsafeBytes(of: word.bigEndian, Array.init) }
}

/// Gzip-compresses the concatenation of `pieces` (an IDX header and its payload, say), without
/// joining them first: the largest sample file would otherwise be held twice more. Zlib deflate
/// with a gzip wrapper, best compression; the header carries no name or time stamp, so equal
/// input gives equal output.
public func gzipCompress(pieces: [UnsafeRawBufferPointer]) -> [UInt8] {
    if pieces.isEmpty { return [UInt8]().withUnsafeBytes { gzipCompress(pieces: [$0]) } }
    var stream = z_stream()
    // 16 + MAX_WBITS asks zlib for a gzip wrapper; memLevel 8 is zlib's default.
    let status = deflateInit2_(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    precondition(status == Z_OK, "zlib deflateInit2 failed: \(status)")
    defer { deflateEnd(&stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    for (index, piece) in pieces.enumerated() {
        let last = index == pieces.count - 1
        // zlib reads through a mutable pointer but does not write the input.
        stream.next_in = UnsafeMutablePointer(mutating: piece.assumingMemoryBound(to: Bytef.self).baseAddress)
        stream.avail_in = UInt32(piece.count)
        var result: Int32
        repeat {
            result = chunk.withUnsafeMutableBufferPointer { target in
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH)
            }
            precondition(result == Z_OK || result == Z_STREAM_END || result == Z_BUF_ERROR, "zlib deflate failed: \(result)")
            output += chunk[..<(chunk.count - Int(stream.avail_out))]
        } while last ? result != Z_STREAM_END : stream.avail_in > 0 || stream.avail_out == 0
    }
    return output
}
