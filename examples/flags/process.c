/* The flags about a child process's relations: CLONE_VFORK, CLONE_PARENT,
 * CLONE_PTRACE, CLONE_UNTRACED, and clone3's CLONE_CLEAR_SIGHAND.
 * See docs/clone-flags.md. */
#include "flags.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <time.h>

static int exit_with_7(void *arg)
{
    (void)arg;
    return 7;
}

/* --- CLONE_VFORK: the parent sleeps until the child exits or execs --------- */

static int finish_late(void *arg)
{
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    *(volatile int *)arg = 1;
    return 0;
}

static void show_vfork(void)
{
    flag_begin("CLONE_VFORK");
    if (skip_under_qemu("qemu-user 7.2 runs CLONE_VFORK as a plain fork: the parent is not "
                        "suspended"))
        return;
    volatile int *done = shared_page();
    *done = 0;
    pid_t pid = clonert_clone(finish_late, new_stack(), SIGCHLD | CLONE_VM | CLONE_VFORK,
                              (void *)done);
    int done_when_clone_returned = *done;
    reap(pid);
    *done = 0;
    pid = clonert_clone(finish_late, new_stack(), SIGCHLD, (void *)done);
    int done_without = *done;
    reap(pid);
    check(pid > 0 && done_when_clone_returned == 1 && done_without == 0,
          "clone returned only after the child finished (without CLONE_VFORK: before)");
}

/* --- CLONE_PARENT: the child is the caller's sibling ----------------------- */

static int report_parent(void *arg)
{
    *(volatile pid_t *)arg = getppid();
    return 0;
}

static void show_parent(void)
{
    flag_begin("CLONE_PARENT");
    if (skip_under_qemu("qemu-user 7.2 refuses CLONE_PARENT in a fork-like clone (EINVAL)"))
        return;
    volatile pid_t *parent_seen = shared_page();
    volatile pid_t *sibling = parent_seen + 1;
    pid_t middle = fork();
    if (middle == 0) {
        /* In the middle process: its child becomes its sibling, a child of
         * the program's main process, which must reap it. */
        *sibling = clonert_clone(report_parent, new_stack(), SIGCHLD | CLONE_PARENT,
                                 (void *)parent_seen);
        _exit(*sibling > 0 ? 0 : 1);
    }
    int middle_status = reap(middle);
    int sibling_status = middle_status == 0 ? reap(*sibling) : -1;
    check(sibling_status == 0 && *parent_seen == getpid(),
          "the middle process's child has parent %d, the middle process's own parent",
          *parent_seen);
}

/* --- CLONE_PTRACE and CLONE_UNTRACED: tracing and the new child ------------ */

/* This process traces a child "middle", which clones a grandchild with
 * `flags`; `options` are the tracer's ptrace options on the middle process.
 * Returns 1 if the grandchild showed up traced by this process, 0 if not,
 * -1 if something failed. */
static int grandchild_is_traced(int flags, long options)
{
    pid_t middle = fork();
    if (middle == 0) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP); /* let the tracer set its options */
        pid_t grandchild = clonert_clone(exit_with_7, new_stack(), SIGCHLD | flags, NULL);
        _exit(grandchild > 0 && reap(grandchild) == 7 ? 0 : 1);
    }
    int status, traced = 0;
    if (waitpid(middle, &status, 0) != middle)
        return -1;
    ptrace(PTRACE_SETOPTIONS, middle, NULL, (void *)options);
    ptrace(PTRACE_CONT, middle, NULL, NULL);
    for (;;) {
        pid_t who = waitpid(-1, &status, __WALL);
        if (who < 0)
            return -1;
        if (who == middle && !WIFSTOPPED(status))
            return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? traced : -1;
        if (!WIFSTOPPED(status))
            continue;
        if (who != middle) {
            traced = 1; /* the grandchild stopped for us: we are its tracer */
            ptrace(PTRACE_DETACH, who, NULL, NULL);
            continue;
        }
        /* The middle process stopped: a ptrace event (no signal to pass on)
         * or a signal it should get, such as SIGCHLD. */
        int sig = (status >> 16) != 0 || WSTOPSIG(status) == SIGSTOP ? 0 : WSTOPSIG(status);
        ptrace(PTRACE_CONT, middle, NULL, (void *)(long)sig);
    }
}

static void show_ptrace(void)
{
    flag_begin("CLONE_PTRACE");
    if (skip_under_qemu("qemu-user 7.2 does not emulate ptrace, and refuses CLONE_PTRACE (EINVAL)"))
        return;
    int with = grandchild_is_traced(CLONE_PTRACE, 0);
    int without = grandchild_is_traced(0, 0);
    check(with == 1 && without == 0,
          "a traced process's CLONE_PTRACE child is traced too (without the flag: not)");
}

static void show_untraced(void)
{
    flag_begin("CLONE_UNTRACED");
    if (skip_under_qemu("qemu-user 7.2 does not emulate ptrace, and refuses CLONE_UNTRACED (EINVAL)"))
        return;
    /* PTRACE_O_TRACEFORK asks the kernel to trace every fork of the middle
     * process; CLONE_UNTRACED refuses that for one child. */
    int forced = grandchild_is_traced(0, PTRACE_O_TRACEFORK);
    int refused = grandchild_is_traced(CLONE_UNTRACED, PTRACE_O_TRACEFORK);
    check(forced == 1 && refused == 0,
          "PTRACE_O_TRACEFORK traces a new child, but not one made with CLONE_UNTRACED");
}

/* --- CLONE_CLEAR_SIGHAND (clone3 only): handlers reset in the child --------- */

static void on_sigusr2(int sig)
{
    (void)sig;
}

static int handler_is_default(void *arg)
{
    (void)arg;
    struct sigaction now;
    sigaction(SIGUSR2, NULL, &now);
    return now.sa_handler == SIG_DFL ? 0 : 1;
}

static void show_clear_sighand(void)
{
    flag_begin("CLONE_CLEAR_SIGHAND");
    if (skip_under_qemu("qemu-user 7.2 has no clone3 (ENOSYS)"))
        return;
    signal(SIGUSR2, on_sigusr2);
    struct clone_args args = {0};
    args.flags = CLONE_CLEAR_SIGHAND;
    args.exit_signal = SIGCHLD;
    char *top = new_stack();
    args.stack = (unsigned long)(top - 256 * 1024);
    args.stack_size = 256 * 1024;
    pid_t pid = clonert_clone3(&args, sizeof args, handler_is_default, NULL);
    int cleared = pid > 0 ? reap(pid) : -1;
    args.flags = 0;
    pid = clonert_clone3(&args, sizeof args, handler_is_default, NULL);
    int inherited = pid > 0 ? reap(pid) : -1;
    signal(SIGUSR2, SIG_DFL);
    check(cleared == 0 && inherited == 1,
          "the child's SIGUSR2 handler is back to SIG_DFL (without the flag: the parent's)");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    show_vfork();
    show_parent();
    show_ptrace();
    show_untraced();
    show_clear_sighand();
    return finish();
}
