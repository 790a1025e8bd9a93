// Preloaded (LD_PRELOAD) into the tools by the crash-safety tests, which compile it
// first (`preloadLibrary` in TestSupport), so that the tools themselves carry no fault injection.
// It stands in for seven libc and OpenBLAS functions and, where the environment asks for it,
// stops the process at an exact point, with no cleanup, exactly like `kill -9` or a power cut:
//
//   VAE_CRASH_AT_SGEMM=n        SIGKILL just before the n-th cblas_sgemm call (counting from 1);
//                               with --threads 1 a training step makes a fixed number of them.
//   VAE_INTERRUPT_AT_SGEMM=n    SIGINT to itself just before the n-th call, as Ctrl-C would;
//   VAE_INTERRUPT_AT_SGEMM=n,m  and again before the m-th, as Ctrl-C pressed twice.
//   VAE_INTERRUPT_AT_RENAME=n   SIGINT to itself just before the n-th rename(2) call;
//   VAE_INTERRUPT_AT_RENAME=n,m and again before the m-th (n,n: twice before the n-th).
//   VAE_TERMINATE_AT_RENAME=n   SIGTERM to itself just before the n-th rename(2) call (after any SIGINT).
//   VAE_CRASH_AFTER_RENAME=n    SIGKILL just after the n-th rename(2) call.
//   VAE_INTERRUPT_AT_QUERY=n,m  SIGINT to itself just after the n-th and the m-th sigaction(2)
//                               call that only reads SIGINT's handler (a file write's, before it
//                               defers stop signals), as Ctrl-C pressed twice in that gap.
//   VAE_CRASH_IN_FILE=n:bytes   SIGKILL once `bytes` bytes have gone into the n-th regular file
//                               the process writes (counting from 0; a file is done when it is
//                               fsynced, as every file written atomically is).
//
// or poisons a result, as a product that overflowed would, or fails a call, as a failing disk would:
//
//   VAE_NAN_AT_SGEMM=n          the n-th cblas_sgemm call's first output value becomes NaN.
//   VAE_FAIL_RENAME=suffix      rename(2) to a path ending in `suffix` fails with EIO, renaming nothing.
//   VAE_FAIL_FSYNC=suffix       fsync(2) of a file or folder whose path ends in `suffix` fails with EIO,
//                               or with the errno VAE_FSYNC_ERRNO=n gives (22, EINVAL: a file system
//                               that cannot sync folders).
//   VAE_FAIL_FSYNC_AT=n         with VAE_FAIL_FSYNC: only the n-th such fsync fails (counting from 1).
//   VAE_DENY_ACCESS=suffix      access(2) of a path ending in `suffix` for writing (W_OK) fails with
//                               EACCES, as for a folder the user may not write, which root always may.
//   VAE_DENY_READ=suffix        access(2) of a path ending in `suffix` for reading (R_OK) fails with
//                               EACCES, as for a file the user may not read.
//   VAE_DENY_SIGNAL=1           kill(2) with signal 0 (is the process there?) fails with EPERM, as
//                               for another user's live process, which only root may signal.
//
// or writes down what a power cut would undo:
//
//   VAE_TRACE_RENAMES=file      appends "rename PATH" to `file` for every rename(2) that puts a
//                               file at PATH, "fsync-folder PATH" for every fsync of a folder
//                               (a rename lasts only once its folder is synced), and "query SIGINT"
//                               for every sigaction(2) that only reads SIGINT's handler.
//
// With none of them set it only forwards each call.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long crash_at_sgemm, nan_at_sgemm, interrupt_at_sgemm, interrupt_again_at_sgemm, interrupt_at_rename, interrupt_again_at_rename,
    terminate_at_rename, crash_after_rename;
static long interrupt_at_query, interrupt_again_at_query, query_calls;
static long crash_file = -1, crash_bytes;
static long sgemm_calls, rename_calls, files_done, bytes_into_file;
static int trace_fd = -1;
static const char *fail_rename, *fail_fsync, *deny_access, *deny_read;
static int fsync_errno = EIO, deny_signal;
static long fail_fsync_at, matching_fsyncs;

__attribute__((constructor)) static void read_environment(void) {
    const char *value;
    if ((value = getenv("VAE_CRASH_AT_SGEMM"))) crash_at_sgemm = atol(value);
    if ((value = getenv("VAE_NAN_AT_SGEMM"))) nan_at_sgemm = atol(value);
    fail_rename = getenv("VAE_FAIL_RENAME");
    fail_fsync = getenv("VAE_FAIL_FSYNC");
    deny_access = getenv("VAE_DENY_ACCESS");
    deny_read = getenv("VAE_DENY_READ");
    if ((value = getenv("VAE_DENY_SIGNAL"))) deny_signal = atoi(value) != 0;
    if ((value = getenv("VAE_FSYNC_ERRNO"))) fsync_errno = atoi(value);
    if ((value = getenv("VAE_FAIL_FSYNC_AT"))) fail_fsync_at = atol(value);
    if ((value = getenv("VAE_INTERRUPT_AT_SGEMM"))) {
        char *rest;
        interrupt_at_sgemm = strtol(value, &rest, 10);
        if (*rest == ',') interrupt_again_at_sgemm = atol(rest + 1);
    }
    if ((value = getenv("VAE_INTERRUPT_AT_RENAME"))) {
        char *rest;
        interrupt_at_rename = strtol(value, &rest, 10);
        if (*rest == ',') interrupt_again_at_rename = atol(rest + 1);
    }
    if ((value = getenv("VAE_TERMINATE_AT_RENAME"))) terminate_at_rename = atol(value);
    if ((value = getenv("VAE_INTERRUPT_AT_QUERY"))) {
        char *rest;
        interrupt_at_query = strtol(value, &rest, 10);
        if (*rest == ',') interrupt_again_at_query = atol(rest + 1);
    }
    if ((value = getenv("VAE_CRASH_AFTER_RENAME"))) crash_after_rename = atol(value);
    if ((value = getenv("VAE_CRASH_IN_FILE"))) {
        if (sscanf(value, "%ld:%ld", &crash_file, &crash_bytes) != 2) {
            fprintf(stderr, "fault-injection: VAE_CRASH_IN_FILE must be n:bytes, got %s\n", value);
            abort();
        }
    }
    if ((value = getenv("VAE_TRACE_RENAMES"))) {
        trace_fd = open(value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (trace_fd < 0) {
            perror("fault-injection: VAE_TRACE_RENAMES");
            abort();
        }
    }
}

static void *next_function(const char *name) {
    void *function = dlsym(RTLD_NEXT, name);
    if (!function) {
        fprintf(stderr, "fault-injection: cannot find %s: %s\n", name, dlerror());
        abort();
    }
    return function;
}

static int is_regular_file(int fd) {
    struct stat info;
    return fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
}

static int is_folder(int fd) {
    struct stat info;
    return fstat(fd, &info) == 0 && S_ISDIR(info.st_mode);
}

static int ends_with(const char *text, const char *suffix) {
    size_t length = strlen(text), suffix_length = strlen(suffix);
    return length >= suffix_length && strcmp(text + length - suffix_length, suffix) == 0;
}

/// The path `fd` was opened with, or "" when it cannot be told.
static const char *path_of(int fd, char *path, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, path, size - 1);
    path[length > 0 ? length : 0] = 0;
    return path;
}

static void die(void) {
    kill(getpid(), SIGKILL);
    abort();
}

typedef void (*sgemm_function)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);

void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    static sgemm_function openblas_sgemm;
    if (!openblas_sgemm) openblas_sgemm = (sgemm_function)next_function("cblas_sgemm");
    long call = __atomic_add_fetch(&sgemm_calls, 1, __ATOMIC_RELAXED);
    if (call == crash_at_sgemm) die();
    if (call == interrupt_at_sgemm || call == interrupt_again_at_sgemm) kill(getpid(), SIGINT);
    openblas_sgemm(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (call == nan_at_sgemm) c[0] = __builtin_nanf("");
}

ssize_t write(int fd, const void *data, size_t count) {
    static ssize_t (*libc_write)(int, const void *, size_t);
    if (!libc_write) libc_write = (ssize_t (*)(int, const void *, size_t))next_function("write");
    if (files_done == crash_file && is_regular_file(fd)) {
        size_t left = (size_t)(crash_bytes - bytes_into_file);
        if (count >= left) {
            if (left > 0 && libc_write(fd, data, left) != (ssize_t)left) abort();
            die();
        }
        ssize_t written = libc_write(fd, data, count);
        if (written > 0) bytes_into_file += written;
        return written;
    }
    return libc_write(fd, data, count);
}

int fsync(int fd) {
    static int (*libc_fsync)(int);
    if (!libc_fsync) libc_fsync = (int (*)(int))next_function("fsync");
    char path[4096];
    if (fail_fsync && ends_with(path_of(fd, path, sizeof path), fail_fsync)
        && (++matching_fsyncs == fail_fsync_at || fail_fsync_at == 0)) {
        errno = fsync_errno;
        return -1;
    }
    int status = libc_fsync(fd);
    if (is_regular_file(fd)) files_done++;
    if (trace_fd >= 0 && status == 0 && is_folder(fd) && *path_of(fd, path, sizeof path)) {
        dprintf(trace_fd, "fsync-folder %s\n", path);
    }
    return status;
}

int access(const char *path, int mode) {
    static int (*libc_access)(const char *, int);
    if (!libc_access) libc_access = (int (*)(const char *, int))next_function("access");
    if ((deny_access && (mode & W_OK) && ends_with(path, deny_access)) || (deny_read && (mode & R_OK) && ends_with(path, deny_read))) {
        errno = EACCES;
        return -1;
    }
    return libc_access(path, mode);
}

int kill(pid_t pid, int number) {
    static int (*libc_kill)(pid_t, int);
    if (!libc_kill) libc_kill = (int (*)(pid_t, int))next_function("kill");
    if (deny_signal && number == 0) {
        errno = EPERM;
        return -1;
    }
    return libc_kill(pid, number);
}

int rename(const char *from, const char *to) {
    static int (*libc_rename)(const char *, const char *);
    if (!libc_rename) libc_rename = (int (*)(const char *, const char *))next_function("rename");
    long call = ++rename_calls;
    if (call == interrupt_at_rename) kill(getpid(), SIGINT);
    if (call == interrupt_again_at_rename) kill(getpid(), SIGINT);
    if (call == terminate_at_rename) kill(getpid(), SIGTERM);
    if (fail_rename && ends_with(to, fail_rename)) {
        errno = EIO;
        return -1;
    }
    int status = libc_rename(from, to);
    if (trace_fd >= 0 && status == 0) dprintf(trace_fd, "rename %s\n", to);
    if (rename_calls == crash_after_rename) die();
    return status;
}

int sigaction(int number, const struct sigaction *action, struct sigaction *previous) {
    static int (*libc_sigaction)(int, const struct sigaction *, struct sigaction *);
    if (!libc_sigaction) libc_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))next_function("sigaction");
    int status = libc_sigaction(number, action, previous);
    if (number == SIGINT && !action) {
        if (trace_fd >= 0) dprintf(trace_fd, "query SIGINT\n");
        long call = __atomic_add_fetch(&query_calls, 1, __ATOMIC_RELAXED);
        if (call == interrupt_at_query || call == interrupt_again_at_query) kill(getpid(), SIGINT);
    }
    return status;
}
