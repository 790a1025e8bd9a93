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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long limit_seconds;

// Kills every process below this one in the process tree, and the process group of each child
// (ChildProcess starts each in a group of its own), from each process's parent in
// /proc/<pid>/stat: "pid (name) state ppid ...". The tree is read whole before anything is
// killed: a killed process's children move to init. A process below a child in a session of its
// own (`setsid`, as `script` starts its command) is in neither, and is found by its parent.
// Static tables, so that nothing is allocated in a process about to end.
enum { MAX_PROCESSES = 32768 };
static pid_t process_ids[MAX_PROCESSES], parent_ids[MAX_PROCESSES], below[MAX_PROCESSES];

static void stop_children(void) {
    DIR *proc = opendir("/proc");
    if (!proc) return;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(proc)) && count < MAX_PROCESSES) {
        char path[300], stat[512];
        snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
        FILE *file = fopen(path, "r");
        if (!file) continue;
        size_t length = fread(stat, 1, sizeof stat - 1, file);
        fclose(file);
        stat[length] = 0;
        char *name_end = strrchr(stat, ')');
        int parent;
        if (name_end && sscanf(name_end + 1, " %*c %d", &parent) == 1) {
            process_ids[count] = (pid_t)atoi(entry->d_name);
            parent_ids[count++] = parent;
        }
    }
    closedir(proc);
    pid_t self = getpid();
    int found = 0;
    below[found++] = self;
    for (int i = 0; i < found; i++) {
        for (int j = 0; j < count && found < MAX_PROCESSES; j++) {
            if (parent_ids[j] == below[i]) below[found++] = process_ids[j];
        }
    }
    for (int j = 0; j < count; j++) {
        if (parent_ids[j] == self) kill(-process_ids[j], SIGKILL);
    }
    for (int i = 1; i < found; i++) kill(below[i], SIGKILL);
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

// Ctrl-C (or SIGTERM, SIGHUP) ends the test process without running any test's `defer`, and the
// programs its tests started, each in a process group of its own that the terminal's signal does
// not reach, would run on: a trainer of 100,000 epochs writing a checkpoint each into /tmp, a
// `sleep 600`. So a handler passes these signals through a pipe (a handler may do little more) to
// a thread of this file, which stops those programs and then ends the process as the signal would
// have. (Blocking the signals for a thread to sigwait does not hold: the main thread's mask is
// cleared after this file's constructor runs.)
static int signal_pipe[2];
// Set once a signal is being passed on. Stopping the programs can end the test that waited for
// them, and the process with it (exit status 0) before the signal is raised again: an exit that
// comes after this is set waits for the raise instead.
static atomic_int stopping;

static void wait_for_the_signal(void) {
    if (atomic_load(&stopping)) {
        for (;;) pause();
    }
}

static void pass_signal_on(int received) {
    unsigned char number = (unsigned char)received;
    ssize_t written = write(signal_pipe[1], &number, 1);
    (void)written;
}

static void *stop_children_on_signal(void *unused) {
    (void)unused;
    unsigned char received;
    while (read(signal_pipe[0], &received, 1) != 1) {}
    atomic_store(&stopping, 1);
    stop_children();
    signal(received, SIG_DFL);
    raise(received);
    _exit(128 + received);
}

static void start_detached(void *(*body)(void *)) {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    pthread_create(&thread, &attributes, body, NULL);
    pthread_attr_destroy(&attributes);
}

__attribute__((constructor)) static void start_watchdog(void) {
    if (pipe(signal_pipe) == 0) {
        start_detached(stop_children_on_signal);
        struct sigaction action = {.sa_handler = pass_signal_on};
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, NULL);
        sigaction(SIGTERM, &action, NULL);
        sigaction(SIGHUP, &action, NULL);
        atexit(wait_for_the_signal);
    }
    const char *setting = getenv("VAE_TEST_PROCESS_SECONDS");
    limit_seconds = setting ? strtol(setting, NULL, 10) : 420;
    if (limit_seconds > 0) start_detached(watch);
}
