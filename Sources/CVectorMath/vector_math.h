// Vector operations Swift's SIMD types lack a fast path for on Linux: clang lowers these to
// single instructions (vsqrtps with AVX), where SIMD8<Float>.squareRoot() makes eight libm calls.
typedef float vector_float8 __attribute__((ext_vector_type(8)));

/// The correctly rounded square root of each lane, as IEEE 754 and PyTorch's torch.sqrt define it.
static inline vector_float8 vector_sqrt8(vector_float8 x) {
    return __builtin_elementwise_sqrt(x);
}

/// The widest vector instructions this header was compiled for. The clang importer compiles it
/// with the flags of the Swift module that imports it, so in the core this names the vector
/// code `-target-cpu native` gave the core on the machine that built it.
static inline const char *compiled_vector_extension(void) {
#if defined(__AVX512F__)
    return "AVX-512";
#elif defined(__AVX2__)
    return "AVX2";
#elif defined(__AVX__)
    return "AVX";
#elif defined(__x86_64__)
    return "SSE2";
#elif defined(__aarch64__)
    return "NEON";
#else
    return "no vector extension";
#endif
}
