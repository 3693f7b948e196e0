// Thousands of thread lifetimes leave the process as they found it: heap in
// use (mallinfo2().uordblks: every arena's allocated bytes, which valgrind
// cannot see for this kind of leak because it replaces malloc), the number of
// mappings (/proc/self/maps lines) and of open file descriptors
// (/proc/self/fd). Each thread mallocs, uses iostreams and has thread_locals
// with destructors, so that libc's and libstdc++'s per-thread state is
// exercised.
//
// Why the tolerances are what they are:
//   - Stack cache on (the default). A thread that reuses a cached mapping
//     inherits the previous thread's libc TLS block, and with it malloc's
//     tcache and arena (runtime/glibc/, prepare): nothing per thread
//     is left behind. a first experiment measured 0 B per thread; the bound is
//     a fixed 64 KiB for the whole run (chunks parked in the tcaches of
//     however many cached mappings the run needed), i.e. ~13 B per thread
//     over 5,000 threads and nothing that grows with the count.
//   - Stack cache off. Every thread starts with a fresh libc TLS block, and
//     glibc frees a thread's tcache only in its own thread-exit path
//     (malloc/malloc.c, tcache_thread_shutdown), which a clonert thread never
//     runs. Each thread so leaves its tcache_perthread_struct (64 two-byte
//     counts + 64 pointers = 640 B, a 656 B chunk) plus every chunk it freed
//     into the tcache. The thread body below frees a known set of blocks, so
//     the bound per thread is exact: 656 B + their chunk sizes (2,464 B on a
//     64-bit glibc), and for a detached thread that unmaps itself also the
//     DTV it frees on its way out (runtime/thread/lifecycle_raw.cpp, end_detached).
// Mappings and descriptors must come back exactly, after a warm-up that lets
// malloc create its arenas (up to 8 per CPU, each a mapping that stays).
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <cstdlib>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

using clonert_test::count_entries;

using clonert_test::footprint;

footprint operator-(const footprint &a, const footprint &b) {
    return {a.heap_in_use - b.heap_in_use, a.mappings - b.mappings, a.fds - b.fds, a.tasks - b.tasks};
}

void report(const char *what, int threads, const footprint &growth) {
    std::printf("no_growth: %s: %d threads: heap %+ld B (%.1f B/thread), mappings %+ld, fds %+ld\n",
                what, threads, growth.heap_in_use,
                static_cast<double>(growth.heap_in_use) / threads, growth.mappings, growth.fds);
    std::fflush(stdout);
}

// --- What each thread does -----------------------------------------------------

std::atomic<long> destructors_run{0};

struct per_thread_state {
    std::string buffer = std::string(200, 'b');  // a heap allocation, freed at thread exit
    ~per_thread_state() { ++destructors_run; }
};

thread_local per_thread_state state_per_thread;

// glibc's chunk for a request of n bytes on a 64-bit target: n plus the
// 8-byte size field, rounded up to 16, at least 32 (malloc/malloc.c,
// request2size with SIZE_SZ 8, MALLOC_ALIGNMENT 16, MINSIZE 32).
constexpr long chunk_of(long request) {
    const long size = (request + 8 + 15) / 16 * 16;
    return size < 32 ? 32 : size;
}

// The blocks churn_thread_body frees, each small enough for the tcache
// (at most 1032 B requested), so each may stay parked in it:
constexpr long body_frees_in_chunks =
    chunk_of(1000)    // the vector
    + chunk_of(201)   // the thread_local's string (200 chars and the NUL)
    + chunk_of(32)    // glibc's record of that thread_local's destructor
                      // (stdlib/cxa_thread_atexit_impl.c: struct dtor_list)
    + chunk_of(513);  // the ostringstream's buffer: libstdc++'s stringbuf
                      // grows to at least 512 characters (sstream.tcc, overflow)

std::atomic<long> bodies_run{0};

void churn_thread_body() {
    std::vector<char> scratch(1000, 's');
    state_per_thread.buffer[0] = scratch[0];
    std::ostringstream out;
    out << "thread " << gettid() << " wrote " << 3.25 << " and " << scratch.size() << " bytes, "
        << state_per_thread.buffer.size() << " more";
    bodies_run += out.tellp() > 15 ? 1 : 0;  // past the short-string buffer: it allocated
}

// --- Ways of running threads ----------------------------------------------------

int scaled(int natively, int under_qemu) {
    // qemu-user keeps ~280 KB per thread that ever ran: this program makes
    // ~2,600 threads there (~750 MB), ~17,500 natively.
    return clonert_test::under_qemu() ? under_qemu : natively;
}

// `total` threads, `together` at a time, each joined.
void run_joined(int total, int together) {
    std::vector<clonert::thread> group;
    for (int done = 0; done < total; done += together) {
        for (int i = 0; i < together && done + i < total; ++i) group.emplace_back(churn_thread_body);
        for (auto &t : group) t.join();
        group.clear();
    }
}

// True once the thread is gone from /proc (after 10 s: false). The kernel
// clears a thread's join word (clonert's "may reuse this memory" signal)
// before it removes the thread from /proc (kernel/exit.c: exit_mm, then
// exit_notify). Looking a TID up is exact; counting /proc/self/task entries
// is not: a listing taken while threads exit can skip a live one.
bool wait_until_gone(pid_t tid) {
    const std::string path = "/proc/self/task/" + std::to_string(tid);
    for (int i = 0; i < 100000; ++i) {
        if (access(path.c_str(), F_OK) != 0) return true;
        std::this_thread::sleep_for(100us);
    }
    return false;
}

// `total` detached threads, `together` at a time; returns once all are gone.
// The threads of a batch wait for each other, so every batch needs
// `together` thread memories at once: the warm-up then maps all the memory
// the measured batches need (otherwise a batch that happens to overlap more
// than any before it maps one more stack for the cache).
bool run_detached(int total, int together) {
    for (int done = 0; done < total; done += together) {
        const int size = std::min(together, total - done);
        // On this stack: we return only once every thread of the batch is gone.
        std::atomic<int> arrived{0};
        std::vector<std::atomic<pid_t>> tids(size);
        for (int i = 0; i < size; ++i)
            clonert::thread([&arrived, &tids, size, i] {
                tids[i] = gettid();
                ++arrived;
                while (arrived < size) std::this_thread::sleep_for(50us);
                churn_thread_body();
            }).detach();
        for (int i = 0; i < 100000 && arrived < size; ++i) std::this_thread::sleep_for(100us);
        if (arrived < size) return false;
        for (auto &tid : tids)
            if (!wait_until_gone(tid)) return false;
    }
    return true;
}

// Runs `warm_up` then `measured` threads with `run`; returns the growth over
// the measured part and checks every body and destructor ran.
template <class Run>
footprint growth_over(int warm_up, int measured, Run run) {
    run(warm_up);
    bodies_run = 0;
    destructors_run = 0;
    const footprint before = footprint::now();
    run(measured);
    const footprint after = footprint::now();
    CHECK(bodies_run == measured);
    CHECK(destructors_run == measured);  // thread_local destructors, every one
    return after - before;
}

void empty_stack_cache() { clonert_set_stack_cache_size(clonert_set_stack_cache_size(0)); }

constexpr long cached_run_heap_bound = 64 * 1024;

// Once per measurement, not per thread: reading /proc allocates in the main
// thread, whose tcache may keep a few of those chunks (measured: < 200 B).
constexpr long measuring_slack = 4096;

// The chunk glibc allocates for a thread's tcache_perthread_struct: 656 B on
// glibc 2.36, where the thread's first malloc allocates it; 768 B on 2.43,
// which keeps more tcache bins and allocates it on the first free. Measured
// in a fresh std::thread: the growth of the heap across its first malloc(24)
// (or, if that did not allocate it, across the free too), less the block's
// 32-byte chunk, which the free parks in the tcache, still counted in use.
long measured_tcache_chunk() {
    long after_malloc = 0, after_free = 0;
    std::thread([&] {
        const long before = static_cast<long>(mallinfo2().uordblks);
        void *volatile block = std::malloc(24);
        after_malloc = static_cast<long>(mallinfo2().uordblks) - before;
        std::free(block);
        after_free = static_cast<long>(mallinfo2().uordblks) - before;
    }).join();
    const long chunk = (after_malloc > 32 ? after_malloc : after_free) - 32;
    std::printf("no_growth: glibc's tcache_perthread_struct takes a %ld-byte chunk here\n", chunk);
    return chunk;
}

}  // namespace

TEST_CASE("joined threads one at a time leave heap, mappings and fds unchanged") {
    empty_stack_cache();
    const int n = scaled(5000, 1000);
    const footprint g = growth_over(50, n, [](int k) { run_joined(k, 1); });
    report("joined, 1 at a time, cache on", n, g);
    CHECK(g.heap_in_use <= cached_run_heap_bound);
    CHECK(g.heap_in_use >= -cached_run_heap_bound);
    CHECK(g.mappings == 0);
    CHECK(g.fds == 0);
}

TEST_CASE("joined threads four at a time leave heap, mappings and fds unchanged") {
    empty_stack_cache();
    const int n = scaled(5000, 400);
    const footprint g = growth_over(scaled(200, 40), n, [](int k) { run_joined(k, 4); });
    report("joined, 4 at a time, cache on", n, g);
    CHECK(g.heap_in_use <= cached_run_heap_bound);
    CHECK(g.heap_in_use >= -cached_run_heap_bound);
    CHECK(g.mappings == 0);
    CHECK(g.fds == 0);
}

TEST_CASE("detached threads leave heap, mappings and fds unchanged") {
    empty_stack_cache();
    const int n = scaled(5000, 400);
    bool all_gone = true;
    const footprint g =
        growth_over(scaled(200, 40), n, [&all_gone](int k) { all_gone &= run_detached(k, 4); });
    report("detached, 4 at a time, cache on", n, g);
    REQUIRE(all_gone);
    CHECK(g.heap_in_use <= cached_run_heap_bound);
    CHECK(g.heap_in_use >= -cached_run_heap_bound);
    CHECK(g.mappings == 0);
    CHECK(g.fds == 0);
}

TEST_CASE("with the stack cache off, each thread leaks at most its tcache") {
    const std::size_t previous = clonert_set_stack_cache_size(0);
    // Warm-ups of 50 or more: sequential fresh threads each make malloc
    // create an arena until it has 8 per CPU.
    const int n = scaled(2000, 300);
    const int warm_up = scaled(100, 50);
    const footprint joined = growth_over(warm_up, n, [](int k) { run_joined(k, 2); });
    report("joined, 2 at a time, cache off", n, joined);
    bool all_gone = true;
    const footprint detached =
        growth_over(warm_up, n, [&all_gone](int k) { all_gone &= run_detached(k, 4); });
    report("detached, 4 at a time, cache off (self-unmap)", n, detached);
    clonert_set_stack_cache_size(previous);
    REQUIRE(all_gone);

    // tcache_perthread_struct's chunk plus what the body may park in it; a
    // self-unmapping thread also frees its DTV into its own tcache: (module
    // slots + glibc's 14 spare + 2) x 16 B, 336 B with this program's five
    // TLS modules: 1 KiB allows for 46 more.
    const long tcache_struct_chunk = measured_tcache_chunk();  // 656 B on glibc 2.36
    constexpr long dtv_allowance = 1024;
    CHECK(joined.heap_in_use <= n * (tcache_struct_chunk + body_frees_in_chunks) + measuring_slack);
    CHECK(detached.heap_in_use <=
          n * (tcache_struct_chunk + body_frees_in_chunks + dtv_allowance) + measuring_slack);
    // Every thread's stack is unmapped; nothing else is per thread.
    CHECK(joined.mappings == 0);
    CHECK(detached.mappings == 0);
    CHECK(joined.fds == 0);
    CHECK(detached.fds == 0);
}

// glibc's first lock of a PTHREAD_PRIO_PROTECT mutex in a thread calloc's the
// thread's priority-ceiling record (struct pthread.tpp, nptl/tpp.c), about
// 400 bytes with SCHED_FIFO's 99 priorities; glibc frees it when the thread
// ends (nptl/nptl_free_tcb.c), and so must clonert. (The lock itself may
// fail with EINVAL: raising a SCHED_OTHER thread to a ceiling does; the
// record is made before that.)
TEST_CASE("a thread that locks a priority-protected mutex leaves no heap behind") {
    empty_stack_cache();
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    REQUIRE(pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_PROTECT) == 0);
    REQUIRE(pthread_mutexattr_setprioceiling(&attr, sched_get_priority_max(SCHED_FIFO)) == 0);
    pthread_mutex_t mutex;
    REQUIRE(pthread_mutex_init(&mutex, &attr) == 0);
    pthread_mutexattr_destroy(&attr);
    const int n = scaled(2000, 400);
    auto run = [&mutex](int k) {
        for (int i = 0; i < k; ++i)
            clonert::thread([&mutex] {
                if (pthread_mutex_lock(&mutex) == 0) pthread_mutex_unlock(&mutex);
                churn_thread_body();
            }).join();
    };
    const footprint g = growth_over(50, n, run);
    report("joined, each locked a PTHREAD_PRIO_PROTECT mutex", n, g);
    pthread_mutex_destroy(&mutex);
    CHECK(g.heap_in_use <= cached_run_heap_bound);  // 2,000 records would be ~800 KB
    CHECK(g.heap_in_use >= -cached_run_heap_bound);
}
