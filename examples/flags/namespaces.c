/* The flags that put a child in new namespaces (CLONE_NEWNS, NEWUTS, NEWIPC,
 * NEWUSER, NEWPID, NEWNET, NEWCGROUP, and clone3's NEWTIME) or in another
 * cgroup (clone3's CLONE_INTO_CGROUP). Each child reports, through a shared
 * page, which namespace /proc/self/ns/ says it is in; see namespaces(7) and
 * docs/clone-flags.md. Most need CAP_SYS_ADMIN: run as root, or they are
 * reported as skipped. */
#include "flags.h"

#include <fcntl.h>
#include <sys/stat.h>

struct report {
    char ns[128];        /* readlink("/proc/self/ns/<name>") in the child */
    pid_t pid;           /* getpid() in the child */
    uid_t uid;           /* getuid() in the child */
    char cgroup[512];    /* the child's cgroup v2 path */
};

static const char *ns_name;

static void read_ns(const char *name, char *out, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/ns/%s", name);
    ssize_t n = readlink(path, out, size - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* The cgroup v2 path of this process: the "0::" line of /proc/self/cgroup. */
static void read_cgroup(char *out, size_t size)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[512];
    out[0] = '\0';
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, size, "%s", line + 3);
        }
    if (f != NULL)
        fclose(f);
}

static int report_self(void *arg)
{
    struct report *r = arg;
    read_ns(ns_name, r->ns, sizeof r->ns);
    r->pid = getpid();
    r->uid = getuid();
    read_cgroup(r->cgroup, sizeof r->cgroup);
    return 0;
}

/* Makes a child process with `flag` and checks that it is in another `name`
 * namespace than this process. Returns the child's report, or NULL. */
static struct report *child_in_new(const char *name, int flag)
{
    static struct report *r;
    if (r == NULL)
        r = shared_page();
    memset(r, 0, sizeof *r);
    ns_name = name;
    char mine[128];
    read_ns(name, mine, sizeof mine);
    pid_t pid = clonert_clone(report_self, new_stack(), SIGCHLD | flag, r);
    if (pid < 0 && errno == EPERM) {
        printf("SKIPPED: %s: not allowed here (EPERM): it needs CAP_SYS_ADMIN\n", current_flag);
        ++skipped_cases;
        return NULL;
    }
    if (pid < 0) {
        check(0, "clone failed: %s", strerror(errno));
        return NULL;
    }
    int status = reap(pid);
    check(status == 0 && r->ns[0] != '\0' && strcmp(r->ns, mine) != 0,
          "the child is in %s, this process in %s", r->ns, mine);
    return r;
}

static const char *qemu_no_namespaces =
    "qemu-user 7.2 refuses every namespace flag in clone (EINVAL): only plain forks and thread "
    "flag sets are emulated";

static void show_namespace(const char *flag, const char *name, int value)
{
    flag_begin(flag);
    if (!skip_under_qemu(qemu_no_namespaces))
        child_in_new(name, value);
}

static void show_newpid(void)
{
    flag_begin("CLONE_NEWPID");
    if (skip_under_qemu(qemu_no_namespaces))
        return;
    struct report *r = child_in_new("pid", CLONE_NEWPID);
    if (r != NULL)
        check(r->pid == 1, "the child is process 1 of its namespace (getpid() = %d)", r->pid);
}

static void show_newuser(void)
{
    flag_begin("CLONE_NEWUSER");
    if (skip_under_qemu(qemu_no_namespaces))
        return;
    struct report *r = child_in_new("user", CLONE_NEWUSER);
    if (r != NULL)
        check(r->uid == 65534, "no UID is mapped yet: getuid() = %u, the overflow UID", r->uid);
}

/* --- clone3 only ------------------------------------------------------------ */

static pid_t clone3_child(unsigned long long flags, int cgroup_fd, struct report *r)
{
    struct clone_args args = {0};
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    args.cgroup = cgroup_fd >= 0 ? (unsigned long long)cgroup_fd : 0;
    char *top = new_stack();
    args.stack = (unsigned long long)(top - 256 * 1024);
    args.stack_size = 256 * 1024;
    return clonert_clone3(&args, sizeof args, report_self, r);
}

static void show_newtime(void)
{
    flag_begin("CLONE_NEWTIME");
    if (skip_under_qemu("qemu-user 7.2 has no clone3 (ENOSYS); clone() cannot carry this flag"))
        return;
    /* 0x80 is inside clone()'s exit-signal byte (CSIGNAL): only clone3 and
     * unshare take it. */
    struct report *r = shared_page();
    char mine[128];
    ns_name = "time";
    read_ns("time", mine, sizeof mine);
    pid_t pid = clone3_child(CLONE_NEWTIME, -1, r);
    int status = pid > 0 ? reap(pid) : -1;
    check(status == 0 && strcmp(r->ns, mine) != 0, "the child is in %s, this process in %s", r->ns,
          mine);
}

/* Where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo. */
static int cgroup2_mount(char *out, size_t size)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[1024];
    int found = 0;
    while (!found && f != NULL && fgets(line, sizeof line, f) != NULL) {
        char mount_point[512];
        if (strstr(line, " - cgroup2 ") != NULL &&
            sscanf(line, "%*s %*s %*s %*s %511s", mount_point) == 1) {
            snprintf(out, size, "%s", mount_point);
            found = 1;
        }
    }
    if (f != NULL)
        fclose(f);
    return found;
}

static void show_into_cgroup(void)
{
    flag_begin("CLONE_INTO_CGROUP");
    if (skip_under_qemu("qemu-user 7.2 has no clone3 (ENOSYS)"))
        return;
    char mount[512], mine[512], dir[1100];
    read_cgroup(mine, sizeof mine);
    if (!cgroup2_mount(mount, sizeof mount)) {
        printf("SKIPPED: %s: no cgroup v2 hierarchy is mounted here\n", current_flag);
        ++skipped_cases;
        return;
    }
    snprintf(dir, sizeof dir, "%s%s/clonert-flags-%d", mount, strcmp(mine, "/") == 0 ? "" : mine,
             getpid());
    if (mkdir(dir, 0755) != 0) {
        printf("SKIPPED: %s: cannot create a cgroup here (%s)\n", current_flag, strerror(errno));
        ++skipped_cases;
        return;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct report *r = shared_page();
    ns_name = "cgroup";
    pid_t pid = clone3_child(CLONE_INTO_CGROUP, fd, r);
    int status = pid > 0 ? reap(pid) : -1;
    close(fd);
    rmdir(dir);
    const char *leaf = strrchr(dir, '/');
    check(status == 0 && strstr(r->cgroup, leaf) != NULL,
          "the child started in cgroup %s (this process is in %s)", r->cgroup, mine);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    show_namespace("CLONE_NEWNS", "mnt", CLONE_NEWNS);
    show_namespace("CLONE_NEWUTS", "uts", CLONE_NEWUTS);
    show_namespace("CLONE_NEWIPC", "ipc", CLONE_NEWIPC);
    show_newuser();
    show_newpid();
    show_namespace("CLONE_NEWNET", "net", CLONE_NEWNET);
    show_namespace("CLONE_NEWCGROUP", "cgroup", CLONE_NEWCGROUP);
    show_newtime();
    show_into_cgroup();
    return finish();
}
