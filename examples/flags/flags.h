/* What the clone flag examples share: stacks for children, waiting for them,
 * and a report of one line per flag.
 *
 * Each program shows a few flags of clone(2). For every flag it prints
 *   ok: CLONE_X: what was seen
 * or FAILED: ..., or, for what qemu-user cannot emulate,
 *   SKIPPED: CLONE_X: reason
 * and ends with the summary line Catch2 prints, so that scripts/test counts
 * each flag as one test case. It exits 0 when nothing failed.
 *
 * Children that share the parent's memory but not a TLS of their own (no
 * CLONE_SETTLS) run on the parent's TLS: they call only system call wrappers
 * that touch no thread state when they succeed, never printf or malloc. */
#ifndef CLONERT_EXAMPLES_FLAGS_H
#define CLONERT_EXAMPLES_FLAGS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <clonert/clone.h>

#include <errno.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The flags a thread needs, and all that qemu-user 7.2 accepts for one
 * (linux-user/syscall.c, CLONE_THREAD_FLAGS). */
#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

static int cases, failed_cases, skipped_cases, current_failed;
static const char *current_flag;

static inline void flag_begin(const char *flag)
{
    current_flag = flag;
    current_failed = 0;
    ++cases;
}

/* One observation about the current flag. */
static inline void check(int ok, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    printf("%s: %s: ", ok ? "ok" : "FAILED", current_flag);
    vprintf(format, ap);
    printf("\n");
    va_end(ap);
    if (!ok && !current_failed) {
        current_failed = 1;
        ++failed_cases;
    }
}

static inline int under_qemu(void)
{
    const char *v = getenv("CLONERT_UNDER_QEMU");
    return v != NULL && strcmp(v, "1") == 0;
}

/* Under qemu, reports the current flag as skipped and returns 1.
 * CLONERT_FLAGS_NO_SKIP=1 runs it anyway, to see qemu fail. */
static inline int skip_under_qemu(const char *reason)
{
    const char *force = getenv("CLONERT_FLAGS_NO_SKIP");
    if (!under_qemu() || (force != NULL && strcmp(force, "1") == 0))
        return 0;
    printf("SKIPPED: %s: %s\n", current_flag, reason);
    ++skipped_cases;
    return 1;
}

/* The summary line Catch2 prints; scripts/count-results reads it. */
static inline int finish(void)
{
    if (failed_cases == 0)
        printf("All tests passed (%d assertions in %d test cases)\n", cases, cases);
    else
        printf("test cases: %d | %d passed | %d failed\n", cases, cases - failed_cases,
               failed_cases);
    return failed_cases == 0 ? 0 : 1;
}

/* The top of a fresh 256 KiB stack for a child (stacks grow down). Never
 * freed: a handful per program. */
static inline void *new_stack(void)
{
    const size_t size = 256 * 1024;
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                      -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return base + size;
}

/* Memory both sides of a fork-like clone see: MAP_SHARED survives the copy. */
static inline void *shared_page(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

/* Waits until the kernel clears a CLONE_CHILD_CLEARTID word. Its wake-up is a
 * shared futex wake (kernel/fork.c, mm_release): wait with FUTEX_WAIT, never
 * FUTEX_WAIT_PRIVATE (see docs/pitfalls.md). */
/* clone(2) again while the kernel says EAGAIN: out of PIDs or threads for a
 * moment (a test suite run in parallel can use thousands; pid_max may be
 * 32768), which is not what these programs show. At most a second. */
#define CLONE_RETRYING(call)                                              \
    ({                                                                    \
        pid_t clone_result_;                                              \
        int clone_tries_ = 0;                                             \
        while ((clone_result_ = (call)) < 0 && errno == EAGAIN && ++clone_tries_ < 100) \
            usleep(10 * 1000);                                            \
        clone_result_;                                                    \
    })

static inline void wait_cleared(volatile pid_t *word)
{
    for (pid_t seen; (seen = *word) != 0;)
        syscall(SYS_futex, word, FUTEX_WAIT, seen, NULL, NULL, 0);
}

/* Starts fn(arg) as a thread of this process with THREAD_FLAGS plus
 * `extra`, and returns once it has exited (or -1 with errno if clone failed). */
static inline pid_t run_thread(int (*fn)(void *), void *arg, int extra)
{
    static volatile pid_t join_word;
    join_word = 0;
    pid_t tid = CLONE_RETRYING(clonert_clone(fn, new_stack(),
                              THREAD_FLAGS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | extra,
                              arg, &join_word, NULL, &join_word));
    if (tid > 0)
        wait_cleared(&join_word);
    return tid;
}

/* Waits for a child process; returns its exit status, or 128 + the signal
 * that killed it, or -1. __WALL: also children with no SIGCHLD at exit. */
static inline int reap(pid_t pid)
{
    int status;
    pid_t r;
    do
        r = waitpid(pid, &status, __WALL);
    while (r == -1 && errno == EINTR);
    if (r != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Starts fn(arg) as a child process (SIGCHLD at exit) with `flags` added and
 * returns its exit status, or -1 with errno if clone failed. */
static inline int run_process(int (*fn)(void *), void *arg, int flags)
{
    pid_t pid = CLONE_RETRYING(clonert_clone(fn, new_stack(), SIGCHLD | flags, arg));
    return pid < 0 ? -1 : reap(pid);
}

#endif
