// The benchmark's clock around OpenBLAS's cblas_sgemm. Linked into vae-bench only, where its
// definition of cblas_sgemm takes the place of OpenBLAS's for every call the program makes, and
// forwards each call to OpenBLAS's own: the model's code has no timing in it.
#include <stdbool.h>
#include <stdint.h>

/// One recorded call, row-major: C = op(A) op(B) + beta C.
typedef struct {
    bool transA, transB;
    int m, n, k;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
    float beta;
} sgemm_clock_call;

/// Starts or stops the clock. Time counts while at least one thread is inside sgemm, so a
/// product that the compute threads split counts once, for as long as its longest part takes.
void sgemm_clock_set_enabled(bool enabled);
/// Nanoseconds counted since the last reset.
uint64_t sgemm_clock_nanoseconds(void);
void sgemm_clock_reset(void);

/// While recording, every call is also stored (up to 256); `sgemm_clock_stop_recording` returns
/// how many were, and stops the program if there were more.
void sgemm_clock_start_recording(void);
int sgemm_clock_stop_recording(void);
sgemm_clock_call sgemm_clock_recorded_call(int index);
