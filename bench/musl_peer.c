/* clonert-bench-musl-peer: pthread_create + pthread_join as musl makes them,
 * in a statically linked program of its own, for the create+join table of
 * clonert-bench (docs/benchmark.md). Built with musl-gcc (Debian's
 * musl-tools) when it is installed.
 *
 * clonert-bench starts it once and drives it through stdin and stdout, block
 * by block, in the same rotation as its own thread variants:
 *
 *   on start, it writes      ready STACK GUARD   (musl's default stack and guard sizes)
 *   "block N W CPU\n"        W untimed lifecycles, then N timed ones, pinned
 *                            to CPU (-1: the CPUs it was started with); it
 *                            writes N lines "CREATE START JOIN TOTAL", then
 *                            "done FAULTS SWITCHES"
 *   "quit\n"                 exits 0
 *
 * Times are in ticks of the CPU's constant-rate counter, the one
 * clonert-bench reads and has calibrated (the same on every CPU of the
 * machine); CREATE is the create call, START the create call to the child's
 * first instruction, JOIN the child's last instruction to the return of
 * join, TOTAL the create call to the return of join. START and JOIN are
 * signed: two CPUs' counters may disagree by a few ticks. FAULTS and
 * SWITCHES are minor page faults and context switches of the whole peer
 * during the timed lifecycles.
 *
 * Like every child in clonert-bench, the thread only takes two time stamps.
 * musl's defaults differ from glibc's: a 128 KiB stack (not RLIMIT_STACK's),
 * mapped at each create and unmapped by the exiting thread itself (no stack
 * cache): musl src/thread/pthread_create.c and pthread_exit's __unmapself. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static inline uint64_t ticks(void) {
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t count;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(count) : : "memory");
    return count;
#else
#error "clonert-bench supports x86_64 and aarch64"
#endif
}

struct stamps {
    uint64_t first, last;
};

static void *stamp_body(void *arg) {
    struct stamps *s = arg;
    s->first = ticks();
    s->last = ticks();
    return NULL;
}

static cpu_set_t started_with;

static int pin(int cpu) {
    if (cpu < 0) return sched_setaffinity(0, sizeof started_with, &started_with);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one);
}

static int lifecycle(struct stamps *s, uint64_t *t0, uint64_t *t1, uint64_t *t2) {
    pthread_t t;
    *t0 = ticks();
    int err = pthread_create(&t, NULL, stamp_body, s);
    *t1 = ticks();
    if (err == 0) err = pthread_join(t, NULL);
    *t2 = ticks();
    return err;
}

static void usage(long *faults, long *switches) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    *faults = r.ru_minflt;
    *switches = r.ru_nvcsw + r.ru_nivcsw;
}

static int block(int n, int warmup, int cpu) {
    if (pin(cpu) != 0) {
        printf("error sched_setaffinity to CPU %d: %s\n", cpu, strerror(errno));
        return 0;
    }
    struct stamps s;
    uint64_t t0, t1, t2;
    for (int i = 0; i < warmup; ++i) {
        const int err = lifecycle(&s, &t0, &t1, &t2);
        if (err != 0) {
            printf("error pthread_create or join: %s\n", strerror(err));
            return 0;
        }
    }
    long faults0, switches0, faults1, switches1;
    usage(&faults0, &switches0);
    for (int i = 0; i < n; ++i) {
        const int err = lifecycle(&s, &t0, &t1, &t2);
        if (err != 0) {
            printf("error pthread_create or join: %s\n", strerror(err));
            return 0;
        }
        printf("%llu %lld %lld %llu\n", (unsigned long long)(t1 - t0),
               (long long)(s.first - t0), (long long)(t2 - s.last),
               (unsigned long long)(t2 - t0));
    }
    usage(&faults1, &switches1);
    printf("done %ld %ld\n", faults1 - faults0, switches1 - switches0);
    return 1;
}

int main(void) {
    sched_getaffinity(0, sizeof started_with, &started_with);
    pthread_attr_t attr;
    size_t stack = 0, guard = 0;
    if (pthread_getattr_default_np(&attr) == 0) {
        pthread_attr_getstacksize(&attr, &stack);
        pthread_attr_getguardsize(&attr, &guard);
        pthread_attr_destroy(&attr);
    }
    /* A block's lines leave in one write at its end: a write in the middle
     * would wake clonert-bench, pinned to the same CPU, between two timed
     * lifecycles, which no variant in its own process has to bear. */
    static char out[1 << 20];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    printf("ready %zu %zu\n", stack, guard);
    fflush(stdout);
    char line[128];
    while (fgets(line, sizeof line, stdin) != NULL) {
        int n, warmup, cpu;
        if (strncmp(line, "quit", 4) == 0) return 0;
        if (sscanf(line, "block %d %d %d", &n, &warmup, &cpu) != 3) {
            printf("error unknown command: %s", line);
            return 1;
        }
        const int ok = block(n, warmup, cpu);
        fflush(stdout);
        if (!ok) return 1;
    }
    return 0;
}
