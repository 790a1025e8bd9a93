#define _GNU_SOURCE
#include "sgemm_clock.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

// OpenBLAS's CBLAS enums, as cblas.h numbers them.
enum { ROW_MAJOR = 101, TRANSPOSED = 112 };

typedef void (*sgemm_function)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);

static atomic_bool enabled, recording;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int threads_inside;
static uint64_t inside_since, nanoseconds;
enum { RECORD_CAPACITY = 256 };
static sgemm_clock_call recorded[RECORD_CAPACITY];
// Calls seen while recording, also past the capacity (then stop_recording refuses the step);
// atomic because two compute threads can call sgemm at once.
static atomic_int recorded_count;

static uint64_t now(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (uint64_t)time.tv_sec * 1000000000u + (uint64_t)time.tv_nsec;
}

static sgemm_function found_sgemm;

static void find_openblas_sgemm(void) {
    found_sgemm = (sgemm_function)dlsym(RTLD_NEXT, "cblas_sgemm");
    if (!found_sgemm) {
        fprintf(stderr, "vae-bench: cannot find OpenBLAS's cblas_sgemm: %s\n", dlerror());
        abort();
    }
}

// Looked up once, whichever compute thread calls sgemm first: several can at the same time.
static sgemm_function openblas_sgemm(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_openblas_sgemm);
    return found_sgemm;
}

void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    if (atomic_load_explicit(&recording, memory_order_relaxed) && order == ROW_MAJOR && alpha == 1) {
        int index = atomic_fetch_add(&recorded_count, 1);
        if (index < RECORD_CAPACITY) {
            recorded[index] = (sgemm_clock_call){transA == TRANSPOSED, transB == TRANSPOSED, m, n, k, a, b, c,
                                                 lda, ldb, ldc, beta};
        }
    }
    bool timed = atomic_load_explicit(&enabled, memory_order_relaxed);
    if (timed) {
        pthread_mutex_lock(&lock);
        if (threads_inside++ == 0) inside_since = now();
        pthread_mutex_unlock(&lock);
    }
    openblas_sgemm()(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (timed) {
        pthread_mutex_lock(&lock);
        if (--threads_inside == 0) nanoseconds += now() - inside_since;
        pthread_mutex_unlock(&lock);
    }
}

void sgemm_clock_set_enabled(bool value) { atomic_store(&enabled, value); }

uint64_t sgemm_clock_nanoseconds(void) {
    pthread_mutex_lock(&lock);
    uint64_t result = nanoseconds;
    pthread_mutex_unlock(&lock);
    return result;
}

void sgemm_clock_reset(void) {
    pthread_mutex_lock(&lock);
    nanoseconds = 0;
    pthread_mutex_unlock(&lock);
}

void sgemm_clock_start_recording(void) {
    atomic_store(&recorded_count, 0);
    atomic_store(&recording, true);
}

int sgemm_clock_stop_recording(void) {
    atomic_store(&recording, false);
    int count = atomic_load(&recorded_count);
    if (count > RECORD_CAPACITY) {
        // Replaying only the first calls would under-count "sgemm alone".
        fprintf(stderr, "vae-bench: one step made %d sgemm calls, more than the %d it can record\n", count, RECORD_CAPACITY);
        abort();
    }
    return count;
}

sgemm_clock_call sgemm_clock_recorded_call(int index) { return recorded[index]; }
