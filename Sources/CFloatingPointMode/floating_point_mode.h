// The floating-point mode of every thread that computes: flush-to-zero (FTZ: a result below
// Float's smallest normal becomes 0) and denormals-are-zero (DAZ: such an operand reads as 0),
// the mode XLA and oneDNN run their CPU threads in. Intel cores take a microcode assist, about
// a hundred cycles, on every denormal operand or result, and Adam's moments and small gradients
// produce them. Swift has no access to MXCSR, hence this header. Elsewhere than x86-64 it does
// nothing, so every thread keeps the IEEE default there and results stay the same on any number
// of threads.
#if defined(__x86_64__)
#include <pmmintrin.h>
#endif

/// Sets FTZ and DAZ in this thread's MXCSR, unless they are set already (reading MXCSR is
/// cheap; writing it stalls the pipeline).
static inline void flush_denormals_on_this_thread(void) {
#if defined(__x86_64__)
    unsigned int mode = _mm_getcsr();
    unsigned int flush = _MM_FLUSH_ZERO_ON | _MM_DENORMALS_ZERO_ON;  // MXCSR bits 15 and 6
    if ((mode & flush) != flush) _mm_setcsr(mode | flush);
#endif
}
