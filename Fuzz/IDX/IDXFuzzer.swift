import VAECore

/// libFuzzer entry point for `parseIDX`. The first byte picks how the rest is read, so that one
/// corpus covers the four ways vae-train reads a file: bit 0 the magic (images or labels), bit 1
/// a name ending in .gz (which refuses raw data; without it, gzip is still recognised by its
/// magic bytes).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let magic = data[0] & 1 != 0 ? idxImagesMagic : idxLabelsMagic
    let path = data[0] & 2 != 0 ? "fuzz-idx.gz" : "fuzz-idx"
    _ = try? parseIDX(Array(UnsafeBufferPointer(start: data + 1, count: size - 1)), path: path, magic: magic)
    return 0
}
