/* What a thread shares with its creator, flag by flag: CLONE_VM, CLONE_FS,
 * CLONE_FILES, CLONE_SIGHAND, CLONE_THREAD, CLONE_SYSVSEM, CLONE_IO, and the
 * ignored CLONE_DETACHED. Each is shown on a thread made with the flag and,
 * for contrast, on a child process made without it (a plain fork-like clone).
 * See docs/clone-flags.md. */
#include "flags.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/sem.h>

/* --- CLONE_VM: one address space ------------------------------------------- */

static int written_by_child;

static int write_memory(void *arg)
{
    (void)arg;
    written_by_child = 42;
    return 0;
}

static void show_vm(void)
{
    flag_begin("CLONE_VM");
    written_by_child = 0;
    run_thread(write_memory, NULL, 0);
    check(written_by_child == 42, "a thread's store is seen by the parent (%d)", written_by_child);
    written_by_child = 0;
    int status = run_process(write_memory, NULL, 0);
    check(status == 0 && written_by_child == 0,
          "without CLONE_VM the child stored into its own copy (parent still sees %d)",
          written_by_child);
}

/* --- CLONE_FS: one working directory and umask ----------------------------- */

static int change_directory(void *arg)
{
    return chdir((const char *)arg) == 0 ? 0 : 1;
}

static void show_fs(void)
{
    flag_begin("CLONE_FS");
    char before[4096], after[4096];
    if (getcwd(before, sizeof before) == NULL)
        return check(0, "getcwd failed");
    run_thread(change_directory, "/", 0);
    if (getcwd(after, sizeof after) == NULL)
        return check(0, "getcwd failed");
    check(strcmp(after, "/") == 0, "a thread's chdir(\"/\") moved the parent to %s", after);
    if (chdir(before) != 0)
        return check(0, "could not go back to %s", before);
    int status = run_process(change_directory, "/", 0);
    if (getcwd(after, sizeof after) == NULL)
        return check(0, "getcwd failed");
    check(status == 0 && strcmp(after, before) == 0,
          "without CLONE_FS a child's chdir(\"/\") left the parent in %s", after);
}

/* --- CLONE_FILES: one file descriptor table -------------------------------- */

static int open_dev_null(void *arg)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    *(volatile int *)arg = fd; /* a shared page, so that a child process can tell */
    return fd < 0;
}

static void show_files(void)
{
    flag_begin("CLONE_FILES");
    int *fd = shared_page();
    run_thread(open_dev_null, fd, 0);
    check(*fd >= 0 && fcntl(*fd, F_GETFD) != -1, "descriptor %d a thread opened is open in the parent",
          *fd);
    close(*fd);
    int status = run_process(open_dev_null, fd, 0);
    check(status == 0 && fcntl(*fd, F_GETFD) == -1,
          "without CLONE_FILES descriptor %d the child opened is not the parent's", *fd);
}

/* --- CLONE_SIGHAND: one table of signal dispositions ------------------------ */

static void on_sigusr2(int sig)
{
    (void)sig;
}

static int install_handler(void *arg)
{
    (void)arg;
    struct sigaction sa = {0};
    sa.sa_handler = on_sigusr2;
    return sigaction(SIGUSR2, &sa, NULL) != 0;
}

static void (*handler_of(int sig))(int)
{
    struct sigaction now;
    sigaction(sig, NULL, &now);
    return now.sa_handler;
}

static void show_sighand(void)
{
    flag_begin("CLONE_SIGHAND");
    signal(SIGUSR2, SIG_DFL);
    run_thread(install_handler, NULL, 0);
    check(handler_of(SIGUSR2) == on_sigusr2, "a handler a thread installed is the parent's");
    signal(SIGUSR2, SIG_DFL);
    int status = run_process(install_handler, NULL, 0);
    check(status == 0 && handler_of(SIGUSR2) == SIG_DFL,
          "without CLONE_SIGHAND the child's sigaction changed only its copy");
}

/* --- CLONE_THREAD: one thread group (one PID) ------------------------------ */

struct ids {
    pid_t pid, tid;
};

static int report_ids(void *arg)
{
    struct ids *out = arg;
    out->pid = getpid();
    out->tid = gettid();
    return 0;
}

static void show_thread(void)
{
    flag_begin("CLONE_THREAD");
    struct ids *seen = shared_page();
    run_thread(report_ids, seen, 0);
    check(seen->pid == getpid() && seen->tid != getpid(),
          "the thread has the parent's PID %d and its own TID %d", seen->pid, seen->tid);
    int status = run_process(report_ids, seen, 0);
    check(status == 0 && seen->pid != getpid() && seen->pid == seen->tid,
          "without CLONE_THREAD the child is a process of its own, PID %d", seen->pid);
}

/* --- CLONE_SYSVSEM: one list of semaphore adjustments to undo at exit ------ */

static int semaphore = -1;

static int raise_with_undo(void *arg)
{
    (void)arg;
    struct sembuf up = {.sem_num = 0, .sem_op = 1, .sem_flg = SEM_UNDO};
    return semop(semaphore, &up, 1) != 0;
}

static void show_sysvsem(void)
{
    flag_begin("CLONE_SYSVSEM");
    semaphore = semget(IPC_PRIVATE, 1, 0600);
    if (semaphore < 0)
        return check(0, "semget failed: %s", strerror(errno));
    /* The undo list is shared with this process, which lives on: the +1 the
     * thread made with SEM_UNDO stays when the thread exits. */
    run_thread(raise_with_undo, NULL, 0);
    int kept = semctl(semaphore, 0, GETVAL);
    check(kept == 1, "a thread's SEM_UNDO adjustment outlives the thread (value %d)", kept);
    if (!skip_under_qemu("qemu-user 7.2 refuses a thread without CLONE_SYSVSEM (EINVAL)")) {
        semctl(semaphore, 0, SETVAL, 0);
        pid_t tid = clonert_clone(raise_with_undo, new_stack(),
                                  (THREAD_FLAGS & ~CLONE_SYSVSEM) | CLONE_PARENT_SETTID |
                                      CLONE_CHILD_CLEARTID,
                                  NULL, &(pid_t){0}, NULL, NULL);
        /* Without a join word to wait on, wait for the undo itself. */
        int value = 1;
        for (int i = 0; tid > 0 && i < 1000 && (value = semctl(semaphore, 0, GETVAL)) != 0; ++i)
            usleep(1000);
        check(tid > 0 && value == 0,
              "without CLONE_SYSVSEM the thread's own undo list was applied at its exit (value %d)",
              value);
    }
    semctl(semaphore, 0, IPC_RMID);
}

/* --- CLONE_IO: one I/O context (and so one I/O priority) ------------------- */

#define IOPRIO_CLASS_BE 2
#define IOPRIO_VALUE(class, level) (((class) << 13) | (level))

static int set_io_priority(void *arg)
{
    return syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)(long)arg) != 0;
}

static void show_io(void)
{
    flag_begin("CLONE_IO");
    if (skip_under_qemu("qemu-user 7.2 accepts CLONE_IO but ignores it: its threads are host "
                        "pthreads with I/O contexts of their own"))
        return;
    /* Give this thread an I/O context, then let a thread that shares it
     * change the priority stored there (block/ioprio.c). */
    syscall(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(IOPRIO_CLASS_BE, 7));
    run_thread(set_io_priority, (void *)(long)IOPRIO_VALUE(IOPRIO_CLASS_BE, 2), CLONE_IO);
    long shared = syscall(SYS_ioprio_get, 1, 0);
    run_thread(set_io_priority, (void *)(long)IOPRIO_VALUE(IOPRIO_CLASS_BE, 5), 0);
    long own = syscall(SYS_ioprio_get, 1, 0);
    check(shared == IOPRIO_VALUE(IOPRIO_CLASS_BE, 2) && own == shared,
          "a CLONE_IO thread set the parent's I/O priority (best-effort %ld); a thread without "
          "it set only its own (parent still %ld)",
          shared & 7, own & 7);
}

/* --- CLONE_DETACHED: ignored since Linux 2.6.2 ------------------------------ */

static void show_detached(void)
{
    flag_begin("CLONE_DETACHED");
    written_by_child = 0;
    pid_t tid = run_thread(write_memory, NULL, CLONE_DETACHED);
    check(tid > 0 && written_by_child == 42,
          "accepted and ignored: the thread ran and its join word was cleared as without it");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0); /* children must not inherit buffered output */
    show_vm();
    show_fs();
    show_files();
    show_sighand();
    show_thread();
    show_sysvsem();
    show_io();
    show_detached();
    return finish();
}
