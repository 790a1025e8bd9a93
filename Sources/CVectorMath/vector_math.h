// Vector operations Swift's SIMD types lack a fast path for on Linux: clang lowers these to
// single instructions (vsqrtps with AVX), where SIMD8<Float>.squareRoot() makes eight libm calls.
typedef float vector_float8 __attribute__((ext_vector_type(8)));

/// The correctly rounded square root of each lane, as IEEE 754 and PyTorch's torch.sqrt define it.
static inline vector_float8 vector_sqrt8(vector_float8 x) {
    return __builtin_elementwise_sqrt(x);
}
