/* clone_uts.c: a child process in a UTS namespace of its own renames "its"
 * host; the parent's hostname does not change.
 *
 * The program behind the EXAMPLES section of clone(2), written on
 * clonert_clone(). Its twin clone_uts_glibc.c is the same program on glibc's
 * clone(); the two print the same lines.
 *
 *   sudo ./clone_uts some-name
 *   uts.nodename in child:  some-name
 *   uts.nodename in parent: <this machine's hostname>
 *
 * Creating a UTS namespace needs CAP_SYS_ADMIN (root, or CLONE_NEWUSER too):
 * without it clonert_clone fails with EPERM.
 */
#define _GNU_SOURCE
#include <clonert/clone.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK_SIZE (1024 * 1024)

/* Prints the nodename as this process's UTS namespace has it. `who` is
 * "child:" or "parent:", padded so the two names line up. */
static int print_nodename(const char *who) {
    struct utsname names;
    if (uname(&names) == -1) {
        perror("uname");
        return -1;
    }
    printf("uts.nodename in %-7s %s\n", who, names.nodename);
    return 0;
}

/* Runs in the child, already inside the new UTS namespace: the hostname it
 * sets is that namespace's, invisible outside it (uts_namespaces(7)). */
static int rename_host(void *new_name) {
    const char *name = new_name;
    if (sethostname(name, strlen(name)) == -1) {
        perror("sethostname");
        return EXIT_FAILURE;
    }
    const int failed = print_nodename("child:");
    /* The child ends with the exit system call when this returns, as with
     * glibc's clone(): stdio is not flushed for it, so flush here. */
    fflush(stdout);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <hostname-for-the-child>\n", argv[0]);
        return EXIT_FAILURE;
    }
    /* The child runs on its own stack: clone takes its top, stacks grow down. */
    char *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        perror("mmap");
        return EXIT_FAILURE;
    }
    /* Nothing may sit in stdout's buffer: the child would print it again. */
    fflush(stdout);
    /* No CLONE_VM: the child is a process with a copy of our memory.
     * SIGCHLD: it is reaped the ordinary way. */
    const pid_t child = clonert_clone(rename_host, stack + CHILD_STACK_SIZE,
                                      CLONE_NEWUTS | SIGCHLD, argv[1]);
    if (child == -1) {
        perror("clonert_clone");
        return EXIT_FAILURE;
    }
    int status;
    if (waitpid(child, &status, 0) == -1) {
        perror("waitpid");
        return EXIT_FAILURE;
    }
    if (print_nodename("parent:") != 0) return EXIT_FAILURE;
    munmap(stack, CHILD_STACK_SIZE);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
