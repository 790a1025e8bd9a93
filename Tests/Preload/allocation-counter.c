// Preloaded (LD_PRELOAD) into a tool by the allocation test, which compiles it first
// (`preloadLibrary` in TestSupport): counts every heap allocation the process makes and prints
// the counts to stderr at exit, as "heap allocations: N outside sgemm, M inside". Allocations
// made inside cblas_sgemm are OpenBLAS's own (0.3.21's AVX-512 small-matrix kernels malloc a
// buffer on every call), not the project's, so they are counted apart.
// glibc's own entry points (__libc_*) do the allocating, so nothing here calls back into itself.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_long outside, inside;
static __thread int sgemm_depth;

static void count(void) {
    atomic_fetch_add_explicit(sgemm_depth > 0 ? &inside : &outside, 1, memory_order_relaxed);
}

void *malloc(size_t size) {
    count();
    return __libc_malloc(size);
}

void *calloc(size_t count_, size_t size) {
    count();
    return __libc_calloc(count_, size);
}

void *realloc(void *pointer, size_t size) {
    count();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    return memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    void *pointer = memalign(alignment, size);
    if (pointer == NULL) return 12;  // ENOMEM
    *result = pointer;
    return 0;
}

typedef void (*sgemm_function)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);

void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    static sgemm_function next;
    if (!next) {
        next = (sgemm_function)dlsym(RTLD_NEXT, "cblas_sgemm");
        if (!next) {
            fprintf(stderr, "allocation-counter: cannot find cblas_sgemm: %s\n", dlerror());
            abort();
        }
    }
    sgemm_depth++;
    next(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    sgemm_depth--;
}

__attribute__((destructor)) static void reportAllocations(void) {
    char line[96];
    int length = snprintf(line, sizeof line, "heap allocations: %ld outside sgemm, %ld inside\n",
                          (long)atomic_load(&outside), (long)atomic_load(&inside));
    if (length > 0) (void)!write(STDERR_FILENO, line, (size_t)length);
}
