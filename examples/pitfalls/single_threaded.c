/* Single-thread mode: glibc counts only the threads it creates.
 *
 * While a process has never called pthread_create, glibc keeps
 * __libc_single_threaded set and skips locks on that basis: malloc takes its
 * main arena without the arena lock (malloc/malloc.c, SINGLE_THREAD_P), stdio
 * skips its stream locks. Only pthread_create clears it
 * (nptl/pthread_create.c, __pthread_create_2_1). A thread made with a raw
 * clone() goes unnoticed: two such threads calling malloc at once corrupt the
 * heap. clonert creates (and joins) one pthread before its first thread
 * (runtime/glibc/layout.cpp, learn_from_live_thread), which switches the process for good.
 *
 * This program must start as a fresh process, so it is a program and not a
 * test case in tests/test_pitfalls.cpp: a fork keeps the flag as it was. It
 * prints the flag at each step and exits 0 if each is what glibc's source
 * says. docs/pitfalls.md shows its output. */
#include <clonert/clone.h>
#include <clonert/clonert.h>

#include <linux/futex.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

static int do_nothing(void *arg)
{
    (void)arg;
    return 0;
}

static void *do_nothing_either(void *arg)
{
    return arg;
}

/* A thread from a raw clone: shares memory and TLS, runs do_nothing. */
static int raw_thread(void)
{
    const size_t size = 64 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED)
        return -1;
    volatile pid_t word = 0;
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    if (clonert_clone(do_nothing, stack + size, flags, NULL, &word, NULL, &word) < 0)
        return -1;
    for (pid_t seen; (seen = word) != 0;) /* the kernel's wake is shared: FUTEX_WAIT */
        syscall(SYS_futex, &word, FUTEX_WAIT, seen, NULL, NULL, 0);
    munmap(stack, size);
    return 0;
}

int main(void)
{
    int at_start = __libc_single_threaded;
    printf("at start:                          __libc_single_threaded = %d\n", at_start);

    if (raw_thread() != 0)
        return 2;
    int after_raw = __libc_single_threaded;
    printf("after a raw clone() thread:        __libc_single_threaded = %d  (glibc did not notice)\n",
           after_raw);

    clonert_t t;
    if (clonert_create(&t, NULL, do_nothing_either, NULL) != 0 || clonert_join(t, NULL) != 0)
        return 2;
    int after_clonert = __libc_single_threaded;
    printf("after a clonert_create() thread:   __libc_single_threaded = %d\n", after_clonert);

    return at_start == 1 && after_raw == 1 && after_clonert == 0 ? 0 : 1;
}
