/* The flags that hand a thread its identity and its end: CLONE_SETTLS,
 * CLONE_PARENT_SETTID, CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID and
 * CLONE_PIDFD. pthread_create uses the first four; clonert too
 * (runtime/thread/lifecycle_raw.cpp, thread_flags). See docs/clone-flags.md. */
#include "flags.h"

#include <stdint.h>

/* --- CLONE_SETTLS: the child's thread pointer ------------------------------- */

static uintptr_t child_thread_pointer;

/* Reads the thread pointer register itself. The child runs on a TLS that is
 * not glibc's, so it must not read TLS at all: no stack protector either. */
__attribute__((no_stack_protector)) static int read_thread_pointer(void *arg)
{
    (void)arg;
    uintptr_t tp;
#if defined(__x86_64__)
    long ret;
    asm volatile("syscall" /* arch_prctl(ARCH_GET_FS, &tp): fs base */
                 : "=a"(ret)
                 : "a"(SYS_arch_prctl), "D"(0x1003), "S"(&tp)
                 : "rcx", "r11", "memory");
    (void)ret;
#else
    asm volatile("mrs %0, tpidr_el0" : "=r"(tp));
#endif
    child_thread_pointer = tp;
    return 0;
}

static void show_settls(void)
{
    flag_begin("CLONE_SETTLS");
    static char not_a_real_tls[64];
    void *tls = not_a_real_tls + 32;
    volatile pid_t word = 0;
    pid_t tid = CLONE_RETRYING(clonert_clone(read_thread_pointer, new_stack(),
                              THREAD_FLAGS | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
                              NULL, &word, tls, &word));
    if (tid > 0)
        wait_cleared(&word);
    if (tid < 0)
        perror("clone");
    check(tid > 0 && child_thread_pointer == (uintptr_t)tls,
          "the child's thread pointer is the tls argument (%p)", (void *)child_thread_pointer);
}

/* --- CLONE_PARENT_SETTID: the TID, in the parent's memory, at once ---------- */

static volatile int may_finish;

static int wait_until_told(void *arg)
{
    (void)arg;
    while (!may_finish)
        sched_yield();
    return 0;
}

static void show_parent_settid(void)
{
    flag_begin("CLONE_PARENT_SETTID");
    volatile pid_t word = 0;
    may_finish = 0;
    pid_t tid = CLONE_RETRYING(clonert_clone(wait_until_told, new_stack(),
                              THREAD_FLAGS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, NULL,
                              &word, NULL, &word));
    pid_t seen_on_return = word; /* the child has not been allowed to finish */
    may_finish = 1;
    if (tid > 0)
        wait_cleared(&word);
    check(tid > 0 && seen_on_return == tid,
          "the word held the TID %d when clone returned", seen_on_return);
}

/* --- CLONE_CHILD_SETTID: the TID, in the child's memory, before it runs ----- */

struct settid_probe {
    volatile pid_t word;
    pid_t seen_first, own_tid;
};

static int look_at_word(void *arg)
{
    struct settid_probe *p = arg;
    p->seen_first = p->word;
    p->own_tid = gettid();
    return 0;
}

static void show_child_settid(void)
{
    flag_begin("CLONE_CHILD_SETTID");
    struct settid_probe *p = shared_page();
    /* A child process: the kernel stores its TID in the child's memory (here a
     * shared page, so that the parent can look too) before the child runs. */
    pid_t pid = CLONE_RETRYING(clonert_clone(look_at_word, new_stack(), SIGCHLD | CLONE_CHILD_SETTID, p, NULL,
                              NULL, &p->word));
    int status = pid > 0 ? reap(pid) : -1;
    check(status == 0 && p->seen_first == p->own_tid && p->own_tid == pid,
          "the child found its TID %d in the word as it started", p->seen_first);
}

/* --- CLONE_CHILD_CLEARTID: cleared, and a futex wake, at exit -------------- */

static void show_child_cleartid(void)
{
    flag_begin("CLONE_CHILD_CLEARTID");
    volatile pid_t word = 0;
    may_finish = 1;
    pid_t tid = CLONE_RETRYING(clonert_clone(wait_until_told, new_stack(),
                              THREAD_FLAGS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, NULL,
                              &word, NULL, &word));
    wait_cleared(&word); /* returns only once the kernel has cleared and woken it */
    check(tid > 0 && word == 0,
          "the kernel zeroed the word when thread %d exited and woke the FUTEX_WAIT on it", tid);
}

/* --- CLONE_PIDFD: a file descriptor that refers to the child --------------- */

static int exit_at_once(void *arg)
{
    (void)arg;
    return 0;
}

static void show_pidfd(void)
{
    flag_begin("CLONE_PIDFD");
    if (skip_under_qemu("qemu-user 7.2 refuses CLONE_PIDFD (EINVAL): only plain forks and "
                        "thread flag sets are emulated"))
        return;
    int pidfd = -1; /* clone() stores the descriptor where parent_tid points */
    pid_t pid = CLONE_RETRYING(clonert_clone(exit_at_once, new_stack(), SIGCHLD | CLONE_PIDFD, NULL, &pidfd));
    if (pid < 0)
        return check(0, "clone failed: %s", strerror(errno));
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
    FILE *info = fopen(path, "r");
    pid_t refers_to = 0;
    while (info != NULL && fgets(line, sizeof line, info) != NULL)
        sscanf(line, "Pid: %d", &refers_to);
    if (info != NULL)
        fclose(info);
    reap(pid);
    close(pidfd);
    check(refers_to == pid, "descriptor %d refers to child %d (/proc/self/fdinfo says %d)", pidfd,
          pid, refers_to);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    show_settls();
    show_parent_settid();
    show_child_settid();
    show_child_cleartid();
    show_pidfd();
    return finish();
}
