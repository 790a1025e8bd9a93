import VAETesting

/// libFuzzer entry point for `decodeGIF`: the structural pre-scan, giflib's DGifSlurp and the
/// compositing of frames.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGIF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? decodeGIF(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
