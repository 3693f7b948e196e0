// Faults from outside: the kernel refusing a thread (RLIMIT_NPROC, a pids
// cgroup), no address space for a stack (RLIMIT_AS), signals arriving
// without pause while threads are made and end, fork() while threads are
// being made, and a thread running off the end of its stack. Each must end in
// a clear error or a clean death -- never a thread lost, a stack leaked, or a
// neighbour's memory overwritten. Everything that limits, signals or crashes
// a process runs in a forked child; the child prints what it saw and exits
// with the number of things that went wrong (or dies, and the test reads the
// signal).
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

// --- Helpers -----------------------------------------------------------------------

using clonert_test::count_entries;
using clonert_test::kernel_cannot_read;

// What a thread could leave behind: mappings (a stack, a guard) and
// descriptors. Compared exactly, with the stack cache off so that a joined
// thread's memory is unmapped at once.
//
// The heap is left out: malloc grows it with brk (malloc(3)), and under
// qemu-user an extension of the break shows as a mapping of its own (seen:
// one 152 KiB "rw-p" line after the executable), where natively the [heap]
// line only grows. A thread's memory is never there: clonert maps it.
extern "C" char end;  // the end of the executable's data (end(3)): the heap starts above

bool in_heap(const std::string &maps_line) {
    unsigned long low = 0, high = 0;
    if (std::sscanf(maps_line.c_str(), "%lx-%lx", &low, &high) != 2) return false;
    return low >= reinterpret_cast<std::uintptr_t>(&end) && high <= reinterpret_cast<std::uintptr_t>(sbrk(0));
}

struct footprint {
    long mappings = 0, fds = 0;
    std::vector<std::string> lines;  // of /proc/self/maps, to show a difference
    static footprint now() {
        footprint f;
        std::ifstream maps("/proc/self/maps");
        for (std::string line; std::getline(maps, line);)
            if (!in_heap(line)) f.lines.push_back(line);
        f.mappings = static_cast<long>(f.lines.size());
        f.fds = static_cast<long>(count_entries("/proc/self/fd"));
        return f;
    }
    bool operator==(const footprint &o) const { return mappings == o.mappings && fds == o.fds; }
    // The mappings in one and not the other, for the failure message.
    std::string difference(const footprint &later) const {
        std::string out;
        for (const auto &l : lines)
            if (std::find(later.lines.begin(), later.lines.end(), l) == later.lines.end()) out += "\n  - " + l;
        for (const auto &l : later.lines)
            if (std::find(lines.begin(), lines.end(), l) == lines.end()) out += "\n  + " + l;
        return out;
    }
};

using clonert_test::in_child;

// Counts and prints what went wrong in a child.
class findings {
public:
    explicit findings(const char *test) : test_(test) {}
    template <class... Args>
    void expect(bool ok, const char *format, Args... args) {
        if (ok) return;
        ++wrong_;
        std::printf("%s: wrong: ", test_);
        std::printf(format, args...);
        std::printf("\n");
    }
    template <class... Args>
    void note(const char *format, Args... args) {
        std::printf("%s: ", test_);
        std::printf(format, args...);
        std::printf("\n");
        std::fflush(stdout);
    }
    int wrong() const { return wrong_; }

private:
    const char *test_;
    int wrong_ = 0;
};

// Threads that wait until released; joined by the destructor at the latest.
// Each knows its place in the vector; releasing the last n wakes only those
// (the others, woken too, see their place is not yet released and wait on).
class parked_threads {
public:
    ~parked_threads() { release_and_join(); }

    // Starts one more; false (and `error` set) if clonert::thread threw.
    bool add(const clonert::thread_options &options, std::optional<std::system_error> &error) {
        const std::size_t place = threads_.size();
        try {
            threads_.emplace_back(options, [this, place] {
                std::unique_lock<std::mutex> hold(lock_);
                wake_.wait(hold, [this, place] { return place >= released_from_; });
            });
            return true;
        } catch (const std::system_error &e) {
            error = e;
            return false;
        }
    }
    // Joins the last n (so that their slots in the limit are free again).
    void release_and_join_last(std::size_t n) {
        release_from(threads_.size() - std::min(n, threads_.size()));
        while (threads_.size() > released_from_) {
            threads_.back().join();
            threads_.pop_back();
        }
        std::lock_guard<std::mutex> hold(lock_);
        released_from_ = SIZE_MAX;
    }
    void release_and_join() { release_and_join_last(threads_.size()); }
    std::size_t size() const { return threads_.size(); }

private:
    void release_from(std::size_t place) {
        {
            std::lock_guard<std::mutex> hold(lock_);
            released_from_ = place;
        }
        wake_.notify_all();
    }
    std::vector<clonert::thread> threads_;
    std::mutex lock_;
    std::condition_variable wake_;
    std::size_t released_from_ = SIZE_MAX;
};

clonert::thread_options small_stack() {
    clonert::thread_options o;
    o.stack_size = clonert_test::small_stack_size;
    return o;
}

void *return_null(void *) { return nullptr; }

// clonert_create + join of a thread that does nothing: the C API's error.
int c_api_create_and_join() {
    clonert_t t;
    const int err = clonert_create(&t, nullptr, return_null, nullptr);
    if (err == 0) clonert_join(t, nullptr);
    return err;
}

// std::thread's error in the same situation, for comparison.
std::error_code std_thread_error() {
    try {
        std::thread([] {}).join();
        return {};
    } catch (const std::system_error &e) {
        return e.code();
    }
}

// --- The kernel refuses a thread: RLIMIT_NPROC, a pids cgroup ----------------------

long tasks_in_process() { return static_cast<long>(count_entries("/proc/self/task")); }

// Waits (up to 1 s) until the process has at most `tasks` tasks. A joined
// thread's task lingers a little after its join word is cleared, and the
// kernel gives its slot in a limit back only when it releases the task
// (kernel/exit.c, release_task), when /proc stops listing it.
void wait_for_tasks(long tasks) {
    for (int i = 0; i < 1000 && tasks_in_process() > tasks; ++i) std::this_thread::sleep_for(1ms);
}

// Makes threads until the kernel refuses one, then checks what each API
// says, and that slots freed by joining can be used again. `counted` says
// how many of the process's tasks count against the limit and `allowed` how
// many may.
void fill_to_the_limit(findings &f, long allowed, const std::function<long()> &counted,
                       bool also_std_thread) {
    const long tasks_at_start = tasks_in_process();
    parked_threads parked;
    std::optional<std::system_error> refused;
    while (parked.size() < static_cast<std::size_t>(allowed) + 10 && parked.add(small_stack(), refused)) {
    }
    const long at_limit = counted();
    f.note("%zu threads started, then clonert::thread threw: %s (%ld tasks counted)", parked.size(),
           refused ? refused->what() : "nothing", at_limit);
    f.expect(refused.has_value(), "no thread was refused");
    if (!refused) return;
    f.expect(refused->code() == std::errc::resource_unavailable_try_again,
             "the error is %s, not resource_unavailable_try_again", refused->code().message().c_str());
    f.expect(std::strstr(refused->what(), "clone") != nullptr, "the message does not name clone: %s",
             refused->what());
    f.expect(at_limit == allowed, "%ld tasks counted at the limit, expected %ld", at_limit, allowed);
    const int c_error = c_api_create_and_join();
    f.expect(c_error == EAGAIN, "clonert_create gave %d, expected EAGAIN", c_error);
    if (also_std_thread) {
        const std::error_code std_error = std_thread_error();
        f.expect(std_error == std::errc::resource_unavailable_try_again, "std::thread gave %s",
                 std_error.message().c_str());
    }
    // Joining three frees three slots: exactly three more can start.
    const long tasks_full = tasks_in_process();
    parked.release_and_join_last(3);
    wait_for_tasks(tasks_full - 3);
    int restarted = 0;
    for (std::optional<std::system_error> e; restarted < 4 && parked.add(small_stack(), e);) ++restarted;
    f.expect(restarted == 3, "%d threads started after joining 3, expected 3", restarted);
    parked.release_and_join();
    wait_for_tasks(tasks_at_start);
    f.expect(c_api_create_and_join() == 0, "no thread could be made after joining them all");
}

// Fills to the limit twice and checks that the second time left the process
// exactly as it found it. The first round lets libc reach its steady state
// (under qemu-user malloc took a 152 KiB mapping of its own during it), and
// checks std::thread's error at the limit too.
int fill_to_the_limit_twice(findings &f, long allowed, const std::function<long()> &counted) {
    fill_to_the_limit(f, allowed, counted, true);
    const footprint before = footprint::now();
    // clonert's threads only: glibc keeps the stack of a pthread_create that
    // failed in its own cache, and glibc 2.43 was seen to keep one more the
    // second time (an 8 MiB mapping): glibc's bookkeeping, not clonert's.
    fill_to_the_limit(f, allowed, counted, false);
    const footprint after = footprint::now();
    f.expect(after == before, "mappings %ld -> %ld, fds %ld -> %ld%s", before.mappings, after.mappings,
             before.fds, after.fds, before.difference(after).c_str());
    return f.wrong();
}

// A uid no other process on the machine uses: RLIMIT_NPROC counts every task
// of the real uid (setrlimit(2)), so another process of the same user (say,
// another test running as nobody) would change the count.
uid_t private_uid() { return 400000 + static_cast<uid_t>(getpid() % 100000); }

// How many of the process's tasks have this real uid (/proc/self/task/*/status, "Uid:").
long tasks_of_uid(uid_t uid) {
    long n = 0;
    if (DIR *d = opendir("/proc/self/task")) {
        while (dirent *e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            std::ifstream status(std::string("/proc/self/task/") + e->d_name + "/status");
            for (std::string line; std::getline(status, line);)
                if (line.rfind("Uid:", 0) == 0) n += std::stoul(line.substr(4)) == uid;
        }
        closedir(d);
    }
    return n;
}

TEST_CASE("faults: RLIMIT_NPROC reached -> resource_unavailable_try_again / EAGAIN, nothing leaked") {
    if (geteuid() != 0) CLONERT_SKIP("needs root, to run as a fresh uid (root ignores RLIMIT_NPROC)");
    const int wrong = in_child([] {
        findings f("RLIMIT_NPROC");
        clonert_set_stack_cache_size(0);  // a joined thread's memory goes at once
        c_api_create_and_join();          // clonert's one-time set-up, before the limit
        constexpr long limit = 24;
        const rlimit r{limit, limit};
        const uid_t uid = private_uid();
        if (setrlimit(RLIMIT_NPROC, &r) != 0 || setgroups(0, nullptr) != 0 ||
            setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
            return 99;
        // A process that changed uid is not dumpable; /proc/self/maps and
        // /proc/self/fd then belong to root (proc(5)). Make them readable.
        prctl(PR_SET_DUMPABLE, 1);
        // The tasks of this uid count: not qemu-user's helper thread, made
        // before the change and never changed (it runs no guest code).
        f.note("limit %ld tasks for uid %u", limit, uid);
        return fill_to_the_limit_twice(f, limit, [uid] { return tasks_of_uid(uid); });
    });
    CHECK(wrong == 0);
}

// A pids controller we may write to: cgroup v2 (/sys/fs/cgroup with "pids"
// in cgroup.controllers and its subtree_control) or v1 (/sys/fs/cgroup/pids).
std::optional<std::string> pids_cgroup_parent() {
    std::ifstream v2("/sys/fs/cgroup/cgroup.subtree_control");
    std::string controllers;
    if (v2 && std::getline(v2, controllers) && controllers.find("pids") != std::string::npos)
        return std::string("/sys/fs/cgroup");
    struct stat s {};
    if (stat("/sys/fs/cgroup/pids/pids.max", &s) == 0 || stat("/sys/fs/cgroup/pids/cgroup.procs", &s) == 0)
        return std::string("/sys/fs/cgroup/pids");
    return std::nullopt;
}

bool write_file(const std::string &path, const std::string &text) {
    const int fd = open(path.c_str(), O_WRONLY);
    if (fd < 0) return false;
    const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    return ok;
}

TEST_CASE("faults: a pids cgroup limit reached -> resource_unavailable_try_again, nothing leaked") {
    const auto parent = pids_cgroup_parent();
    if (!parent) CLONERT_SKIP("no pids cgroup controller at /sys/fs/cgroup (v2) or /sys/fs/cgroup/pids (v1)");
    const std::string group = *parent + "/clonert-test-" + std::to_string(getpid());
    if (mkdir(group.c_str(), 0755) != 0)
        CLONERT_SKIP(("cannot create a cgroup in " + *parent + ": " + std::strerror(errno)).c_str());
    constexpr long limit = 16;
    const bool limited = write_file(group + "/pids.max", std::to_string(limit));
    // The child waits until it has been moved into the group.
    int go[2];
    REQUIRE(pipe(go) == 0);
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        c_api_create_and_join();  // clonert's one-time set-up
        char byte;
        if (read(go[0], &byte, 1) != 1) _exit(98);
        findings f("pids cgroup");
        clonert_set_stack_cache_size(0);
        f.note("pids.max %ld in %s", limit, group.c_str());
        const int wrong = fill_to_the_limit_twice(f, limit, tasks_in_process);
        std::fflush(nullptr);
        _exit(wrong > 100 ? 100 : wrong);
    }
    close(go[0]);
    const bool moved = limited && write_file(group + "/cgroup.procs", std::to_string(pid));
    if (!moved) kill(pid, SIGKILL);
    REQUIRE(write(go[1], "g", 1) == 1);
    close(go[1]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    rmdir(group.c_str());
    if (!moved) CLONERT_SKIP(("cannot set pids.max or move a process into " + group).c_str());
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

// --- No address space for a stack: RLIMIT_AS -------------------------------------

long virtual_size_bytes() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmSize:", 0) == 0) return std::stol(line.substr(7)) * 1024;
    return -1;
}

TEST_CASE("faults: RLIMIT_AS leaves no room for a stack -> an error naming mmap, nothing leaked") {
    const int wrong = in_child([] {
        findings f("RLIMIT_AS");
        // With the cache off, a stack is always a fresh mmap (a cached
        // mapping would be served without one).
        clonert_set_stack_cache_size(0);
        c_api_create_and_join();
        (void)std_thread_error();  // glibc's own thread set-up, too
        // Room for 4 MiB more: enough for small stacks, not for an 8 MiB one.
        const long room = 4 << 20;
        // One reading for both limits: a second one may be smaller (memory
        // freed in between), and a soft limit above the hard one is EINVAL.
        const auto limit = static_cast<rlim_t>(virtual_size_bytes() + room);
        const rlimit r{limit, limit};
        if (setrlimit(RLIMIT_AS, &r) != 0) return 99;
        rlimit now{};
        getrlimit(RLIMIT_AS, &now);
        if (now.rlim_cur != r.rlim_cur) return 98;  // not applied (qemu-user: see the test)
        const footprint before = footprint::now();
        clonert::thread_options big;
        big.stack_size = 8 << 20;
        std::optional<std::system_error> refused;
        try {
            clonert::thread(big, [] {}).join();
        } catch (const std::system_error &e) {
            refused = e;
        }
        f.note("an 8 MiB stack with %ld bytes of address space left: %s", room,
               refused ? refused->what() : "no error");
        f.expect(refused.has_value(), "an 8 MiB stack was mapped with 4 MiB of room");
        if (refused) {
            f.expect(refused->code() == std::errc::resource_unavailable_try_again, "the error is %s",
                     refused->code().message().c_str());
            f.expect(std::strstr(refused->what(), "mmap") != nullptr, "the message does not name mmap");
        }
        clonert_attr_t attr;
        clonert_attr_init(&attr);
        clonert_attr_setstacksize(&attr, 8 << 20);
        clonert_t t;
        const int c_error = clonert_create(&t, &attr, return_null, nullptr);
        f.expect(c_error == EAGAIN, "clonert_create with an 8 MiB stack gave %d, expected EAGAIN", c_error);
        if (c_error == 0) clonert_join(t, nullptr);
        f.expect(footprint::now() == before, "a refused thread left mappings or descriptors behind");
        // Small stacks still fit, again and again.
        int small_ran = 0;
        for (int i = 0; i < 100; ++i) clonert::thread(small_stack(), [&small_ran] { ++small_ran; }).join();
        f.expect(small_ran == 100, "%d of 100 threads with %zu KiB stacks ran", small_ran, clonert_test::small_stack_size / 1024);
        f.expect(footprint::now() == before, "threads with small stacks left mappings behind");
        return f.wrong();
    });
    if (wrong == 98)
        CLONERT_SKIP("qemu-user 7.2 does not apply RLIMIT_AS to the guest (setrlimit returns 0, "
                     "getrlimit still reports unlimited; checked in the child)");
    CHECK(wrong == 0);
}

// --- Signals without pause while threads are made and end ------------------------

// The handler uses only async-signal-safe calls and keeps errno (signal-
// safety(7)); snprintf is not on that list but is reentrant in glibc for
// plain integer formats, as the brief of this test allows. No malloc.
std::atomic<long> signals_handled{0};
int dev_null = -1;

void on_storm_signal(int sig) {
    const int saved = errno;
    char line[64];
    const int n = std::snprintf(line, sizeof line, "signal %d in task %ld\n", sig, syscall(SYS_gettid));
    if (n > 0 && write(dev_null, line, static_cast<std::size_t>(n)) < 0) signals_handled += 0;
    signals_handled.fetch_add(1, std::memory_order_relaxed);
    errno = saved;
}

// Sends SIGUSR1 to every task of the process, over and over, until told to
// stop: threads are hit while clonert starts them, while they run, while
// they exit and while they unmap their own stacks.
void storm(std::atomic<bool> &stop, long &sent) {
    const pid_t pid = getpid();
    while (!stop.load()) {
        DIR *d = opendir("/proc/self/task");
        if (d == nullptr) continue;
        while (dirent *e = readdir(d))
            if (e->d_name[0] != '.' && syscall(SYS_tgkill, pid, std::atoi(e->d_name), SIGUSR1) == 0) ++sent;
        closedir(d);
    }
}

// True once /proc/self/task no longer lists the TID (false after `limit`).
bool gone_within(pid_t tid, std::chrono::milliseconds limit) {
    const std::string path = "/proc/self/task/" + std::to_string(tid);
    for (auto waited = 0ms; waited < limit; waited += 1ms) {
        if (access(path.c_str(), F_OK) != 0) return true;
        std::this_thread::sleep_for(1ms);
    }
    return false;
}

// What every thread of the storm test does: touch libc and the heap.
std::atomic<long> bodies_done{0};
void thread_work() {
    std::vector<int> v(64, 1);
    char text[64];
    std::snprintf(text, sizeof text, "%d %f", v[63], 2.5);
    if (text[0] == '1') bodies_done.fetch_add(1);
}

TEST_CASE("faults: a storm of signals during creation, exit and self-unmapping loses no thread") {
    const int wrong = in_child([] {
        findings f("signal storm");
        dev_null = open("/dev/null", O_WRONLY);
        struct sigaction sa {};
        sa.sa_handler = on_storm_signal;  // no SA_RESTART: system calls see EINTR
        sigaction(SIGUSR1, &sa, nullptr);
        const int creators = 4, cycles = clonert_test::under_qemu() ? 150 : 5000;
        // The detached threads' TIDs, to check at the end that each is gone
        // (counting /proc/self/task would also count qemu's or a sanitizer's
        // helper threads).
        std::vector<std::atomic<pid_t>> detached_tids(static_cast<std::size_t>(creators) * cycles);
        std::atomic<bool> stop{false};
        long sent = 0;
        clonert::thread stormer([&] { storm(stop, sent); });
        std::atomic<long> made{0}, joined{0}, detached{0};
        std::vector<clonert::thread> makers;
        for (int c = 0; c < creators; ++c)
            makers.emplace_back([&, c] {
                for (int i = 0; i < cycles; ++i) {
                    ++made;
                    if (i % 4 == 3) {
                        // Detached: it gives back its own memory (to the cache,
                        // or unmapping its own stack when the cache is off).
                        std::atomic<pid_t> &tid = detached_tids[static_cast<std::size_t>(c) * cycles + i];
                        clonert::thread([&tid] {
                            tid = static_cast<pid_t>(syscall(SYS_gettid));
                            thread_work();
                        }).detach();
                        ++detached;
                    } else {
                        clonert::thread(thread_work).join();
                        ++joined;
                    }
                    if (c == 0 && i == cycles / 2) clonert_set_stack_cache_size(0);
                }
            });
        for (auto &m : makers) m.join();
        // Wait by yielding, not sleeping: a nanosleep interrupted faster than
        // the timer slack (prctl(2), PR_SET_TIMERSLACK; 50 us by default) may
        // never end, the remaining time handed back appearing to include the
        // slack each restart adds again (seen: sleep_for(1ms) still asleep
        // after ten minutes of this storm; with a 1 ns slack it ends).
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (bodies_done.load() < made.load() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        stop = true;
        stormer.join();
        f.note("%ld threads made, %ld joined, %ld bodies ran; %ld signals sent, %ld handled", made.load(),
               joined.load(), bodies_done.load(), sent, signals_handled.load());
        f.expect(bodies_done.load() == made.load(), "%ld of %ld thread bodies ran", bodies_done.load(),
                 made.load());
        f.expect(joined.load() + detached.load() == made.load(), "%ld joined + %ld detached of %ld made",
                 joined.load(), detached.load(), made.load());
        f.expect(signals_handled.load() > 1000, "only %ld signals were handled", signals_handled.load());
        // Every detached thread has gone. (A TID seen again may belong to a
        // later thread by now; all of those have ended too.)
        long still_there = 0;
        for (const auto &tid : detached_tids)
            if (tid.load() != 0 && !gone_within(tid.load(), 10s)) ++still_there;
        f.expect(still_there == 0, "%ld detached threads still exist", still_there);
        return f.wrong();
    });
    CHECK(wrong == 0);
}

// --- fork() while other threads make threads ------------------------------------------

// A child forked at any moment must find libc usable: malloc's arenas and
// stdio's locks are taken around fork by glibc itself (fork(2) in a
// multithreaded process; glibc's __libc_fork runs its atfork handlers), and
// clonert's stack-cache lock by clonert's own atfork handler. The child
// mallocs, prints (to /dev/null) and exits 0; a hang would die of SIGALRM.
int fork_children_while_creating(int forks, const std::function<int()> &child_body) {
    std::atomic<bool> stop{false};
    std::vector<clonert::thread> makers;
    for (int c = 0; c < 2; ++c)
        makers.emplace_back([&stop] {
            while (!stop.load()) {
                clonert::thread a(thread_work), b(thread_work);
                a.join();
                b.join();
            }
        });
    int bad = 0;
    for (int i = 0; i < forks; ++i) {
        std::fflush(stdout);  // or each child would inherit, and may print, what is buffered
        const pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            _exit(child_body());
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            ++bad;
            std::printf("fork: child %d ended with status %#x%s\n", i, status,
                        WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (hung: SIGALRM)" : "");
        }
    }
    stop = true;
    for (auto &m : makers) m.join();
    return bad;
}

int malloc_and_print() {
    FILE *out = std::fopen("/dev/null", "w");
    if (out == nullptr) return 2;
    std::vector<std::string> lines;
    for (int i = 0; i < 50; ++i) lines.push_back(std::string(100 + i, 'x'));
    std::fprintf(out, "%s %d %f\n", lines.back().c_str(), getpid(), 1.5);
    return std::fclose(out) == 0 ? 0 : 3;
}

TEST_CASE("faults: fork while other threads make threads: the child can malloc and print") {
    // Under qemu-user 7.2 the forking process itself hung once (a full CI
    // run, 9 minutes asleep until meson's timeout killed it; not reproduced
    // in 11 runs since, alone or two at a time): the same qemu limitation as
    // the case below, where a child forked while another thread is inside
    // clone can hang -- and qemu blocks host signals there, so the child's
    // alarm cannot end it and the parent waits for it forever.
    CLONERT_SKIP_UNDER_QEMU("qemu-user 7.2 does not hold its clone lock across fork: a child forked while "
                            "another thread is inside clone can hang where its alarm cannot reach it");
    const int forks = 500;
    const int bad = in_child([forks] {
        const int n = fork_children_while_creating(forks, malloc_and_print);
        std::printf("fork: %d children forked while 2 threads made threads, %d failed\n", forks, n);
        return n;
    });
    CHECK(bad == 0);
}

// A child forked while another thread is inside clonert's thread creation
// must not inherit clonert's list of live threads as the fork caught it: its
// spin lock held (the child's first clonert thread would spin forever in
// the registry's lock, runtime/thread/registry.cpp), or a record whose clone had not returned (the child's
// setuid family would wait forever for that "starting" thread). The runtime
// holds the lock across fork and starts the child's list afresh
// (runtime/thread/lifecycle_raw.cpp, pthread_atfork). Before it did, this case saw 5
// hung children in 5,000 (10 s each).
TEST_CASE("faults: fork while other threads make threads: the child can make threads and setuid") {
    if (geteuid() != 0) CLONERT_SKIP("needs root, for seteuid");
    // Checked with plain pthreads (std::thread makers, a child that makes one
    // std::thread): 33 children of 40 hung or hit qemu assertions.
    CLONERT_SKIP_UNDER_QEMU("qemu-user 7.2 does not hold its clone lock across fork: a child forked "
                            "while another thread is inside clone hangs making its first thread, "
                            "pthreads too");
    const int forks = 5000;
    const int bad = in_child([forks] {
        return fork_children_while_creating(forks, [] {
            clonert::thread(thread_work).join();
            return seteuid(65534) == 0 ? malloc_and_print() : 4;
        });
    });
    CHECK(bad == 0);
}

// --- Running off the end of a stack -----------------------------------------------------

// The guard below a thread's stack, from /proc/self/maps: the PROT_NONE
// mapping that ends where the mapping holding `inside` begins.
struct address_range {
    std::uintptr_t low = 0, high = 0;
    bool holds(std::uintptr_t a) const { return a >= low && a < high; }
};

struct stack_and_guard {
    address_range stack, guard;
};

std::optional<stack_and_guard> find_stack_and_guard(const void *inside) {
    const auto at = reinterpret_cast<std::uintptr_t>(inside);
    std::vector<std::pair<address_range, std::string>> maps;
    std::ifstream in("/proc/self/maps");
    for (std::string line; std::getline(in, line);) {
        unsigned long low, high;
        char perms[5] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %4s", &low, &high, perms) == 3) maps.push_back({{low, high}, perms});
    }
    for (std::size_t i = 1; i < maps.size(); ++i)
        if (maps[i].first.holds(at) && maps[i - 1].second == "---p" &&
            maps[i - 1].first.high == maps[i].first.low)
            return stack_and_guard{maps[i].first, maps[i - 1].first};
    // A guard region (madvise(MADV_GUARD_INSTALL)) inside the stack's own
    // mapping: the pages at its bottom the kernel cannot read.
    const long page = sysconf(_SC_PAGESIZE);
    for (const auto &[range, perms] : maps) {
        if (!range.holds(at)) continue;
        std::uintptr_t guard_high = range.low;
        while (guard_high < at && kernel_cannot_read(reinterpret_cast<const void *>(guard_high))) guard_high += page;
        if (guard_high == range.low) return std::nullopt;
        return stack_and_guard{{guard_high, range.high}, {range.low, guard_high}};
    }
    return std::nullopt;
}

// Set by the overflowing thread before it starts recursing; read by the
// SIGSEGV handler, which runs on an alternate signal stack (the thread's own
// stack is exhausted: sigaltstack(2)).
struct overflow_watch {
    address_range guard;
    const volatile std::uint64_t *neighbour_canary = nullptr;
    std::uint64_t canary_value = 0;
};
overflow_watch watch;

constexpr int fault_in_guard = 42, fault_elsewhere = 43, canary_broken = 44;

void on_overflow(int, siginfo_t *info, void *) {
    const auto at = reinterpret_cast<std::uintptr_t>(info->si_addr);
    const bool in_guard = watch.guard.holds(at);
    const bool canary_ok = *watch.neighbour_canary == watch.canary_value;
    char line[200];
    const int n = std::snprintf(line, sizeof line,
                                "stack overflow: SIGSEGV at %#lx; guard %#lx-%#lx; %s; neighbour's canary %s\n",
                                static_cast<unsigned long>(at), static_cast<unsigned long>(watch.guard.low),
                                static_cast<unsigned long>(watch.guard.high),
                                in_guard ? "inside the guard" : "NOT in the guard", canary_ok ? "intact" : "BROKEN");
    if (write(STDOUT_FILENO, line, static_cast<std::size_t>(n)) < 0) _exit(fault_elsewhere + 10);
    _exit(!canary_ok ? canary_broken : in_guard ? fault_in_guard : fault_elsewhere);
}

// Small frames, so that the first access past the stack lands in the guard
// (a frame larger than the guard could step over it: that is why glibc and
// clonert let a program ask for a bigger one).
// The compiler cannot know the depth is never reached.
volatile unsigned long unreachable_depth = ~0ul;

[[gnu::noinline]] int recurse_forever(unsigned long depth) {
    volatile char frame[128];
    frame[0] = static_cast<char>(depth);
    if (depth == unreachable_depth) return frame[0];
    return recurse_forever(depth + 1) + frame[0];
}

thread_local volatile std::uint64_t canary_in_tls = 0;

TEST_CASE("faults: a thread that overflows its stack faults in its guard, its neighbour intact") {
    const int fate = in_child([] {
        // The overflowing thread first, then the neighbour: mmap places new
        // mappings below older ones, so the neighbour's mapping -- its TLS
        // area and record at the top -- is the likeliest to sit just below
        // the overflowing thread's guard, where an unguarded overflow would
        // write first.
        std::atomic<int> stage{0};
        clonert::thread_options o = small_stack();
        clonert::thread overflowing(o, [&stage] {
            volatile char here = 0;
            const auto found = find_stack_and_guard(const_cast<char *>(&here));
            if (!found) _exit(50);
            watch.guard = found->guard;
            static char alternate[64 * 1024];
            stack_t alt{};
            alt.ss_sp = alternate;
            alt.ss_size = sizeof alternate;
            sigaltstack(&alt, nullptr);
            struct sigaction sa {};
            sa.sa_sigaction = on_overflow;
            sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
            sigaction(SIGSEGV, &sa, nullptr);
            stage = 1;
            while (stage.load() != 2) std::this_thread::yield();
            recurse_forever(0);
        });
        while (stage.load() != 1) std::this_thread::yield();
        clonert::thread neighbour(o, [&stage] {
            canary_in_tls = 0x5ca1ab1e0ddba11ull;
            watch.canary_value = canary_in_tls;
            watch.neighbour_canary = &canary_in_tls;
            volatile char here = 0;
            const auto mine = find_stack_and_guard(const_cast<char *>(&here));
            if (mine && mine->stack.high == watch.guard.low)
                std::printf("stack overflow: the neighbour's mapping ends right at the guard\n");
            std::fflush(stdout);
            stage = 2;
            for (;;) pause();
        });
        overflowing.join();
        return 51;  // not reached: the handler ends the process
    });
    CHECK(fate == fault_in_guard);
}

}  // namespace
