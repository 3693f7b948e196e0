/* Creates and joins a thread with pthread_create, then with clonert_create,
 * twice each: the first time on a new stack, the second on the stack the
 * first one left in the cache. Before each step it writes a marker line with
 * write(2), so that a system call trace (scripts/docs-trace runs this under
 * strace -f) splits into one section per thread's life.
 *
 * Both kinds of thread get the same 1 MiB stack. The size matters for the
 * pthreads: clonert_refusal() below runs clonert's one-time start-up check,
 * which creates and joins one pthread with the default (RLIMIT_STACK) stack,
 * and glibc would hand that cached stack to any request of more than a
 * quarter of its size (nptl/allocatestack.c, get_cached_stack). */
#include <clonert/clonert.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { stack_size = 1 << 20 };

static void mark(const char *text)
{
    /* One write(2) system call: it shows in the trace as it is. */
    if (write(STDOUT_FILENO, text, strlen(text)) < 0)
        perror("write");
}

static void *thread_body(void *arg)
{
    return arg; /* nothing: the trace is about the thread's life, not its work */
}

static int pthread_once_round(void)
{
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_size);
    int err = pthread_create(&thread, &attr, thread_body, NULL);
    pthread_attr_destroy(&attr);
    return err != 0 ? err : pthread_join(thread, NULL);
}

static int clonert_once_round(void)
{
    clonert_attr_t attr;
    clonert_t thread;
    clonert_attr_init(&attr);
    clonert_attr_setstacksize(&attr, stack_size);
    int err = clonert_create(&thread, &attr, thread_body, NULL);
    clonert_attr_destroy(&attr);
    return err != 0 ? err : clonert_join(thread, NULL);
}

int main(void)
{
    mark("== clonert's one-time start-up check\n");
    const char *refusal = clonert_refusal();
    if (refusal != NULL) {
        fprintf(stderr, "%s\n", refusal);
        return 1;
    }
    mark("== pthread_create + pthread_join, new stack\n");
    if (pthread_once_round() != 0) return 1;
    mark("== pthread_create + pthread_join, cached stack\n");
    if (pthread_once_round() != 0) return 1;
    mark("== clonert_create + clonert_join, new stack\n");
    if (clonert_once_round() != 0) return 1;
    mark("== clonert_create + clonert_join, cached stack\n");
    if (clonert_once_round() != 0) return 1;
    mark("== end\n");
    return 0;
}
