/* pthread_exit() in main waits for the other threads, clonert's included.
 *
 * When main() calls pthread_exit(), glibc decrements its count of threads
 * (__nptl_nthreads) and, if that reaches zero, calls exit(0)
 * (sysdeps/nptl/libc_start_call_main.h); otherwise only main's thread ends,
 * and the last thread to end calls exit(0) (nptl/pthread_create.c,
 * start_thread). A runtime whose threads glibc does not count loses them
 * here: the process exits at once. clonert counts its threads in that same
 * count (runtime/thread/lifecycle_raw.cpp), so both kinds outlive main.
 *
 * The demonstration runs in a child process whose output comes back through
 * a pipe: "finished" appears only if the thread outlived main's exit. */
#include <clonert/clonert.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *finish_later(void *arg)
{
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    const char *text = "finished\n";
    if (write(*(int *)arg, text, strlen(text)) < 0)
        perror("write");
    return NULL;
}

/* In a child process: start a thread of `kind`, then pthread_exit() main. */
static void run(int with_clonert, int out)
{
    static int fd;
    fd = out;
    if (with_clonert) {
        clonert_t t;
        if (clonert_create(&t, NULL, finish_later, &fd) != 0)
            _exit(2);
    } else {
        pthread_t t;
        if (pthread_create(&t, NULL, finish_later, &fd) != 0)
            _exit(2);
    }
    pthread_exit(NULL);
}

/* What the thread wrote before the child process ended ("" if nothing), and
 * the child's exit status. */
static int outcome(int with_clonert, char *said, size_t size)
{
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipe_fds[0]);
        run(with_clonert, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    ssize_t n = read(pipe_fds[0], said, size - 1); /* 0 at EOF: every writer gone */
    said[n > 0 ? n : 0] = '\0';
    said[strcspn(said, "\n")] = '\0';
    close(pipe_fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void)
{
    char with_pthread[32], with_clonert[32];
    int pthread_status = outcome(0, with_pthread, sizeof with_pthread);
    printf("main pthread_exit()s, a pthread running:        process status %d, thread said \"%s\"\n",
           pthread_status, with_pthread);
    int clonert_status = outcome(1, with_clonert, sizeof with_clonert);
    printf("main pthread_exit()s, a clonert thread running: process status %d, thread said \"%s\"\n",
           clonert_status, with_clonert);
    return pthread_status == 0 && strcmp(with_pthread, "finished") == 0 && clonert_status == 0 &&
                   strcmp(with_clonert, "finished") == 0
               ? 0
               : 1;
}
