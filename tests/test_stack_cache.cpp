// The stack cache's policy (runtime/thread/stack_cache.cpp): a burst's memory
// goes back without a further call, linger 0 keeps no more than the limit,
// the cache never makes a creation or the program's own mapping fail under
// RLIMIT_AS where glibc's would not, and a fork's child gives back what its
// parent cached. Each case runs in a forked child: it changes the cache's
// settings and the process's limits, and reads the whole process's memory.
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"

using namespace clonert_test;

namespace {

constexpr long mib = 1L << 20;
constexpr long gib = 1L << 30;
// glibc's and clonert's default stack is RLIMIT_STACK (8 MiB here).
const long default_stack = [] {
    rlimit r{};
    getrlimit(RLIMIT_STACK, &r);
    return r.rlim_cur == RLIM_INFINITY ? 2 * mib : static_cast<long>(r.rlim_cur);
}();

// The address space the program has mapped: the sum of /proc/self/maps'
// ranges (VmSize, natively; under qemu-user the guest's own mappings, which
// qemu lists there, where VmSize would be qemu's and grow with every thread).
long vm_size() {
    std::ifstream maps("/proc/self/maps");
    long sum = 0;
    for (std::string line; std::getline(maps, line);) {
        unsigned long from = 0, to = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx", &from, &to) == 2) sum += static_cast<long>(to - from);
    }
    return sum;
}

void one_thread() {
    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr, [](void *) -> void * { return nullptr; }, nullptr) == 0);
    REQUIRE(clonert_join(t, nullptr) == 0);
}

// A burst: n threads of the default stack alive at once, then all joined.
// Returns 0 or the first error.
int burst(int n) {
    static int gate;
    __atomic_store_n(&gate, 0, __ATOMIC_RELEASE);
    auto park = [](void *) -> void * {
        while (__atomic_load_n(&gate, __ATOMIC_ACQUIRE) == 0) syscall(SYS_futex, &gate, FUTEX_WAIT_PRIVATE, 0, nullptr);
        return nullptr;
    };
    std::vector<clonert_t> threads;
    int err = 0;
    for (int i = 0; i < n && err == 0; ++i) {
        clonert_t t;
        err = clonert_create(&t, nullptr, park, nullptr);
        if (err == 0) threads.push_back(t);
    }
    __atomic_store_n(&gate, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &gate, FUTEX_WAKE_PRIVATE, INT32_MAX);
    for (clonert_t t : threads) clonert_join(t, nullptr);
    return err;
}

// Waits up to 10 s for the address space to fall to at most `most` bytes,
// calling nothing of clonert's meanwhile. Returns what it read last.
long wait_for_vm_size_at_most(long most) {
    long now = vm_size();
    for (int i = 0; i < 1000 && now > most; ++i) {
        usleep(10 * 1000);
        now = vm_size();
    }
    return now;
}

// Seen with qemu-user 7.2 (tests/test_faults.cpp's RLIMIT_AS case too); a
// qemu that passes the limit on applies it to its own host mappings as well.
constexpr const char *qemu_rlimit_as =
    "qemu-user does not apply the guest's RLIMIT_AS as the kernel would (7.2: setrlimit returns 0, "
    "getrlimit still says unlimited)";

// Under qemu-user, keep bursts small (qemu keeps ~280 KB per thread ever run).
int burst_size() { return under_qemu() ? 100 : 500; }

}  // namespace

TEST_CASE("stack cache: a burst's memory goes back after the linger, with no further call") {
    const int wrong = in_child([] {
        int wrong = 0;
        clonert_set_stack_cache_linger(60 * 1000);  // nothing goes by time while we look
        one_thread();
        const long base = vm_size();
        const int n = burst_size();
        if (burst(n) != 0) return 90;
        const long kept = vm_size() - base;
        std::printf("after a burst of %d: %ld MiB more address space cached\n", n, kept / mib);
        // The whole burst is cached while it lingers: that is what lets a
        // burst repeated soon reuse it.
        if (kept < (n - 10) * default_stack) ++wrong;
        // A shorter linger: the trimmer, woken, gives the surplus back.
        clonert_set_stack_cache_linger(20);
        const long most = base + 40 * mib + 2 * default_stack;
        const long after = wait_for_vm_size_at_most(most);
        std::printf("linger 20 ms: %ld MiB above the start (at most %ld allowed)\n", (after - base) / mib,
                    (most - base) / mib);
        if (after > most) ++wrong;
        // The trimmer exits once its work is done.
        wait_for_tasks(tasks_at_load);
        if (count_entries("/proc/self/task") > tasks_at_load) ++wrong;
        return wrong;
    });
    CHECK(wrong == 0);
}

TEST_CASE("stack cache: with linger 0, no more than the cache's size stays after a burst") {
    const int wrong = in_child([] {
        clonert_set_stack_cache_linger(0);
        one_thread();
        const long base = vm_size();
        if (burst(burst_size()) != 0) return 90;
        const long kept = vm_size() - base;
        std::printf("linger 0, after a burst: %ld MiB more address space\n", kept / mib);
        return kept <= 40 * mib + default_stack ? 0 : 1;
    });
    CHECK(wrong == 0);
}

TEST_CASE("stack cache: the child of a fork gives back the surplus its parent cached") {
    const int wrong = in_child([] {
        clonert_set_stack_cache_linger(60 * 1000);
        one_thread();
        const long base = vm_size();
        if (burst(burst_size()) != 0) return 90;
        // The parent's trimmer is not in the child; the child's first
        // creation starts one of its own (the settings are inherited: a
        // short linger, so that it trims at once).
        return in_child([base] {
            clonert_set_stack_cache_linger(10);
            one_thread();
            const long most = base + 40 * mib + 2 * default_stack;
            const long after = wait_for_vm_size_at_most(most);
            std::printf("fork's child: %ld MiB above its parent's start\n", (after - base) / mib);
            return after <= most ? 0 : 1;
        });
    });
    CHECK(wrong == 0);
}

// Under RLIMIT_AS: a burst of 4 GiB of stacks (500 of 8 MiB), joined and
// cached, with 6 GiB of address space to spare. With pthreads (glibc keeps
// 40 MiB) the program can then map 4 GiB of its own and make a thread with a
// 5 GiB stack; so must it with clonert's cache, which holds a burst to a
// quarter of RLIMIT_AS and gives everything back when a mapping fails.
TEST_CASE("stack cache: under RLIMIT_AS, what the cache holds never makes a mapping fail") {
    CLONERT_SKIP_UNDER_QEMU(qemu_rlimit_as);
    if (default_stack != 8 * mib) CLONERT_SKIP("the figures assume 8 MiB default stacks (RLIMIT_STACK)");
    const int wrong = in_child([] {
        int wrong = 0;
        clonert_set_stack_cache_linger(60 * 1000);  // the burst stays cached while we look
        one_thread();
        const auto limit = static_cast<rlim_t>(vm_size() + 6 * gib);
        const rlimit r{limit, limit};
        if (setrlimit(RLIMIT_AS, &r) != 0) return 99;
        if (burst(500) != 0) return 90;
        std::printf("RLIMIT_AS start + 6 GiB, after a burst of 4 GiB: %ld MiB mapped\n", vm_size() / mib);
        // The program's own mapping: fails if the cache kept the burst whole.
        void *own = mmap(nullptr, 4 * gib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        std::printf("the program maps 4 GiB: %s\n", own == MAP_FAILED ? std::strerror(errno) : "ok");
        if (own == MAP_FAILED) ++wrong;
        else munmap(own, 4 * gib);
        // A thread with a 5 GiB stack: more than fits beside what the cache
        // holds, so its mapping fails once and succeeds after the cache gives
        // back what it holds.
        try {
            clonert::thread_options big;
            big.stack_size = 5 * gib;
            clonert::thread(big, [] {}).join();
            std::printf("a thread with a 5 GiB stack: ok\n");
        } catch (const std::system_error &e) {
            std::printf("a thread with a 5 GiB stack: %s\n", e.what());
            ++wrong;
        }
        return wrong;
    });
    CHECK(wrong == 0);
}

TEST_CASE("stack cache: a mapping that cannot be had even with the cache given back is a clear error") {
    CLONERT_SKIP_UNDER_QEMU(qemu_rlimit_as);
    const int wrong = in_child([] {
        clonert_set_stack_cache_linger(60 * 1000);
        one_thread();
        const auto limit = static_cast<rlim_t>(vm_size() + gib);
        const rlimit r{limit, limit};
        if (setrlimit(RLIMIT_AS, &r) != 0) return 99;
        const long before = vm_size();
        try {
            clonert::thread_options big;
            big.stack_size = 2 * gib;
            clonert::thread(big, [] {}).join();
            std::printf("a 2 GiB stack with 1 GiB of room: no error\n");
            return 1;
        } catch (const std::system_error &e) {
            std::printf("a 2 GiB stack with 1 GiB of room: %s\n", e.what());
            const bool clear = e.code().value() == EAGAIN && std::strstr(e.what(), "mmap") != nullptr;
            return clear && vm_size() <= before ? 0 : 2;  // nothing left mapped
        }
    });
    CHECK(wrong == 0);
}
