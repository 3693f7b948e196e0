// Privilege changes reach every thread.
//
// On Linux, credentials (uids, gids, supplementary groups) belong to each
// thread, not to the process: setresuid(2) changes only the calling thread.
// POSIX wants the whole process to change, so glibc's setuid() and friends
// signal every thread it knows with SIGSETXID and have each one make the same
// system call (nptl/nptl_setxid.c). glibc does not know clonert's threads:
// without this file, a clonert thread kept euid 0 after seteuid(65534)
// (shown by tests/test_credentials.cpp).
//
// So clonert interposes the setuid and setgid families, setgroups and
// initgroups. Each lets glibc do its part (its own threads), then reads the
// caller's new credentials and has every live clonert thread adopt them: it
// queues SIGSETXID to each one with rt_tgsigqueueinfo(2), carrying a pointer
// to the change, and waits until each has applied it (or has exited).
// SIGSETXID is used because glibc strips it from every signal mask a program
// can set, so no thread can block it; clonert's handler passes glibc's own
// SIGSETXID signals (sent with tgkill, si_code SI_TKILL) on to glibc's.
// While the change is under way, no new thread starts (its creator waits,
// still taking signals); the threads that were mid-clone when it began are
// caught by asking the registry for live threads again until none is new
// and none is mid-clone.
// (Not /proc/self/task: under qemu-user it lists qemu's own helper threads,
// which never run a guest signal handler.) If any thread fails to adopt the
// change, the process aborts, as glibc does: a thread left with the old
// privileges is worse than no process.

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <grp.h>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include "arch.hpp"
#include "glibc/layout.hpp"
#include "support/fork_safe_lock.hpp"
#include "support/futex.hpp"
#include "support/sleeping_lock.hpp"
#include "support/trace.hpp"
#include "thread/registry.hpp"

namespace clonert {
namespace {

// The kernel's struct sigaction for rt_sigaction(2): the same layout on
// x86_64 and aarch64 (glibc's sigaction refuses SIGSETXID, so we go direct).
struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long mask;
};
constexpr unsigned long sa_siginfo = 4;  // SA_SIGINFO

// One task's acknowledgement of the change.
enum : int { waiting = 0, applied = 1, failed = 2, gone = 3 };
struct task_ack {
    pid_t tid;
    std::atomic<int> state;
};

// The change being broadcast. Written before any signal is sent; the signal
// handlers only read it. One broadcast at a time (broadcast_lock).
struct credential_change {
    uid_t uid[3];
    gid_t gid[3];
    std::vector<gid_t> groups;
    task_ack *acks = nullptr;  // this round's tasks
    std::size_t ack_count = 0;
    std::atomic<unsigned> acked{0};  // futex word: bumped by each handler
};

credential_change the_change;
// A fork while another thread broadcasts must not leave the child's copy held.
sleeping_lock broadcast_lock;  // held while the broadcast waits for every thread
const int broadcast_forks = hold_across_fork<broadcast_lock>();
kernel_sigaction glibc_action;  // what glibc installed for SIGSETXID
bool installed = false;

long raw(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
    return arch::syscall(n, a, b, c, d);
}

bool same_groups(const credential_change &c) {
    gid_t mine[256];  // compared on the handler's stack; larger lists are just set
    const long n = raw(SYS_getgroups, 256, reinterpret_cast<long>(mine));
    if (n < 0 || static_cast<std::size_t>(n) != c.groups.size()) return false;
    return n == 0 || std::memcmp(mine, c.groups.data(), n * sizeof(gid_t)) == 0;  // data() may be null
}

// In the receiving thread, async-signal-safe: raw system calls only. Groups
// first, then gids, then uids: once the uid drops, the others are refused.
int adopt(const credential_change &c) {
    if (!same_groups(c) &&
        raw(SYS_setgroups, static_cast<long>(c.groups.size()),
            reinterpret_cast<long>(c.groups.data())) != 0)
        return failed;
    if (raw(SYS_setresgid, c.gid[0], c.gid[1], c.gid[2]) != 0) return failed;
    if (raw(SYS_setresuid, c.uid[0], c.uid[1], c.uid[2]) != 0) return failed;
    return applied;
}

void on_setxid_signal(int sig, siginfo_t *info, void *context) {
    if (info->si_code == SI_QUEUE && info->si_pid == static_cast<pid_t>(raw(SYS_getpid)) &&
        info->si_value.sival_ptr == &the_change) {
        const pid_t own_tid = static_cast<pid_t>(raw(SYS_gettid));
        for (std::size_t i = 0; i < the_change.ack_count; ++i) {
            // A re-sent signal may arrive after the first was handled.
            if (the_change.acks[i].tid != own_tid ||
                the_change.acks[i].state.load(std::memory_order_acquire) != waiting)
                continue;
            the_change.acks[i].state.store(adopt(the_change), std::memory_order_release);
            the_change.acked.fetch_add(1, std::memory_order_release);
            futex::wake(&the_change.acked, 1);
        }
        return;
    }
    // Anything else is glibc's own setxid broadcast: hand it over.
    if (glibc_action.flags & sa_siginfo)
        reinterpret_cast<void (*)(int, siginfo_t *, void *)>(glibc_action.handler)(sig, info, context);
    else if (glibc_action.handler != SIG_DFL && glibc_action.handler != SIG_IGN)
        reinterpret_cast<void (*)(int)>(glibc_action.handler)(sig);
}

// Installs on_setxid_signal, keeping glibc's handler to chain to. Checked
// before each broadcast: glibc installs its handler when the process creates
// its first pthread, and may do so again in a fork child.
void install_handler(int sig) {
    kernel_sigaction current{};
    raw(SYS_rt_sigaction, sig, 0, reinterpret_cast<long>(&current), sizeof(unsigned long));
    if (installed && current.handler == reinterpret_cast<void *>(&on_setxid_signal)) return;
    glibc_action = current;
    kernel_sigaction ours = current;
    ours.handler = reinterpret_cast<void *>(&on_setxid_signal);
    ours.flags |= sa_siginfo;
    raw(SYS_rt_sigaction, sig, reinterpret_cast<long>(&ours), 0, sizeof(unsigned long));
    installed = true;
}

[[noreturn]] void die(const char *what, pid_t tid) {
    trace::say("thread %d could not %s; aborting rather than leave it with other "
               "credentials than the rest of the process",
               tid, what);
    std::abort();
}

// A task that has exited, or is a zombie (a main thread that called
// pthread_exit stays listed), will never run the handler.
bool alive(pid_t pid, pid_t tid) {
    if (raw(SYS_tgkill, pid, tid, 0) != 0) return false;
    char path[64], stat[256];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = std::fopen(path, "r");
    if (f == nullptr) return false;
    const std::size_t n = std::fread(stat, 1, sizeof stat - 1, f);
    std::fclose(f);
    stat[n] = '\0';
    const char *end = std::strrchr(stat, ')');  // the state follows "(comm)"
    return end == nullptr || end[1] == '\0' || (end[2] != 'Z' && end[2] != 'X');
}

// Queues the change to one task. qemu-user sometimes fails the call with
// EINTR although it went through, and has been seen to lose a signal: the
// handler ignores repeats, so sending again is always safe.
bool send_change(pid_t pid, pid_t tid, int sig) {
    siginfo_t info{};
    info.si_signo = sig;
    info.si_code = SI_QUEUE;
    info.si_pid = pid;
    info.si_uid = getuid();
    info.si_value.sival_ptr = &the_change;
    long r;
    while ((r = raw(SYS_rt_tgsigqueueinfo, pid, tid, sig, reinterpret_cast<long>(&info))) == -EINTR) {
    }
    return r == 0;
}

// Sends the change to each task in `acks` and waits for all of them.
void run_round(std::vector<task_ack> &acks, int sig) {
    the_change.acks = acks.data();
    the_change.ack_count = acks.size();
    the_change.acked.store(0, std::memory_order_relaxed);
    const pid_t pid = getpid();
    for (task_ack &a : acks)
        if (!send_change(pid, a.tid, sig)) a.state.store(gone, std::memory_order_relaxed);
    for (int tick = 1;; ++tick) {
        bool all_done = true;
        for (task_ack &a : acks) {
            int s = a.state.load(std::memory_order_acquire);
            if (s == waiting && !alive(pid, a.tid)) {
                a.state.store(gone, std::memory_order_relaxed);  // exited before handling it
                s = gone;
            }
            if (s == waiting && tick % 10 == 0) send_change(pid, a.tid, sig);
            if (s == failed) die("adopt the new credentials", a.tid);
            all_done &= s != waiting;
        }
        if (all_done) break;
        const unsigned seen = the_change.acked.load(std::memory_order_acquire);
        timespec interval{0, 10 * 1000 * 1000};  // re-check every 10 ms, re-send every 100 ms
        futex::wait_for(&the_change.acked, static_cast<int>(seen), interval);
    }
    the_change.acks = nullptr;
    the_change.ack_count = 0;
}

void broadcast(int sig) {
    const pid_t own_tid = static_cast<pid_t>(raw(SYS_gettid));
    getresuid(&the_change.uid[0], &the_change.uid[1], &the_change.uid[2]);
    getresgid(&the_change.gid[0], &the_change.gid[1], &the_change.gid[2]);
    const int n = getgroups(0, nullptr);
    the_change.groups.resize(n > 0 ? n : 0);
    if (n > 0) getgroups(n, the_change.groups.data());
    // Threads are told apart by the serial number clonert gave them, not by
    // TID: a thread that ends during the broadcast frees its TID, and a new
    // thread made by one still holding the old credentials may get it.
    std::unordered_set<std::uint64_t> reached;
    // No thread starts while the change is under way: else each round would
    // find threads made during the one before, and a program that makes
    // threads without pause would keep the caller here as long as it ran.
    // The threads already past the gate are the last to look for.
    struct creation_hold {
        creation_hold() { hold_thread_creation(); }
        ~creation_hold() { release_thread_creation(); }
    } hold;
    for (;;) {
        std::vector<live_thread> live, fresh;
        const std::size_t starting = live_threads_now(live);
        for (const live_thread &t : live)
            if (t.tid != own_tid && reached.insert(t.serial).second) fresh.push_back(t);
        if (fresh.empty()) {
            if (starting == 0) return;
            // A thread whose clone has not returned may have been made by a
            // thread that still had the old credentials: look again.
            sched_yield();
            continue;
        }
        std::vector<task_ack> round(fresh.size());
        for (std::size_t i = 0; i < fresh.size(); ++i) round[i].tid = fresh[i].tid;
        run_round(round, sig);
    }
}

// Calls glibc's function, then brings every other thread into line.
template <class... Args>
int change_credentials(const char *name, Args... args) {
    using fn = int (*)(Args...);
    fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, name));
    if (real == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    const glibc::layout *layout = nullptr;
    try {
        layout = &glibc::current_layout();
    } catch (...) {
        return real(args...);  // no clonert thread can exist
    }
    std::lock_guard<sleeping_lock> hold(broadcast_lock);
    install_handler(layout->setxid_signal);
    const int result = real(args...);
    if (result == 0) {
        const int saved = errno;
        broadcast(layout->setxid_signal);
        errno = saved;
    }
    return result;
}

}  // namespace

}  // namespace clonert

// The interposed functions. With libclonert linked, these definitions come
// before libc's in symbol lookup; each calls libc's through RTLD_NEXT.
extern "C" {
int setuid(uid_t u) noexcept { return clonert::change_credentials("setuid", u); }
int seteuid(uid_t u) noexcept { return clonert::change_credentials("seteuid", u); }
int setreuid(uid_t r, uid_t e) noexcept { return clonert::change_credentials("setreuid", r, e); }
int setresuid(uid_t r, uid_t e, uid_t s) noexcept { return clonert::change_credentials("setresuid", r, e, s); }
int setgid(gid_t g) noexcept { return clonert::change_credentials("setgid", g); }
int setegid(gid_t g) noexcept { return clonert::change_credentials("setegid", g); }
int setregid(gid_t r, gid_t e) noexcept { return clonert::change_credentials("setregid", r, e); }
int setresgid(gid_t r, gid_t e, gid_t s) noexcept { return clonert::change_credentials("setresgid", r, e, s); }
int setgroups(size_t n, const gid_t *list) noexcept { return clonert::change_credentials("setgroups", n, list); }
int initgroups(const char *user, gid_t group) {
    return clonert::change_credentials("initgroups", user, group);
}
}
