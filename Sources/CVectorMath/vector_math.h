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

/// Stores eight floats at `p` (32-byte aligned) with a non-temporal store: the line goes to
/// memory without being read into this core's caches first, and every cached copy of it,
/// another core's included, is dropped. For buffers another thread has read since they were
/// last written: before an ordinary store to such a line, the core must take back the other's
/// copy, and when the two cores share no cache that waits a round trip between them which
/// is not overlapped with the next (Adam's update of pytorch-example's 652,824 parameters took
/// 1.4 ms a step so, 0.2 ms this way; docs/performance.md). Adam's parameters and the Bernoulli
/// loss's gradient are stored this way.
static inline void vector_store_nontemporal8(float *p, vector_float8 x) {
    __builtin_nontemporal_store(x, (vector_float8 *)p);
}

/// Orders this thread's non-temporal stores before its later stores, so that a thread that sees
/// a job's completion also sees what the job stored that way (x86's release ordering covers
/// ordinary stores only).
static inline void vector_store_fence(void) {
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}
