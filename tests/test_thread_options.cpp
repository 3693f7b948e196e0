// clonert::thread_options: stack size, guard size, a caller's stack, a name
// and CPU affinity, each observed from inside the thread the way the kernel
// and glibc report it: pthread_getattr_np(3), /proc/self/maps (proc(5)),
// /proc/self/task/TID/comm, sched_getaffinity(2) and sched_getcpu(3).
#include <clonert/thread.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

#include "arch.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using clonert_test::guard_regions_here;
using clonert_test::kernel_cannot_read;

const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

// What pthread_getattr_np reports about the calling thread, and where one of
// its locals lives.
struct stack_report {
    bool ok = false;
    std::uintptr_t low = 0;  // lowest address of the usable stack
    std::size_t size = 0;
    std::size_t guard = 0;
    std::uintptr_t local = 0;
};

stack_report report_own_stack() {
    stack_report r;
    int local = 0;
    r.local = reinterpret_cast<std::uintptr_t>(&local);
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return r;
    void *addr = nullptr;
    r.ok = pthread_attr_getstack(&attr, &addr, &r.size) == 0 &&
           pthread_attr_getguardsize(&attr, &r.guard) == 0;
    r.low = reinterpret_cast<std::uintptr_t>(addr);
    pthread_attr_destroy(&attr);
    return r;
}

stack_report stack_of_thread_with(const clonert::thread_options &options) {
    stack_report r;
    clonert::thread t(options, [&r] { r = report_own_stack(); });
    t.join();
    return r;
}

bool contains(const stack_report &r, std::uintptr_t address) {
    return r.low <= address && address < r.low + r.size;
}

// One /proc/self/maps line: "start-end perms offset dev inode [path]".
struct mapping {
    std::uintptr_t start = 0, end = 0;
    std::string perms;
};

// The line of /proc/self/maps whose range holds `address`.
std::optional<mapping> mapping_holding(std::uintptr_t address) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        mapping m;
        char perms[8] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %7s", &m.start, &m.end, perms) != 3) continue;
        m.perms = perms;
        if (m.start <= address && address < m.end) return m;
    }
    return std::nullopt;
}

std::string read_line(const std::string &path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

template <class F>
std::errc error_of(F f) {
    try {
        f();
    } catch (const std::system_error &e) {
        return e.code() == std::errc::invalid_argument ? std::errc::invalid_argument
                                                       : std::errc::io_error;
    }
    return std::errc{};
}

int online_cpus() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

bool may_run_on(int cpu) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(cpu, &set);
}

}  // namespace

TEST_CASE("stack_size is the stack pthread_getattr_np reports, and locals live in it") {
    clonert::thread_options options;
    options.stack_size = 512 * 1024;
    const stack_report r = stack_of_thread_with(options);
    REQUIRE(r.ok);
    CHECK(r.size == 512 * 1024);
    CHECK(contains(r, r.local));
    int main_local = 0;
    CHECK_FALSE(contains(r, reinterpret_cast<std::uintptr_t>(&main_local)));
}

TEST_CASE("a stack_size that is not a whole number of pages is rounded up") {
    clonert::thread_options options;
    options.stack_size = 300000;
    const stack_report r = stack_of_thread_with(options);
    REQUIRE(r.ok);
    CHECK(r.size >= 300000);
    CHECK(r.size < 300000 + page);
    CHECK(r.size % page == 0);
    CHECK(contains(r, r.local));
}

TEST_CASE("the default stack is RLIMIT_STACK-sized, as for pthreads") {
    rlimit limit{};
    REQUIRE(getrlimit(RLIMIT_STACK, &limit) == 0);
    const stack_report r = stack_of_thread_with({});
    REQUIRE(r.ok);
    CHECK(contains(r, r.local));
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= 64 * 1024)
        CHECK(r.size == (limit.rlim_cur + page - 1) / page * page);
    CHECK(r.guard == page);  // one page of guard by default
}

TEST_CASE("guard_size: that many bytes directly below the stack fault on any access") {
    clonert::thread_options options;
    options.stack_size = 256 * 1024;
    options.guard_size = 3 * page;
    std::optional<mapping> guard;
    stack_report r;
    // Read /proc/self/maps while the thread is alive: after it ends, its
    // memory may be cached or unmapped.
    clonert::thread t(options, [&] {
        r = report_own_stack();
        guard = mapping_holding(r.low - 1);
    });
    t.join();
    REQUIRE(r.ok);
    CHECK(r.guard == 3 * page);
    // As glibc, the guard installed is at least the architecture's minimum
    // (64 KiB on aarch64, for stack-clash probing), while pthread_getattr_np
    // reports the size asked for. The stack's lowest byte is readable; every
    // page of the guard below it is not, and the page below the guard is
    // outside the thread's memory.
    const std::size_t installed = std::max<std::size_t>(3 * page, clonert::arch::minimum_guard);
    const auto *low = reinterpret_cast<const char *>(r.low);
    CHECK_FALSE(kernel_cannot_read(low));
    for (std::size_t at = page; at <= installed; at += page) CHECK(kernel_cannot_read(low - at));
    REQUIRE(guard.has_value());
    // The pthread backend's stacks are glibc's, guarded by mprotect always.
    if (guard_regions_here() && !CLONERT_TEST_PTHREAD_BACKEND) {
        // madvise(MADV_GUARD_INSTALL): the guard is part of the thread's one
        // mapping, so no line of /proc/self/maps ends at the stack's bottom.
        CHECK(guard->perms == "rw-p");
    } else {
        CHECK(guard->perms == "---p");
        CHECK(guard->end == r.low);
        CHECK(guard->end - guard->start == installed);
    }
}

TEST_CASE("touching the guard page kills the process with SIGSEGV") {
    // In a child process: the fault is fatal. Its control, a write just above
    // the guard (the stack's lowest byte), must succeed.
    auto write_below_stack = [](std::ptrdiff_t offset) {
        const pid_t pid = fork();
        if (pid == 0) {
            std::signal(SIGSEGV, SIG_DFL);  // not Catch2's handler: it would report in the child
            alarm(60);  // a child that hangs dies (SIGALRM) instead of stalling the test
            const rlimit no_core{0, 0};
            setrlimit(RLIMIT_CORE, &no_core);  // an expected crash: no core file
            clonert::thread_options options;
            options.stack_size = 128 * 1024;
            options.guard_size = page;
            clonert::thread t(options, [offset] {
                const stack_report r = report_own_stack();
                *reinterpret_cast<volatile char *>(r.low + offset) = 1;
            });
            t.join();
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        return status;
    };
    const int control = write_below_stack(0);
    CHECK((WIFEXITED(control) && WEXITSTATUS(control) == 0));
    const int status = write_below_stack(-1);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGSEGV);
}

TEST_CASE("a caller-provided stack holds the thread's locals, and stays the caller's") {
    constexpr std::size_t length = 256 * 1024;
    void *memory = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(memory != MAP_FAILED);
    const auto low = reinterpret_cast<std::uintptr_t>(memory);
    clonert::thread_options options;
    options.stack = memory;
    options.stack_length = length;
    for (int round = 0; round < 3; ++round) {  // reusable once joined
        const stack_report r = stack_of_thread_with(options);
        REQUIRE(r.ok);
        CHECK(low <= r.local);
        CHECK(r.local < low + length);
        CHECK(low <= r.low);
        CHECK(r.low + r.size <= low + length);
    }
    // Still mapped and writable: clonert never unmaps a caller's stack.
    static_cast<volatile char *>(memory)[0] = 1;
    static_cast<volatile char *>(memory)[length - 1] = 1;
    CHECK(munmap(memory, length) == 0);
}

TEST_CASE("a caller-provided stack may be ordinary (zeroed) heap memory") {
    constexpr std::size_t length = 128 * 1024;
    // calloc: 16-byte aligned, as clonert requires, and zeroed; the next case
    // gives memory that is not.
    auto *memory = static_cast<char *>(std::calloc(1, length));
    REQUIRE(memory != nullptr);
    clonert::thread_options options;
    options.stack = memory;
    options.stack_length = length;
    const stack_report r = stack_of_thread_with(options);
    std::free(memory);
    REQUIRE(r.ok);
    CHECK(reinterpret_cast<std::uintptr_t>(memory) <= r.local);
    CHECK(r.local < reinterpret_cast<std::uintptr_t>(memory) + length);
}

namespace {

thread_local long zero_initialised_per_thread[4];  // .tbss: must read 0 in every new thread

}  // namespace

// A caller's stack may hold anything: clonert must zero what glibc expects
// to start as zero, struct pthread and each TLS block's .tbss, as glibc does
// for a user-provided stack (nptl/allocatestack.c). Were it to trust the
// memory to be fresh from mmap, libc's tls_dtor_list would be garbage and
// __call_tls_dtors would follow it when the thread ends (SIGSEGV: shown
// before runtime/thread/memory.cpp zeroed a caller's TLS area).
TEST_CASE("a caller-provided stack may hold any bytes beforehand") {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        std::signal(SIGSEGV, SIG_DFL);  // not Catch2's handler: it would report in the child
        alarm(60);  // a child that hangs dies (SIGALRM) instead of stalling the test
        const rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        constexpr std::size_t length = 256 * 1024;
        auto *memory = static_cast<char *>(std::aligned_alloc(64, length));
        std::memset(memory, 0xAB, length);
        clonert::thread_options options;
        options.stack = memory;
        options.stack_length = length;
        long seen = -1;
        clonert::thread t(options, [&seen] { seen = zero_initialised_per_thread[3]; });
        t.join();
        _exit(seen == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    INFO("wait status " << status);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("name is the thread's comm in /proc, seen inside and outside") {
    clonert::thread_options options;
    options.name = "worker-15chars!";  // the longest name the kernel keeps
    std::atomic<bool> release{false}, read{false};
    std::string inside;
    clonert::thread t(options, [&] {
        inside = read_line("/proc/thread-self/comm");
        read.store(true, std::memory_order_release);  // `inside` is main's to read from here
        while (!release) clonert::this_thread::sleep_for(1ms);
    });
    while (!read.load(std::memory_order_acquire)) clonert::this_thread::sleep_for(1ms);
    const std::string outside =
        read_line("/proc/self/task/" + std::to_string(t.tid()) + "/comm");
    release = true;
    t.join();
    CHECK(inside == "worker-15chars!");
    CHECK(outside == "worker-15chars!");
}

TEST_CASE("without a name a thread keeps its creator's, as pthreads do") {
    const std::string mine = read_line("/proc/thread-self/comm");
    std::string inside;
    clonert::thread t([&] { inside = read_line("/proc/thread-self/comm"); });
    t.join();
    CHECK_FALSE(mine.empty());
    CHECK(inside == mine);
}

TEST_CASE("cpus: the thread runs only on the CPUs given") {
    if (online_cpus() < 2 || !may_run_on(0) || !may_run_on(1))
        CLONERT_SKIP("needs CPUs 0 and 1 available to this process");
    for (int cpu : {1, 0}) {
        clonert::thread_options options;
        options.cpus = {cpu};
        cpu_set_t allowed;
        CPU_ZERO(&allowed);
        int ran_on = -1;
        clonert::thread t(options, [&] {
            sched_getaffinity(0, sizeof allowed, &allowed);
            // Long enough for the scheduler to have moved us, had it wanted to.
            for (int i = 0; i < 50; ++i) {
                const int now = sched_getcpu();
                if (ran_on != -1 && now != ran_on) {
                    ran_on = -2;  // ran on two CPUs
                    break;
                }
                ran_on = now;
                clonert::this_thread::sleep_for(100us);
            }
        });
        t.join();
        CHECK(CPU_COUNT(&allowed) == 1);
        CHECK(CPU_ISSET(cpu, &allowed));
        CHECK(ran_on == cpu);
    }
}

TEST_CASE("without cpus a thread inherits its creator's affinity") {
    cpu_set_t mine, inside;
    REQUIRE(sched_getaffinity(0, sizeof mine, &mine) == 0);
    CPU_ZERO(&inside);
    clonert::thread t([&] { sched_getaffinity(0, sizeof inside, &inside); });
    t.join();
    CHECK(CPU_EQUAL(&mine, &inside));
}

TEST_CASE("bad options throw std::system_error(invalid_argument) and start nothing") {
    std::atomic<int> ran{0};
    auto body = [&ran] { ++ran; };
    auto attempt = [&](const clonert::thread_options &o) {
        return error_of([&] {
            clonert::thread t(o, body);
            t.join();
        });
    };
    clonert::thread_options o;
    o.name = "sixteen-chars-xx";  // 16 bytes: one more than the kernel keeps
    CHECK(attempt(o) == std::errc::invalid_argument);

    o = {};
    o.cpus = {-1};
    CHECK(attempt(o) == std::errc::invalid_argument);
    o.cpus = {CPU_SETSIZE};
    CHECK(attempt(o) == std::errc::invalid_argument);

    o = {};
    o.stack_size = 1024;  // cannot even hold the TLS area
    CHECK(attempt(o) == std::errc::invalid_argument);
    o.stack_size = std::size_t{1} << 60;  // beyond any address space
    CHECK(attempt(o) == std::errc::invalid_argument);

    o = {};
    o.stack_size = clonert_test::small_stack_size;
    o.guard_size = 2 * clonert_test::small_stack_size;  // a guard larger than the stack
    CHECK(attempt(o) == std::errc::invalid_argument);

    alignas(64) static char stack[256 * 1024];
    o = {};
    o.stack = stack;  // and no length
    CHECK(attempt(o) == std::errc::invalid_argument);
    o.stack_length = 4096;  // too small for the TLS area
    CHECK(attempt(o) == std::errc::invalid_argument);
    o.stack = stack + 8;  // misaligned
    o.stack_length = sizeof stack - 64;
    CHECK(attempt(o) == std::errc::invalid_argument);

    CHECK(ran == 0);
    // The same options, corrected, work.
    o.stack = stack;
    CHECK(attempt(o) == std::errc{});
    CHECK(ran == 1);
}

TEST_CASE("arguments too large for the stack throw invalid_argument") {
    // The decay-copies live at the top of the new thread's stack.
    clonert::thread_options options;
    options.stack_size = clonert_test::small_stack_size;  // too small for 128 KiB of arguments and the TLS area
    auto big = std::make_unique<std::array<char, 128 * 1024>>();
    std::atomic<int> ran{0};
    CHECK(error_of([&] {
              clonert::thread t(options, [&ran](const std::array<char, 128 * 1024> &) { ++ran; },
                                *big);
              t.join();
          }) == std::errc::invalid_argument);
    CHECK(ran == 0);
}

// As pthread_create, which refuses with EINVAL a CPU set the kernel will not
// apply: a thread must not silently run anywhere when its caller asked for
// CPUs it cannot have.
TEST_CASE("cpus naming no CPU of this machine throw invalid_argument") {
    const int absent = CPU_SETSIZE - 1;  // far beyond this machine's CPUs
    REQUIRE(absent >= online_cpus());
    std::atomic<int> ran{0};
    clonert::thread_options o;
    o.cpus = {absent};
    CHECK(error_of([&] {
              clonert::thread t(o, [&ran] { ++ran; });
              t.join();
          }) == std::errc::invalid_argument);
    CHECK(ran == 0);
}
