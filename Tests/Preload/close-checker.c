// Preloaded (LD_PRELOAD) into a tool by the tests, which compile it first (`preloadLibrary` in
// TestSupport). It stands in for close(2) and ends the process with exit 99, saying so, when a
// descriptor is closed that is not open: a double close, which in a process with more than one
// thread can close a file another thread has just opened under the same number.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int close(int fd) {
    static int (*real_close)(int);
    if (!real_close) real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    int result = real_close(fd);
    if (result != 0 && errno == EBADF) {
        fprintf(stderr, "close-checker: close(%d) of a descriptor that is not open\n", fd);
        _exit(99);
    }
    return result;
}
