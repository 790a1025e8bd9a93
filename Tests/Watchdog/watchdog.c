// A time limit on the whole test process. A test that hangs inside the process (a training loop
// that never ends, say) cannot be stopped from within: Swift Testing's .timeLimit cancels a test's
// task but cannot end a synchronous loop, and the run waits for it forever. So this thread, started
// when the test binary loads, ends the process once it has run for VAE_TEST_PROCESS_SECONDS
// (default 420, 0 for no limit), after stopping the programs its tests started: the suite then
// fails within minutes instead of at CI's time-out. The hung test is one that the output shows
// starting and never passing or failing.

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long limit_seconds;

// Kills every child of this process and its process group (ChildProcess starts each in a group of
// its own), from each process's parent in /proc/<pid>/stat: "pid (name) state ppid ...".
static void stop_children(void) {
    DIR *proc = opendir("/proc");
    if (!proc) return;
    pid_t self = getpid();
    struct dirent *entry;
    while ((entry = readdir(proc))) {
        char path[300], stat[512];
        snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
        FILE *file = fopen(path, "r");
        if (!file) continue;
        size_t length = fread(stat, 1, sizeof stat - 1, file);
        fclose(file);
        stat[length] = 0;
        char *name_end = strrchr(stat, ')');
        int parent;
        if (name_end && sscanf(name_end + 1, " %*c %d", &parent) == 1 && parent == self) {
            pid_t child = (pid_t)atoi(entry->d_name);
            kill(-child, SIGKILL);
            kill(child, SIGKILL);
        }
    }
    closedir(proc);
}

static void *watch(void *unused) {
    (void)unused;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += limit_seconds;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR) {}
    fprintf(stderr, "\nThe test process ran past its limit of %ld s (VAE_TEST_PROCESS_SECONDS): a test hangs, one that "
                    "started above and never passed or failed. Stopping the programs the tests started, and the tests.\n",
            limit_seconds);
    stop_children();
    _exit(1);
}

__attribute__((constructor)) static void start_watchdog(void) {
    const char *setting = getenv("VAE_TEST_PROCESS_SECONDS");
    limit_seconds = setting ? strtol(setting, NULL, 10) : 420;
    if (limit_seconds <= 0) return;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    pthread_create(&thread, &attributes, watch, NULL);
    pthread_attr_destroy(&attributes);
}
