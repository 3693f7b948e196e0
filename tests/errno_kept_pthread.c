/* A thread's creator and joiner keep their errno, under the preload too
 * (issue 16). A plain pthread program that knows nothing of clonert: the
 * test runs it with libclonert-preload.so (clonert's threads), where it must
 * pass; run as it is, it shows what glibc's own threads do (glibc 2.43's
 * pthread_create under qemu-user leaves errno changed: not a test). With --expect-clonert it first checks that the preload is
 * there and accepted this glibc, so that the second run cannot pass on
 * glibc's threads by mistake.
 *
 * Each scenario runs in a child forked before any thread was made, so that
 * its first pthread_create also runs the preload's start-up work. Prints
 * "ok - NAME" or "FAIL - NAME: what"; exits 1 if any failed. */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { creators_errno = 7, threads = 8 };

static char problems[512];
static atomic_int ended;
static atomic_int started_with_nonzero_errno;

static void expect_errno(const char *after) {
    if (errno != creators_errno && strlen(problems) < sizeof problems - 64)
        snprintf(problems + strlen(problems), sizeof problems - strlen(problems), "%serrno %d after %s",
                 problems[0] ? "; " : "", errno, after);
    errno = creators_errno;
}

static void *body(void *arg) {
    if (errno != 0) atomic_fetch_add(&started_with_nonzero_errno, 1);
    errno = (int)(long)arg;
    atomic_fetch_add(&ended, 1);
    return NULL;
}

static void wait_for_ended(int count) {
    while (atomic_load(&ended) < count) sched_yield();
}

static void create(pthread_t *t, const pthread_attr_t *attr, long i) {
    if (pthread_create(t, attr, body, (void *)(100 + i)) != 0) abort();
    expect_errno("pthread_create");
}

static void join_each(void) {
    pthread_t t[threads];
    for (long i = 0; i < threads; ++i) create(&t[i], NULL, i);
    for (int i = 0; i < threads; ++i) {
        pthread_join(t[i], NULL);
        expect_errno("pthread_join");
    }
}

static void detached(void) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (long i = 0; i < threads; ++i) {
        pthread_t t;
        create(&t, &attr, i);
    }
    pthread_attr_destroy(&attr);
    wait_for_ended(threads);
}

static void detach_later(void) {
    for (long i = 0; i < threads; ++i) {
        pthread_t t;
        create(&t, NULL, i);
        if (i % 2 == 0) wait_for_ended((int)i + 1);
        pthread_detach(t);
        expect_errno("pthread_detach");
    }
    wait_for_ended(threads);
}

/* The joins with a deadline, each on a thread that has ended and on one that
 * has not yet (tryjoin says EBUSY then: not an errno). */
static void timed_joins(void) {
    struct timespec later;
    for (long i = 0; i < threads; ++i) {
        pthread_t t;
        create(&t, NULL, i);
        if (i % 2 == 0) {
            while (pthread_tryjoin_np(t, NULL) == EBUSY) {
                expect_errno("pthread_tryjoin_np (EBUSY)");
                sched_yield();
            }
            expect_errno("pthread_tryjoin_np");
        } else if (i % 4 == 1) {
            clock_gettime(CLOCK_REALTIME, &later);
            later.tv_sec += 10;
            pthread_timedjoin_np(t, NULL, &later);
            expect_errno("pthread_timedjoin_np");
        } else {
            clock_gettime(CLOCK_MONOTONIC, &later);
            later.tv_sec += 10;
            pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &later);
            expect_errno("pthread_clockjoin_np");
        }
    }
}

/* The first creation on a thread's stack that is not main's: a thread made
 * by pthread_create creates and joins in turn. */
static void *nested(void *unused) {
    (void)unused;
    errno = creators_errno;
    join_each();
    return problems[0] ? (void *)1 : NULL;
}

static void from_a_thread(void) {
    pthread_t t;
    void *result = NULL;
    if (pthread_create(&t, NULL, nested, NULL) != 0) abort();
    expect_errno("pthread_create");
    pthread_join(t, &result);
    expect_errno("pthread_join");
}

/* One creation and join, the first in its process. */
static void first_creation(void) {
    pthread_t t;
    create(&t, NULL, 0);
    pthread_join(t, NULL);
    expect_errno("pthread_join");
}

struct scenario {
    const char *name;
    void (*run)(void);
    /* In how many fresh processes: the preload's start-up work once lost
     * errno depending on timing (see tests/errno_kept.cpp). */
    int processes;
};

static const struct scenario scenarios[] = {
    {"the first pthread_create of a process, in 40 processes", first_creation, 40},
    {"pthread_create + pthread_join", join_each, 1},
    {"pthread_create detached", detached, 1},
    {"pthread_detach, before and after the end", detach_later, 1},
    {"pthread_tryjoin_np, pthread_timedjoin_np, pthread_clockjoin_np", timed_joins, 1},
    {"a thread creating and joining threads", from_a_thread, 1},
};

enum { scenario_count = sizeof scenarios / sizeof scenarios[0] };

/* Runs a scenario in this process; the exit status says whether all held. */
static void run_here(const struct scenario *s) {
    {
        errno = creators_errno;
        s->run();
        expect_errno("the scenario's end");
        if (atomic_load(&started_with_nonzero_errno) != 0)
            snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
                     "%s%d threads started with errno != 0", problems[0] ? "; " : "",
                     atomic_load(&started_with_nonzero_errno));
        if (problems[0]) printf("FAIL - %s: %s\n", s->name, problems);
        fflush(stdout);
        _exit(problems[0] ? 1 : 0);
    }
}

/* In a fresh child: natively this program executed again (nothing resolved
 * or touched yet), under qemu-user forked (it cannot execute an emulated
 * program from an emulated one without binfmt_misc). */
static int run_in_child(const struct scenario *s) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (getenv("CLONERT_UNDER_QEMU") == NULL) {
            char index[16];
            snprintf(index, sizeof index, "%d", (int)(s - scenarios));
            execl("/proc/self/exe", "errno_kept_pthread", "--scenario", index, (char *)NULL);
            printf("FAIL - %s: could not execute this program again\n", s->name);
            _exit(1);
        }
        run_here(s);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok && s->processes <= 1) printf("ok - %s\n", s->name);
    else if (!WIFEXITED(status)) printf("FAIL - %s: ended by signal %d\n", s->name, WTERMSIG(status));
    return ok;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0) {
        int i = atoi(argv[2]);
        if (i >= 0 && i < scenario_count) run_here(&scenarios[i]);
        return 2;
    }
    if (argc > 1 && strcmp(argv[1], "--expect-clonert") == 0) {
        /* The preload library holds the C API; clonert_refusal() is NULL
         * when it makes clonert threads on this glibc. */
        const char *(*refusal)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "clonert_refusal");
        if (refusal == NULL) {
            printf("FAIL - libclonert-preload.so is not loaded (LD_PRELOAD)\n");
            return 1;
        }
        /* Asked in a child: the parent must not do the start-up work the
         * scenarios' children are to do first. */
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            const char *why = refusal();
            if (why != NULL) printf("FAIL - the preload passes every thread to glibc: %s\n", why);
            fflush(stdout);
            _exit(why == NULL ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
        printf("under libclonert-preload.so: pthread_create makes clonert threads\n");
    }
    int failed = 0;
    for (int i = 0; i < scenario_count; ++i) {
        int ok = 1;
        for (int p = 0; p < (scenarios[i].processes > 1 ? scenarios[i].processes : 1) && ok; ++p)
            ok = run_in_child(&scenarios[i]);
        if (ok && scenarios[i].processes > 1) printf("ok - %s\n", scenarios[i].name);
        failed += ok ? 0 : 1;
    }
    printf("errno_kept_pthread: %d of %d scenarios failed\n", failed, (int)scenario_count);
    return failed == 0 ? 0 : 1;
}
