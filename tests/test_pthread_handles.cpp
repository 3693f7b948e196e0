// A clonert thread's native handle is a pthread_t that glibc's functions
// taking a thread accept (issue 12): clonert::thread::native_handle(),
// clonert::jthread::native_handle() and clonert_pthread(). Each case does the
// same thing to a std::thread, a clonert::thread and a thread from
// clonert_create, and compares return codes and what the kernel or the
// thread itself then sees: pthread_kill(3), pthread_sigqueue(3),
// pthread_setaffinity_np(3), pthread_setname_np(3), pthread_getattr_np(3),
// pthread_setschedparam(3), pthread_getcpuclockid(3), pthread_equal(3).
//
// Catch2 is not thread-safe: threads only record what they see; the main
// thread makes every assertion.
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <optional>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <thread>
#include <unistd.h>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using clonert_test::guard_regions_here;
using clonert_test::kernel_cannot_read;

// The three ways to make a thread whose pthread_t is asked for.
enum class maker { std_thread, clonert_thread, clonert_c_api };
constexpr maker makers[] = {maker::std_thread, maker::clonert_thread, maker::clonert_c_api};

const char *name_of(maker m) {
    switch (m) {
    case maker::std_thread: return "std::thread";
    case maker::clonert_thread: return "clonert::thread";
    case maker::clonert_c_api: return "clonert_create";
    }
    return "?";
}

// A thread made by `m`: it records its TID and pthread_self(), then runs
// `body`. handle() is the pthread_t as that API hands it out:
// std::thread::native_handle(), clonert::thread::native_handle(),
// clonert_pthread().
class worker {
public:
    worker(maker m, std::function<void()> body) : body_(std::move(body)) {
        switch (m) {
        case maker::std_thread:
            std_ = std::thread([this] { run(); });
            handle_ = std_.native_handle();
            break;
        case maker::clonert_thread:
            clonert_ = clonert::thread([this] { run(); });
            handle_ = clonert_.native_handle();
            break;
        case maker::clonert_c_api:
            REQUIRE(clonert_create(&c_api_, nullptr,
                                   [](void *w) -> void * {
                                       static_cast<worker *>(w)->run();
                                       return nullptr;
                                   },
                                   this) == 0);
            joinable_c_api_ = true;
            handle_ = clonert_pthread(c_api_);
            break;
        }
        started_.wait(false);
    }
    worker(const worker &) = delete;
    worker &operator=(const worker &) = delete;
    ~worker() { join(); }

    void join() {
        if (std_.joinable()) std_.join();
        if (clonert_.joinable()) clonert_.join();
        if (joinable_c_api_) {
            clonert_join(c_api_, nullptr);
            joinable_c_api_ = false;
        }
    }
    pthread_t handle() const { return handle_; }
    pid_t tid() const { return tid_; }
    pthread_t self() const { return self_; }

private:
    void run() {
        tid_ = gettid();
        self_ = pthread_self();
        started_ = true;
        started_.notify_all();
        body_();
    }

    std::function<void()> body_;
    std::thread std_;
    clonert::thread clonert_;
    clonert_t c_api_ = nullptr;
    bool joinable_c_api_ = false;
    pthread_t handle_{};
    pid_t tid_ = 0;
    pthread_t self_{};
    std::atomic<bool> started_{false};
};

// Waits (up to 10 s) until `done()`.
template <class F>
bool eventually(F done) {
    for (int i = 0; i < 10000; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(1ms);
    }
    return done();
}

// Blocks the calling thread until `flag` is set (a futex wait, not a spin).
void wait_for(const std::atomic<bool> &flag) {
    while (!flag.load()) flag.wait(false);
}
void raise_flag(std::atomic<bool> &flag) {
    flag = true;
    flag.notify_all();
}

std::string read_line(const std::string &path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// The permissions of the /proc/self/maps line that holds `address` ("" if none).
std::string perms_at(std::uintptr_t address) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        unsigned long start = 0, end = 0;
        char perms[8] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %7s", &start, &end, perms) != 3) continue;
        if (start <= address && address < end) return perms;
    }
    return "";
}

// A signal handler's record of where and with what it ran.
std::atomic<pid_t> handled_in{0};
std::atomic<int> handled_value{0};
std::atomic<int> handled_code{0};

void record_signal(int, siginfo_t *info, void *) {
    handled_value = info->si_value.sival_int;
    handled_code = info->si_code;
    handled_in = gettid();  // last: the main thread waits for it
}

// Installs record_signal for `sig` for the life of the object.
class signal_recorder {
public:
    explicit signal_recorder(int sig) : sig_(sig) {
        struct sigaction sa {};
        sa.sa_sigaction = record_signal;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        REQUIRE(sigaction(sig, &sa, &old_) == 0);
        handled_in = 0;
        handled_value = 0;
        handled_code = 0;
    }
    ~signal_recorder() { sigaction(sig_, &old_, nullptr); }
    signal_recorder(const signal_recorder &) = delete;
    signal_recorder &operator=(const signal_recorder &) = delete;

private:
    int sig_;
    struct sigaction old_ {};
};

}  // namespace

// --- pthread_kill and pthread_sigqueue -------------------------------------------

namespace {

struct signal_outcome {
    int probe = -1;        // pthread_kill(handle, 0): the thread exists
    int sent = -1;         // the call that sends the signal
    bool handled = false;  // the handler ran...
    bool in_target = false;  // ...in the target thread
    int value = 0;         // sigqueue only: the value the handler got
    int code = 0;          // ...and si_code
};

signal_outcome signal_thread(maker m, bool queue) {
    signal_recorder recorder(SIGUSR1);
    std::atomic<bool> release{false};
    worker w(m, [&] { wait_for(release); });
    signal_outcome r;
    r.probe = pthread_kill(w.handle(), 0);
    if (queue) {
        sigval value{};
        value.sival_int = 4242;
        r.sent = pthread_sigqueue(w.handle(), SIGUSR1, value);
    } else {
        r.sent = pthread_kill(w.handle(), SIGUSR1);
    }
    r.handled = eventually([] { return handled_in.load() != 0; });
    r.in_target = handled_in.load() == w.tid();
    r.value = handled_value;
    r.code = handled_code;
    raise_flag(release);
    w.join();
    return r;
}

}  // namespace

TEST_CASE("pthread_kill on the handle signals that thread, as for a std::thread") {
    const signal_outcome expected = signal_thread(maker::std_thread, false);
    for (maker m : makers) {
        INFO(name_of(m));
        const signal_outcome r = signal_thread(m, false);
        CHECK(r.probe == 0);
        CHECK(r.sent == 0);
        CHECK(r.handled);
        CHECK(r.in_target);  // a wrong handle signals another thread, or none
        CHECK(r.code == SI_TKILL);
        CHECK(r.probe == expected.probe);
        CHECK(r.sent == expected.sent);
        CHECK(r.code == expected.code);
    }
}

TEST_CASE("pthread_sigqueue on the handle queues the value to that thread, as for a std::thread") {
    const signal_outcome expected = signal_thread(maker::std_thread, true);
    for (maker m : makers) {
        INFO(name_of(m));
        const signal_outcome r = signal_thread(m, true);
        CHECK(r.sent == 0);
        CHECK(r.handled);
        CHECK(r.in_target);
        CHECK(r.value == 4242);
        CHECK(r.code == SI_QUEUE);
        CHECK(r.sent == expected.sent);
        CHECK(r.value == expected.value);
        CHECK(r.code == expected.code);
    }
}

// --- pthread_setaffinity_np and pthread_getaffinity_np ---------------------------

namespace {

struct affinity_outcome {
    int set = -1;
    int get = -1;
    bool got_what_was_set = false;   // pthread_getaffinity_np
    bool kernel_agrees = false;      // sched_getaffinity(TID)
    bool ran_there = false;          // sched_getcpu() inside the thread
    int set_impossible = -1;         // a set of no CPU this process may use
};

affinity_outcome pin_thread(maker m, int cpu) {
    std::atomic<bool> pinned{false}, release{false};
    std::atomic<int> cpu_seen{-1};
    worker w(m, [&] {
        wait_for(pinned);
        // The kernel moves a thread off a CPU it may no longer use before
        // sched_setaffinity returns (kernel/sched/core.c, __set_cpus_allowed_ptr).
        cpu_seen = sched_getcpu();
        wait_for(release);
    });
    cpu_set_t want;
    CPU_ZERO(&want);
    CPU_SET(cpu, &want);
    affinity_outcome r;
    r.set = pthread_setaffinity_np(w.handle(), sizeof want, &want);
    raise_flag(pinned);
    cpu_set_t got;
    CPU_ZERO(&got);
    r.get = pthread_getaffinity_np(w.handle(), sizeof got, &got);
    r.got_what_was_set = CPU_EQUAL(&got, &want);
    cpu_set_t kernel;
    CPU_ZERO(&kernel);
    r.kernel_agrees = sched_getaffinity(w.tid(), sizeof kernel, &kernel) == 0 &&
                      CPU_EQUAL(&kernel, &want);
    r.ran_there = eventually([&] { return cpu_seen.load() != -1; }) && cpu_seen == cpu;
    cpu_set_t none_allowed;
    CPU_ZERO(&none_allowed);
    CPU_SET(CPU_SETSIZE - 1, &none_allowed);  // no machine here has 1024 CPUs
    r.set_impossible = pthread_setaffinity_np(w.handle(), sizeof none_allowed, &none_allowed);
    raise_flag(release);
    w.join();
    return r;
}

}  // namespace

TEST_CASE("pthread_setaffinity_np on the handle pins that thread, as for a std::thread") {
    cpu_set_t mine;
    REQUIRE(sched_getaffinity(0, sizeof mine, &mine) == 0);
    REQUIRE_FALSE(CPU_ISSET(CPU_SETSIZE - 1, &mine));
    int cpu = -1;  // the highest CPU allowed: with two or more, not every thread's default set
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &mine)) cpu = c;
    REQUIRE(cpu >= 0);
    const affinity_outcome expected = pin_thread(maker::std_thread, cpu);
    for (maker m : makers) {
        INFO(name_of(m) << ", CPU " << cpu);
        const affinity_outcome r = pin_thread(m, cpu);
        CHECK(r.set == 0);
        CHECK(r.get == 0);
        CHECK(r.got_what_was_set);
        CHECK(r.kernel_agrees);
        CHECK(r.ran_there);
        CHECK(r.set_impossible == EINVAL);
        CHECK(r.set == expected.set);
        CHECK(r.get == expected.get);
        CHECK(r.set_impossible == expected.set_impossible);
    }
    cpu_set_t after;
    REQUIRE(sched_getaffinity(0, sizeof after, &after) == 0);
    CHECK(CPU_EQUAL(&after, &mine));  // the main thread was not the one pinned
}

// --- pthread_setname_np and pthread_getname_np ------------------------------------

namespace {

struct name_outcome {
    int set = -1;
    int get = -1;
    std::string got;     // pthread_getname_np
    std::string comm;    // /proc/self/task/TID/comm
    std::string inside;  // prctl(PR_GET_NAME) in the thread
    int too_long = -1;
};

name_outcome name_thread(maker m) {
    std::atomic<bool> named{false}, release{false};
    char inside[16] = {};
    worker w(m, [&] {
        wait_for(named);
        prctl(PR_GET_NAME, inside);
        wait_for(release);
    });
    name_outcome r;
    r.set = pthread_setname_np(w.handle(), "handle-named");
    raise_flag(named);
    char got[16] = {};
    r.get = pthread_getname_np(w.handle(), got, sizeof got);
    r.got = got;
    r.comm = read_line("/proc/self/task/" + std::to_string(w.tid()) + "/comm");
    r.too_long = pthread_setname_np(w.handle(), "sixteen-bytes-xx");  // TASK_COMM_LEN is 16
    raise_flag(release);
    w.join();
    r.inside = inside;  // written before `release` was waited for
    return r;
}

}  // namespace

TEST_CASE("pthread_setname_np on the handle names that thread, as for a std::thread") {
    const std::string main_name = read_line("/proc/thread-self/comm");
    const name_outcome expected = name_thread(maker::std_thread);
    for (maker m : makers) {
        INFO(name_of(m));
        const name_outcome r = name_thread(m);
        CHECK(r.set == 0);
        CHECK(r.get == 0);
        CHECK(r.got == "handle-named");
        CHECK(r.comm == "handle-named");
        CHECK(r.inside == "handle-named");
        CHECK(r.too_long == ERANGE);
        CHECK(r.set == expected.set);
        CHECK(r.get == expected.get);
        CHECK(r.too_long == expected.too_long);
    }
    CHECK(read_line("/proc/thread-self/comm") == main_name);
}

// --- pthread_getattr_np ------------------------------------------------------------

namespace {

struct attr_outcome {
    int rc = -1;
    std::size_t size = 0;
    std::size_t guard = 0;
    int detach_state = -1;
    bool local_inside = false;     // a local of the thread is in the reported stack
    bool main_local_inside = true;
    std::string stack_perms;       // /proc/self/maps at the reported stack's lowest byte
    std::string guard_perms;       // ...and at the byte below it, in the reported guard
    bool guard_unreadable = false; // the kernel cannot read that byte (kernel_cannot_read)
};

attr_outcome attributes_of_thread(maker m) {
    std::atomic<bool> release{false};
    std::atomic<std::uintptr_t> local_address{0};
    worker w(m, [&] {
        int local = 0;
        local_address = reinterpret_cast<std::uintptr_t>(&local);
        wait_for(release);  // keeps `local` alive while main looks
    });
    const bool recorded = eventually([&] { return local_address.load() != 0; });
    attr_outcome r;
    pthread_attr_t attr;
    r.rc = pthread_getattr_np(w.handle(), &attr);
    if (r.rc == 0) {
        void *low = nullptr;
        pthread_attr_getstack(&attr, &low, &r.size);
        pthread_attr_getguardsize(&attr, &r.guard);
        pthread_attr_getdetachstate(&attr, &r.detach_state);
        pthread_attr_destroy(&attr);
        const auto base = reinterpret_cast<std::uintptr_t>(low);
        r.local_inside = recorded && base <= local_address && local_address < base + r.size;
        int main_local = 0;
        const auto main_address = reinterpret_cast<std::uintptr_t>(&main_local);
        r.main_local_inside = base <= main_address && main_address < base + r.size;
        r.stack_perms = perms_at(base);
        if (r.guard != 0) {
            r.guard_perms = perms_at(base - 1);
            r.guard_unreadable = kernel_cannot_read(reinterpret_cast<const void *>(base - 1));
        }
    }
    raise_flag(release);
    w.join();
    return r;
}

}  // namespace

TEST_CASE("pthread_getattr_np on the handle reports the stack and guard the thread has") {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const attr_outcome expected = attributes_of_thread(maker::std_thread);
    for (maker m : makers) {
        INFO(name_of(m) << ": stack " << expected.size << " bytes for std::thread");
        const attr_outcome r = attributes_of_thread(m);
        CHECK(r.rc == 0);
        CHECK(r.local_inside);
        CHECK_FALSE(r.main_local_inside);
        CHECK(r.guard == page);  // both default to one page of guard
        CHECK(r.detach_state == PTHREAD_CREATE_JOINABLE);
        // The stack is writable to its reported lowest byte, and the guard
        // below it is mapped without access (proc(5): "---p"), or, where the
        // kernel has guard regions (6.13 and later), is a guard region inside
        // the stack's "rw-p" mapping: clonert installs its guards that way
        // there, as glibc 2.43 does its own (madvise(MADV_GUARD_INSTALL)).
        // Either way the kernel cannot read it.
        CHECK(r.stack_perms.substr(0, 2) == "rw");
        CHECK(r.guard_unreadable);
        if (m != maker::std_thread) CHECK(r.guard_perms.substr(0, 3) == (guard_regions_here() ? "rw-" : "---"));
        else CHECK((r.guard_perms.substr(0, 3) == "---" || r.guard_perms.substr(0, 3) == "rw-"));
        // Both default to RLIMIT_STACK: the sizes differ at most by what
        // each keeps above the stack for the thread's TLS and struct pthread.
        CHECK(r.size + 256 * 1024 > expected.size);
        CHECK(r.size < expected.size + 256 * 1024);
        CHECK(r.rc == expected.rc);
        CHECK(r.guard == expected.guard);
        CHECK(r.detach_state == expected.detach_state);
        CHECK(r.stack_perms == expected.stack_perms);
    }
}

// --- pthread_setschedparam and pthread_getschedparam -------------------------------

namespace {

struct sched_outcome {
    int get_default = -1;
    int default_policy = -1, default_priority = -1;
    int set_rc[3] = {-1, -1, -1};              // SCHED_BATCH, SCHED_IDLE, SCHED_OTHER
    int kernel_policy[3] = {-1, -1, -1};       // sched_getscheduler(TID) after each
    int got_policy[3] = {-1, -1, -1};          // pthread_getschedparam after each
    int got_priority[3] = {-1, -1, -1};
    int bad_priority = -1;                     // SCHED_OTHER with priority 5
};

constexpr int policies[3] = {SCHED_BATCH, SCHED_IDLE, SCHED_OTHER};

sched_outcome schedule_thread(maker m) {
    std::atomic<bool> release{false};
    worker w(m, [&] { wait_for(release); });
    sched_outcome r;
    sched_param param{};
    r.get_default = pthread_getschedparam(w.handle(), &r.default_policy, &param);
    r.default_priority = param.sched_priority;
    for (int i = 0; i < 3; ++i) {
        const sched_param zero{};
        r.set_rc[i] = pthread_setschedparam(w.handle(), policies[i], &zero);
        r.kernel_policy[i] = sched_getscheduler(w.tid());
        sched_param got{};
        got.sched_priority = -1;
        pthread_getschedparam(w.handle(), &r.got_policy[i], &got);
        r.got_priority[i] = got.sched_priority;
    }
    sched_param five{};
    five.sched_priority = 5;  // sched(7): SCHED_OTHER's only priority is 0
    r.bad_priority = pthread_setschedparam(w.handle(), SCHED_OTHER, &five);
    raise_flag(release);
    w.join();
    return r;
}

}  // namespace

TEST_CASE("pthread_setschedparam on the handle changes that thread's policy, as for a std::thread") {
    const int main_policy = sched_getscheduler(0);
    const sched_outcome expected = schedule_thread(maker::std_thread);
    for (maker m : makers) {
        INFO(name_of(m));
        const sched_outcome r = schedule_thread(m);
        CHECK(r.get_default == 0);
        CHECK(r.default_policy == SCHED_OTHER);
        CHECK(r.default_priority == 0);
        for (int i = 0; i < 3; ++i) {
            INFO("policy " << policies[i]);
            CHECK(r.set_rc[i] == 0);
            CHECK(r.kernel_policy[i] == policies[i]);
            CHECK(r.got_policy[i] == policies[i]);
            CHECK(r.got_priority[i] == 0);
            CHECK(r.set_rc[i] == expected.set_rc[i]);
        }
        CHECK(r.bad_priority == EINVAL);
        CHECK(r.get_default == expected.get_default);
        CHECK(r.bad_priority == expected.bad_priority);
    }
    CHECK(sched_getscheduler(0) == main_policy);  // only the target changed
}

// --- pthread_getcpuclockid ---------------------------------------------------------

namespace {

std::chrono::nanoseconds read_clock(clockid_t clock) {
    timespec ts{};
    if (clock_gettime(clock, &ts) != 0) return std::chrono::nanoseconds(-1);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

struct clock_outcome {
    int rc = -1;
    bool advanced_while_spinning = false;
    std::chrono::nanoseconds own{0};      // CLOCK_THREAD_CPUTIME_ID in the thread, at the end of its spin
    std::chrono::nanoseconds via_handle{0};  // the handle's clock read from main, right after
};

clock_outcome clock_of_thread(maker m) {
    std::atomic<bool> spinning{false}, stop{false}, stopped{false}, release{false};
    std::chrono::nanoseconds own{0};
    worker w(m, [&] {
        raise_flag(spinning);
        while (!stop.load(std::memory_order_relaxed)) {
        }
        own = read_clock(CLOCK_THREAD_CPUTIME_ID);
        raise_flag(stopped);
        wait_for(release);  // blocked: its clock stands still
    });
    clock_outcome r;
    clockid_t clock{};
    r.rc = pthread_getcpuclockid(w.handle(), &clock);
    wait_for(spinning);
    if (r.rc == 0) {
        const auto start = read_clock(clock);
        r.advanced_while_spinning = start >= 0ns && eventually([&] {
            return read_clock(clock) >= start + 20ms;
        });
    }
    stop = true;
    wait_for(stopped);
    if (r.rc == 0) r.via_handle = read_clock(clock);
    r.own = own;
    raise_flag(release);
    w.join();
    return r;
}

}  // namespace

TEST_CASE("pthread_getcpuclockid on the handle is that thread's CPU clock, as for a std::thread") {
    const clock_outcome expected = clock_of_thread(maker::std_thread);
    for (maker m : makers) {
        INFO(name_of(m));
        const clock_outcome r = clock_of_thread(m);
        INFO("the thread's own clock " << r.own.count() << " ns, through the handle "
                                       << r.via_handle.count() << " ns");
        CHECK(r.rc == 0);
        CHECK(r.advanced_while_spinning);
        // The same clock: read after the thread's own last reading, and the
        // thread has barely run since (it blocks). Another thread's clock
        // (main's, which has run every earlier test) would not match.
        CHECK(r.via_handle >= r.own);
        CHECK(r.via_handle < r.own + 20ms);
        CHECK(r.rc == expected.rc);
    }
}

// --- pthread_equal -----------------------------------------------------------------

TEST_CASE("pthread_equal: the handle is the thread's pthread_self, and no other thread's") {
    for (maker m : makers) {
        INFO(name_of(m));
        std::atomic<bool> release{false};
        worker a(m, [&] { wait_for(release); });
        worker b(m, [&] { wait_for(release); });
        CHECK(pthread_equal(a.handle(), a.self()));
        CHECK(pthread_equal(b.handle(), b.self()));
        CHECK_FALSE(pthread_equal(a.handle(), b.handle()));
        CHECK_FALSE(pthread_equal(a.handle(), pthread_self()));
        CHECK_FALSE(pthread_equal(a.self(), pthread_self()));
        raise_flag(release);
    }
}

// --- The other handles: jthread's, and clonert_pthread of clonert_self ----------

TEST_CASE("clonert::jthread::native_handle is the thread's pthread_self; tid() its TID") {
    std::atomic<bool> recorded{false};
    pthread_t self{};
    pid_t tid = 0;
    clonert::jthread j([&](std::stop_token token) {
        self = pthread_self();
        tid = gettid();
        raise_flag(recorded);
        while (!token.stop_requested()) std::this_thread::sleep_for(1ms);
    });
    wait_for(recorded);
    CHECK(pthread_equal(j.native_handle(), self));
    CHECK(j.tid() == tid);
    CHECK(pthread_kill(j.native_handle(), 0) == 0);
    j.request_stop();
    j.join();
    CHECK(j.tid() == 0);
}

TEST_CASE("clonert_pthread: of clonert_self() is pthread_self(), in any thread; of NULL, 0") {
    CHECK(pthread_equal(clonert_pthread(clonert_self()), pthread_self()));
    pthread_t in_std_thread{}, self_in_std_thread{};
    std::thread([&] {
        in_std_thread = clonert_pthread(clonert_self());
        self_in_std_thread = pthread_self();
    }).join();
    CHECK(pthread_equal(in_std_thread, self_in_std_thread));
    CHECK_FALSE(pthread_equal(in_std_thread, pthread_self()));

    struct seen {
        pthread_t via_self{};
        pthread_t self{};
    } s;
    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr,
                           [](void *arg) -> void * {
                               auto *s = static_cast<seen *>(arg);
                               s->via_self = clonert_pthread(clonert_self());
                               s->self = pthread_self();
                               return nullptr;
                           },
                           &s) == 0);
    const pthread_t handle = clonert_pthread(t);
    REQUIRE(clonert_join(t, nullptr) == 0);
    CHECK(pthread_equal(handle, s.self));
    CHECK(pthread_equal(s.via_self, s.self));
    CHECK(clonert_pthread(nullptr) == pthread_t{});
}
