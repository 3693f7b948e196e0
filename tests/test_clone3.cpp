// clonert_clone3: clone3(2) with clonert's child contract. The struct
// clone_args replaces clone()'s argument list (and its architecture-dependent
// order) and adds what clone() has no room for: a pidfd out-parameter of its
// own, exit_signal as a field, set_tid, CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP.
//
// qemu-user 7.2 does not implement clone3: it returns ENOSYS, which is the
// documented way for clonert_clone3 to fail there (callers fall back to
// clone). Under qemu every test checks that the call fails exactly so and
// that nothing was created, then reports itself SKIPPED for the part that
// needs a real clone3.
#include <clonert/clone.h>

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <new>
#include <string>

#include "arch.hpp"
#include "support.hpp"

namespace {

constexpr std::uint64_t thread_flags =
    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;

constexpr const char *qemu_has_no_clone3 =
    "qemu-user 7.2 has no clone3 (ENOSYS, checked); this part needs the kernel's";

using clonert_test::child_stack;
using clonert_test::shared_page;

template <class P>
std::uint64_t address(P *p) {
    return reinterpret_cast<std::uintptr_t>(p);
}

pid_t load(const pid_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }

// The CLONE_CHILD_CLEARTID wake is a shared futex wake: wait with FUTEX_WAIT.
void wait_until_cleared(pid_t *word) {
    for (pid_t seen; (seen = load(word)) != 0;)
        syscall(SYS_futex, word, FUTEX_WAIT, seen, nullptr, nullptr, 0);
}

pid_t wait_for(pid_t pid, int *status, int options) {
    pid_t r;
    do r = waitpid(pid, status, options);
    while (r == -1 && errno == EINTR);
    return r;
}

int reap(pid_t pid, int options = 0) {
    int status = 0;
    REQUIRE(wait_for(pid, &status, options) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int wait_errno(pid_t pid, int options) {
    int status;
    return wait_for(pid, &status, WNOHANG | options) == -1 ? errno : 0;
}

// Where clone3 is missing (qemu-user), checks it failed the documented way --
// -1, ENOSYS, no child -- and returns true: the caller then skips the rest.
// `result` and `err` are what clonert_clone3 returned and left in errno.
bool clone3_is_missing_here(pid_t result, int err) {
    if (!clonert_test::under_qemu()) return false;
    if (result == 0) _exit(99);  // a fork-like child that must not exist: never run the test twice
    CHECK(result == -1);
    CHECK(err == ENOSYS);
    CHECK(wait_errno(-1, __WALL) == ECHILD);
    return true;
}

#define SKIP_IF_CLONE3_IS_MISSING(result, err)                                    \
    do {                                                                          \
        if (clone3_is_missing_here((result), (err))) CLONERT_SKIP(qemu_has_no_clone3); \
    } while (0)

// A fork-like clone3 (fn == NULL) that the kernel should refuse; returns its
// errno, or 0 after collecting the child if it was accepted after all.
int fork_like_errno(clone_args *args, std::size_t size) {
    errno = 0;
    const pid_t pid = clonert_clone3(args, size, nullptr, nullptr);
    if (pid == 0) _exit(0);
    if (pid == -1) return errno;
    waitpid(pid, nullptr, __WALL);
    return 0;
}

namespace raw {
long call(long number, long a = 0, long b = 0) { return clonert::arch::syscall(number, a, b); }
}  // namespace raw

}  // namespace

// ---------------------------------------------------------------------------

TEST_CASE("clone3 is the kernel's here, or fails cleanly with ENOSYS (qemu-user)") {
    // An argument block smaller than the first published one: a kernel with
    // clone3 refuses it with EINVAL, one without says ENOSYS before looking.
    clone_args args{};
    args.exit_signal = SIGCHLD;
    errno = 0;
    const pid_t pid = clonert_clone3(&args, CLONE_ARGS_SIZE_VER0 - 8, nullptr, nullptr);
    if (pid == 0) _exit(0);
    CHECK(pid == -1);
    CHECK(errno == (clonert_test::under_qemu() ? ENOSYS : EINVAL));

    if (clonert_test::under_qemu()) {
        // Neither form may leave anything behind: no child, fn never run.
        static int ran = 0;
        child_stack stack;
        clone_args thread{};
        thread.flags = thread_flags;
        thread.stack = stack.base();
        thread.stack_size = child_stack::size;
        errno = 0;
        CHECK(clonert_clone3(&thread, sizeof thread, [](void *) { ran = 1; return 0; }, nullptr) ==
              -1);
        CHECK(errno == ENOSYS);
        clone_args fork_like{};
        fork_like.exit_signal = SIGCHLD;
        errno = 0;
        const pid_t child = clonert_clone3(&fork_like, sizeof fork_like, nullptr, nullptr);
        if (child == 0) _exit(0);
        CHECK(child == -1);
        CHECK(errno == ENOSYS);
        CHECK(ran == 0);
        CHECK(wait_errno(-1, __WALL) == ECHILD);
    }
}

// ---------------------------------------------------------------------------
// A thread: the thread flag set, its stack given as base + size, the TID
// written by CLONE_PARENT_SETTID and cleared by CLONE_CHILD_CLEARTID, the
// thread pointer from args.tls.

namespace {
struct thread_report {
    long tid = 0, pid = 0;
    std::uintptr_t thread_pointer = 0;
    int arg = 0;
};

alignas(64) std::uintptr_t fake_tcb[64];
}  // namespace

TEST_CASE("clonert_clone3 with the thread flags runs fn(arg) as a thread of this process") {
    fake_tcb[0] = address(fake_tcb);  // x86_64: %fs:0 must point to itself
    child_stack stack;
    thread_report report;
    report.arg = 41;
    pid_t join_word = 0;
    clone_args args{};
    args.flags = thread_flags | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    args.stack = stack.base();
    args.stack_size = child_stack::size;
    args.parent_tid = address(&join_word);
    args.child_tid = address(&join_word);
    args.tls = address(fake_tcb);
    const pid_t tid = clonert_clone3(
        &args, sizeof args,
        [](void *p) {
            // A foreign thread pointer: raw system calls only, no errno.
            auto *r = static_cast<thread_report *>(p);
            r->tid = raw::call(SYS_gettid);
            r->pid = raw::call(SYS_getpid);
            r->thread_pointer = clonert::arch::thread_pointer();
            r->arg += 1;
            return 0;
        },
        &report);
    SKIP_IF_CLONE3_IS_MISSING(tid, errno);
    REQUIRE(tid > 0);
    wait_until_cleared(&join_word);
    CHECK(report.arg == 42);
    CHECK(report.tid == tid);
    CHECK(report.pid == getpid());
    CHECK(report.thread_pointer == address(fake_tcb));
    CHECK(wait_errno(tid, __WALL) == ECHILD);  // a thread is not a child to wait for
}

// ---------------------------------------------------------------------------
// The fork-like form: fn == NULL, no stack; the child returns 0 from the call.

TEST_CASE("clonert_clone3 fork-like: the child returns 0, the parent reaps it through exit_signal") {
    shared_page<pid_t> child_pid;
    clone_args args{};
    args.exit_signal = SIGCHLD;
    const pid_t pid = clonert_clone3(&args, sizeof args, nullptr, nullptr);
    if (pid == 0) {
        *child_pid.get() = getpid();
        _exit(12);
    }
    SKIP_IF_CLONE3_IS_MISSING(pid, errno);
    REQUIRE(pid > 0);
    CHECK(reap(pid) == 12);
    CHECK(*child_pid.get() == pid);
}

TEST_CASE("clonert_clone3 fork-like with exit_signal 0: only __WALL or __WCLONE reaps the child") {
    clone_args args{};
    args.exit_signal = 0;
    const pid_t pid = clonert_clone3(&args, sizeof args, nullptr, nullptr);
    if (pid == 0) _exit(13);
    SKIP_IF_CLONE3_IS_MISSING(pid, errno);
    REQUIRE(pid > 0);
    int status;
    CHECK(wait_for(pid, &status, 0) == -1);  // not a SIGCHLD child: plain wait ignores it
    CHECK(errno == ECHILD);
    CHECK(reap(pid, __WALL) == 13);
}

TEST_CASE("clonert_clone3 runs fn(arg) on the given stack in a child process too") {
    child_stack stack;
    shared_page<std::uintptr_t> stack_seen;
    clone_args args{};
    args.exit_signal = SIGCHLD;
    args.stack = stack.base();
    args.stack_size = child_stack::size;
    const pid_t pid = clonert_clone3(
        &args, sizeof args,
        [](void *p) {
            int on_stack = 0;
            *static_cast<std::uintptr_t *>(p) = address(&on_stack);
            return 14;
        },
        stack_seen.get());
    SKIP_IF_CLONE3_IS_MISSING(pid, errno);
    REQUIRE(pid > 0);
    CHECK(reap(pid) == 14);
    CHECK(*stack_seen.get() >= stack.base());
    CHECK(*stack_seen.get() < stack.base() + child_stack::size);
}

// ---------------------------------------------------------------------------
// CLONE_PIDFD: the kernel puts a PID file descriptor for the child (see
// pidfd_open(2)) where args.pidfd points.

namespace {
std::string fdinfo_pid_line(int fd) {
    const std::string path = "/proc/self/fdinfo/" + std::to_string(fd);
    const int info = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (info < 0) return "";
    char buf[1024];
    const ssize_t n = read(info, buf, sizeof buf - 1);
    close(info);
    if (n <= 0) return "";
    const std::string text(buf, static_cast<std::size_t>(n));
    const std::size_t at = text.find("Pid:\t");
    if (at == std::string::npos) return "";
    return text.substr(at, text.find('\n', at) - at);
}
}  // namespace

TEST_CASE("CLONE_PIDFD: clone3 returns a pidfd that signals, polls and waits for the child") {
    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_PIDFD;
    args.pidfd = address(&pidfd);
    args.exit_signal = SIGCHLD;
    const pid_t pid = clonert_clone3(&args, sizeof args, nullptr, nullptr);
    if (pid == 0) {
        for (;;) pause();  // until the parent signals it through the pidfd
    }
    SKIP_IF_CLONE3_IS_MISSING(pid, errno);
    REQUIRE(pid > 0);
    REQUIRE(pidfd >= 0);
    CHECK(fdinfo_pid_line(pidfd) == "Pid:\t" + std::to_string(pid));
    CHECK((fcntl(pidfd, F_GETFD) & FD_CLOEXEC) != 0);  // clone3(2): the pidfd is close-on-exec

    pollfd alive{pidfd, POLLIN, 0};
    CHECK(poll(&alive, 1, 0) == 0);  // not readable while the child runs
    // SIGKILL: the child is a copy of this process, Catch2's handlers included.
    CHECK(syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0);
    pollfd exited{pidfd, POLLIN, 0};
    CHECK(poll(&exited, 1, 10000) == 1);  // readable once it has exited

    siginfo_t info{};
    REQUIRE(waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) == 0);
    CHECK(info.si_pid == pid);
    CHECK(info.si_code == CLD_KILLED);
    CHECK(info.si_status == SIGKILL);
    close(pidfd);
}

// ---------------------------------------------------------------------------
// set_tid: choose the child's PID (needs CAP_SYS_ADMIN or
// CAP_CHECKPOINT_RESTORE over the PID namespace; clone3(2), "set_tid").

namespace {

long pid_max() {
    const int fd = open("/proc/sys/kernel/pid_max", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 32768;
    char buf[32] = {};
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? std::strtol(buf, nullptr, 10) : 32768;
}

// How many PID namespaces this process is in: the count of its NSpid entries.
int pid_namespace_depth() {
    const int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 1;
    const std::string text(buf, static_cast<std::size_t>(n));
    const std::size_t at = text.find("NSpid:");
    if (at == std::string::npos) return 1;
    const std::string line = text.substr(at, text.find('\n', at) - at);
    int depth = 0;
    for (std::size_t i = 1; i < line.size(); ++i)
        if ((line[i - 1] == '\t' || line[i - 1] == ' ') && line[i] >= '0' && line[i] <= '9') ++depth;
    return depth > 0 ? depth : 1;
}

bool pid_in_use(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// Forks with set_tid = {wanted}; returns what clonert_clone3 returned.
pid_t fork_with_pid(pid_t wanted, shared_page<pid_t> &seen) {
    pid_t tid_array[1] = {wanted};
    clone_args args{};
    args.exit_signal = SIGCHLD;
    args.set_tid = address(tid_array);
    args.set_tid_size = 1;
    const pid_t pid = clonert_clone3(&args, sizeof args, nullptr, nullptr);
    if (pid == 0) {
        *seen.get() = getpid();
        _exit(0);
    }
    return pid;
}

}  // namespace

TEST_CASE("set_tid: the child gets the PID asked for") {
    shared_page<pid_t> seen;
    // Free PIDs near the top of the range, where the allocator rarely is.
    pid_t wanted = static_cast<pid_t>(pid_max() - 1);
    while (pid_in_use(wanted)) --wanted;
    pid_t pid = fork_with_pid(wanted, seen);
    SKIP_IF_CLONE3_IS_MISSING(pid, errno);
    if (pid == -1 && errno == EPERM) CLONERT_SKIP("set_tid needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE");
    for (int tries = 0; pid == -1 && errno == EEXIST && tries < 100; ++tries) {
        do --wanted;  // taken meanwhile by another process
        while (pid_in_use(wanted));
        pid = fork_with_pid(wanted, seen);
    }
    REQUIRE(pid == wanted);
    CHECK(reap(pid) == 0);
    CHECK(*seen.get() == wanted);
}

TEST_CASE("set_tid errors: a PID in use is EEXIST; a missing or oversized array is EINVAL") {
    pid_t mine[1] = {getpid()};
    clone_args args{};
    args.exit_signal = SIGCHLD;
    args.set_tid = address(mine);
    args.set_tid_size = 1;
    const int in_use = fork_like_errno(&args, sizeof args);
    SKIP_IF_CLONE3_IS_MISSING(in_use == 0 ? 1 : -1, in_use);
    if (in_use == EPERM) CLONERT_SKIP("set_tid needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE");
    CHECK(in_use == EEXIST);

    // More entries than there are PID namespaces above and including ours.
    pid_t too_many[33] = {};
    args.set_tid = address(too_many);
    args.set_tid_size = static_cast<std::uint64_t>(pid_namespace_depth()) + 1;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
    // A size with no array.
    args.set_tid = 0;
    args.set_tid_size = 1;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
    // More than MAX_PID_NS_LEVEL (32) entries.
    args.set_tid = address(too_many);
    args.set_tid_size = 33;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
}

// ---------------------------------------------------------------------------
// CLONE_CLEAR_SIGHAND (clone3 only): every signal the parent handles starts
// at its default disposition in the child; ignored signals stay ignored.

namespace {
void do_nothing(int) {}

struct disposition_report {
    int usr2_is_default = 0;
    int usr1_is_ignored = 0;
};

int report_dispositions(disposition_report *r) {
    struct sigaction act {};
    sigaction(SIGUSR2, nullptr, &act);
    r->usr2_is_default = act.sa_handler == SIG_DFL;
    sigaction(SIGUSR1, nullptr, &act);
    r->usr1_is_ignored = act.sa_handler == SIG_IGN;
    return 0;
}

class saved_action {
public:
    explicit saved_action(int sig) : sig_(sig) { sigaction(sig, nullptr, &old_); }
    ~saved_action() { sigaction(sig_, &old_, nullptr); }
    saved_action(const saved_action &) = delete;
    saved_action &operator=(const saved_action &) = delete;

private:
    int sig_;
    struct sigaction old_ {};
};

// Forks with `flags` and returns the dispositions the child found.
disposition_report child_dispositions(std::uint64_t flags, pid_t *result, int *err) {
    shared_page<disposition_report> report;
    clone_args args{};
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    const pid_t pid = clonert_clone3(&args, sizeof args, nullptr, nullptr);
    if (pid == 0) _exit(report_dispositions(report.get()));
    *result = pid;
    *err = errno;
    if (pid > 0) reap(pid);
    return *report.get();
}
}  // namespace

TEST_CASE("CLONE_CLEAR_SIGHAND: handled signals are default in the child, ignored ones stay ignored") {
    saved_action restore_usr1(SIGUSR1), restore_usr2(SIGUSR2);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, do_nothing);
    pid_t pid;
    int err;
    const disposition_report cleared = child_dispositions(CLONE_CLEAR_SIGHAND, &pid, &err);
    SKIP_IF_CLONE3_IS_MISSING(pid, err);
    REQUIRE(pid > 0);
    CHECK(cleared.usr2_is_default == 1);
    CHECK(cleared.usr1_is_ignored == 1);

    const disposition_report kept = child_dispositions(0, &pid, &err);
    REQUIRE(pid > 0);
    CHECK(kept.usr2_is_default == 0);  // without the flag the child inherits the handler
    CHECK(kept.usr1_is_ignored == 1);
}

// ---------------------------------------------------------------------------
// CLONE_INTO_CGROUP: the child starts in the cgroup v2 directory args.cgroup
// refers to, instead of its parent's.

namespace {

// The mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo.
std::string cgroup2_mount() {
    const int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    close(fd);
    // Each line: id parent major:minor root mount-point options ... - fstype source ...
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        if (line.find(" - cgroup2 ") == std::string::npos) continue;
        std::size_t field = 0, pos = 0;
        for (; field < 4 && pos != std::string::npos; ++field) pos = line.find(' ', pos + 1);
        if (pos == std::string::npos) continue;
        return line.substr(pos + 1, line.find(' ', pos + 1) - pos - 1);
    }
    return "";
}

std::string own_cgroup2_path() {
    const int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return "";
    const std::string text(buf, static_cast<std::size_t>(n));
    const std::size_t at = text.find("0::");  // the v2 line
    if (at == std::string::npos || (at != 0 && text[at - 1] != '\n')) return "";
    return text.substr(at + 3, text.find('\n', at) - at - 3);
}

struct cgroup_report {
    char path[256] = {};
};

// A fresh, empty cgroup under this process's own one, removed on scope exit
// (after the child in it has been reaped: only an empty cgroup can go).
class scratch_cgroup {
public:
    scratch_cgroup() {
        const std::string mount = cgroup2_mount();
        const std::string own = own_cgroup2_path();
        if (mount.empty() || own.empty()) return;
        path_ = (own == "/" ? "" : own) + "/clonert-test-" + std::to_string(getpid());
        if (mkdir((mount + path_).c_str(), 0755) != 0) return;
        directory_ = mount + path_;
        fd_ = open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    ~scratch_cgroup() {
        if (fd_ >= 0) close(fd_);
        if (!directory_.empty()) rmdir(directory_.c_str());
    }
    scratch_cgroup(const scratch_cgroup &) = delete;
    scratch_cgroup &operator=(const scratch_cgroup &) = delete;
    int fd() const { return fd_; }
    const std::string &path() const { return path_; }  // as /proc/PID/cgroup shows it

private:
    std::string path_, directory_;
    int fd_ = -1;
};

}  // namespace

TEST_CASE("CLONE_INTO_CGROUP: the child starts in the cgroup given") {
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    if (clonert_test::under_qemu()) {
        const pid_t pid = clonert_clone3(&args, sizeof args, nullptr, nullptr);
        SKIP_IF_CLONE3_IS_MISSING(pid, errno);
    }
    shared_page<cgroup_report> report;
    scratch_cgroup cgroup;
    if (cgroup.fd() < 0) CLONERT_SKIP("no writable cgroup v2 hierarchy to make a test cgroup in");
    args.cgroup = static_cast<std::uint64_t>(cgroup.fd());
    const pid_t pid = clonert_clone3(&args, sizeof args, nullptr, nullptr);
    if (pid == 0) {
        std::strncpy(report->path, own_cgroup2_path().c_str(), sizeof report->path - 1);
        _exit(0);
    }
    REQUIRE(pid > 0);
    CHECK(reap(pid) == 0);
    CHECK(std::string(report->path) == cgroup.path());
    CHECK(own_cgroup2_path() != cgroup.path());  // the parent stayed where it was
}

// ---------------------------------------------------------------------------
// Argument checks: clone3(2) ERRORS and the kernel's clone3_args_valid().

TEST_CASE("clone3 argument errors: size, termination signal, stack, flag combinations") {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    const int first = fork_like_errno(&args, CLONE_ARGS_SIZE_VER0 - 1);
    SKIP_IF_CLONE3_IS_MISSING(first == 0 ? 1 : -1, first);
    CHECK(first == EINVAL);  // smaller than the first published struct

    // Larger than the struct this program knows: accepted while the extra
    // bytes are zero (a newer program on an older kernel), E2BIG otherwise;
    // E2BIG too beyond a page.
    union {
        clone_args args;
        unsigned char bytes[sizeof(clone_args) + 8];
    } bigger{};
    bigger.args.exit_signal = SIGCHLD;
    CHECK(fork_like_errno(&bigger.args, sizeof bigger) == 0);
    bigger.bytes[sizeof(clone_args)] = 1;
    CHECK(fork_like_errno(&bigger.args, sizeof bigger) == E2BIG);
    CHECK(fork_like_errno(&args, static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) + 8) == E2BIG);

    // The termination signal lives in exit_signal: clone3 refuses CSIGNAL bits
    // in flags, and an exit_signal that is not a signal.
    args.flags = SIGCHLD;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
    args.flags = 0;
    args.exit_signal = _NSIG + 1;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
    args.exit_signal = SIGCHLD;

    // A thread or a CLONE_PARENT child cannot have a termination signal.
    args.flags = CLONE_PARENT;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
    args.flags = 0;

    // stack and stack_size come together.
    child_stack stack;
    args.stack = stack.base();
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);  // through clonert: no fn, so EINVAL too
    pid_t pid = clonert_clone3(&args, sizeof args, [](void *) { return 0; }, nullptr);
    CHECK(pid == -1);
    CHECK(errno == EINVAL);
    if (pid > 0) reap(pid);
    args.stack = 0;
    args.stack_size = child_stack::size;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
    args.stack_size = 0;

    // Flags that contradict each other, or that clone3 retired. (A stack, in
    // case the kernel took the CLONE_VM one after all.)
    args.flags = CLONE_SIGHAND | CLONE_VM | CLONE_CLEAR_SIGHAND;
    args.stack = stack.base();
    args.stack_size = child_stack::size;
    pid = clonert_clone3(&args, sizeof args, [](void *) { return 0; }, nullptr);
    CHECK(pid == -1);
    CHECK(errno == EINVAL);
    if (pid > 0) reap(pid, __WALL);
    args.stack = 0;
    args.stack_size = 0;
    args.flags = CLONE_DETACHED;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
    args.flags = CLONE_INTO_CGROUP;
    args.cgroup = static_cast<std::uint64_t>(INT32_MAX) + 1;
    CHECK(fork_like_errno(&args, sizeof args) == EINVAL);
}

// clonert's own checks come before the system call, so they hold under qemu too.
TEST_CASE("clonert_clone3 refuses what its fork-like form cannot do, on every platform") {
    errno = 0;
    CHECK(clonert_clone3(nullptr, sizeof(clone_args), nullptr, nullptr) == -1);
    CHECK(errno == EFAULT);

    clone_args args{};
    args.flags = CLONE_VM;
    args.exit_signal = SIGCHLD;
    errno = 0;
    // Parent and child would return onto one stack in one memory.
    CHECK(clonert_clone3(&args, sizeof args, nullptr, nullptr) == -1);
    CHECK(errno == EINVAL);

    child_stack stack;
    args.flags = 0;
    args.stack = stack.base();
    args.stack_size = child_stack::size;
    errno = 0;
    // The child would return from clonert_clone3 on a stack with no frames.
    CHECK(clonert_clone3(&args, sizeof args, nullptr, nullptr) == -1);
    CHECK(errno == EINVAL);
    CHECK(wait_errno(-1, __WALL) == ECHILD);
}
