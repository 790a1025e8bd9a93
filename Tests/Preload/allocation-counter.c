// Preloaded (LD_PRELOAD) into a tool by the allocation test, which compiles it first
// (`preloadLibrary` in TestSupport): counts every heap allocation the process makes and prints
// the count to stderr at exit, as "heap allocations: N".
// glibc's own entry points (__libc_*) do the allocating, so nothing here calls back into itself.
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_long allocations;

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
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

__attribute__((destructor)) static void reportAllocations(void) {
    char line[64];
    int length = snprintf(line, sizeof line, "heap allocations: %ld\n", (long)atomic_load(&allocations));
    if (length > 0) (void)!write(STDERR_FILENO, line, (size_t)length);
}
