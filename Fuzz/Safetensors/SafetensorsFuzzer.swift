import VAECore

/// libFuzzer entry point for `parseCheckpoint`: the safetensors parser, then the checks of the
/// metadata and every tensor against the configuration, and the model allocation they guard.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? parseCheckpoint(Array(UnsafeBufferPointer(start: data, count: size)), path: "fuzz.safetensors")
    return 0
}
