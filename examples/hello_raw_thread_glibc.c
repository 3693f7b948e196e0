/* hello_raw_thread_glibc.c: the twin of hello_raw_thread.c on glibc's own
 * clone(), to compare with: the same thread flags and the same join on the
 * word the kernel clears when the thread exits. Only the function called
 * (and its header) differ; both print the same lines.
 *
 *   ./hello_raw_thread_glibc
 *   hello from a raw thread
 *   main: joined the thread; it ran in this process
 */
#define _GNU_SOURCE
#include <sched.h>

#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREAD_STACK_SIZE (256 * 1024)

/* CLONE_VM, FS, FILES, SIGHAND: share memory, cwd/umask, descriptors and
 * signal handlers. CLONE_THREAD: be a thread of this process (same PID),
 * not a child to wait for. CLONE_SYSVSEM: share System V semaphore undo
 * lists. CLONE_PARENT_SETTID / CLONE_CHILD_CLEARTID: the kernel writes the
 * new TID into a word before clone returns, and clears that word and wakes
 * its futex when the thread exits: the join. */
#define THREAD_FLAGS                                                                   \
    (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | \
     CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

struct hello {
    const char *text;
    pid_t process;     /* main's PID */
    int same_process;  /* set by the thread */
};

/* The thread. It has no TLS of its own (no CLONE_SETTLS) and borrows main's,
 * so it keeps to system calls that cannot fail here (errno is main's too)
 * and stays away from stdio, malloc and anything else with per-thread state. */
static int say_hello(void *arg) {
    struct hello *h = arg;
    h->same_process = syscall(SYS_getpid) == h->process;
    syscall(SYS_write, STDOUT_FILENO, h->text, strlen(h->text));
    return 0;
}

/* Sleeps until the kernel has cleared the TID word. Its wake-up is a shared
 * futex wake, so this waits with FUTEX_WAIT (a FUTEX_WAIT_PRIVATE waiter
 * would never be woken). */
static void join(volatile pid_t *tid_word) {
    pid_t tid;
    while ((tid = *tid_word) != 0)
        syscall(SYS_futex, tid_word, FUTEX_WAIT, tid, NULL, NULL, 0);
}

int main(void) {
    char *stack = mmap(NULL, THREAD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        perror("mmap");
        return EXIT_FAILURE;
    }
    struct hello h = {"hello from a raw thread\n", getpid(), 0};
    volatile pid_t tid_word = 0;
    /* The variadic arguments: parent_tid, tls (unused here), child_tid. */
    const int tid = clone(say_hello, stack + THREAD_STACK_SIZE, THREAD_FLAGS, &h, &tid_word,
                          NULL, &tid_word);
    if (tid == -1) {
        perror("clone");
        return EXIT_FAILURE;
    }
    join(&tid_word);
    /* Only now may the stack go: the thread no longer runs on it. */
    munmap(stack, THREAD_STACK_SIZE);
    printf("main: joined the thread; it ran in %s\n",
           h.same_process ? "this process" : "ANOTHER process");
    return h.same_process ? EXIT_SUCCESS : EXIT_FAILURE;
}
