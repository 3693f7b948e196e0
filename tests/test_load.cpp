// Load: many threads alive at once, and many lifetimes in a row, from several
// creators at a time. Nothing may be lost (every thread runs, every thread is
// joined) and nothing may pile up: after the run the process has the same
// mappings and descriptors and, within a bound that does not grow with the
// number of threads, the same heap in use.
//
// Sizes: natively 10,000 threads at once (with 64 KiB stacks, then with
// default, RLIMIT_STACK-sized ones: 10,000 x 8 MiB of address space, mapped
// MAP_NORESERVE, so only touched pages cost memory), and 4 creators x 20,000
// lifetimes. Under qemu-user every thread that ever ran keeps ~280 KB of
// qemu's memory until the process ends (about 280 KB each, measured under qemu-user 7.2), and one lifetime
// costs 1-2 ms: 1,000 at once and 4 x 250 there.
//
// The long run (one creator, create + join in a loop) does 50,000 lifetimes
// by default; CLONERT_LONG=1 makes it 1,000,000 (docs/reliability.md has the
// command and a measured result).
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <dirent.h>
#include <malloc.h>
#include <sys/sysinfo.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

using clonert_test::count_entries;

using clonert_test::footprint;

void report(const char *what, const footprint &before, const footprint &after) {
    std::printf("load: %s: heap in use %+ld B, mappings %+ld, fds %+ld, tasks %+ld\n", what,
                after.heap_in_use - before.heap_in_use, after.mappings - before.mappings,
                after.fds - before.fds, after.tasks - before.tasks);
    std::fflush(stdout);
}

bool long_run_requested() {
    const char *v = std::getenv("CLONERT_LONG");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

// The size of a run: natively, or scaled down under qemu-user, saying so.
int scaled(int natively, int under_qemu) {
    if (!clonert_test::under_qemu()) return natively;
    std::printf("load: under qemu-user: %d instead of %d (qemu keeps ~280 KB per thread ever made, "
                "and a thread's lifetime costs 1-2 ms)\n", under_qemu, natively);
    return under_qemu;
}

// Empties clonert's stack cache (and keeps its limit): the mappings it held
// are then gone, so that a count of mappings compares exactly.
void empty_stack_cache() { clonert_set_stack_cache_size(clonert_set_stack_cache_size(0)); }

// Every count starts after waiting for the tasks the process had at load,
// so that a thread joined just before (its task still listed) is not
// counted as one that went missing after (seen once in CI: tasks 2 before,
// 1 after).
using clonert_test::wait_for_tasks;

// The heap may differ by what is parked in the tcaches of the mappings the
// stack cache holds (a thread that reuses a cached mapping inherits its libc
// block, tcache included: runtime/glibc/) and by what the creators'
// own arenas keep. Neither grows with the number of threads. 64 KiB bounds it
// for the whole run: at most 64 cached mappings (runtime/thread/memory.cpp)
// with short_life's two blocks each (a 416 B vector chunk, the creator's
// 32 B clonert payload) is ~29 KiB; the rest is room for the creators'
// arenas. A leak of even 1 byte per lifetime would exceed it over 80,000.
constexpr long heap_bound = 64 * 1024;

// --- Many threads at once ------------------------------------------------------------

// `count` threads, each parked until all have arrived and the main thread
// releases them; then all joined. Returns how many ran to the end.
struct crowd_result {
    long arrived = 0, finished = 0, tasks_at_peak = 0;
    double start_seconds = 0, join_seconds = 0;
};

crowd_result run_crowd(int count, const clonert::thread_options &options) {
    std::atomic<long> arrived{0}, finished{0};
    std::atomic<bool> released{false};
    std::vector<clonert::thread> crowd;
    crowd.reserve(count);
    const auto start = clock_type::now();
    for (int i = 0; i < count; ++i)
        crowd.emplace_back(options, [&] {
            arrived.fetch_add(1);
            arrived.notify_one();
            released.wait(false);  // a futex wait, woken by notify_all
            finished.fetch_add(1);
        });
    for (long seen; (seen = arrived.load()) < count;) arrived.wait(seen);
    crowd_result r;
    r.start_seconds = seconds_since(start);
    r.arrived = arrived.load();
    r.tasks_at_peak = static_cast<long>(clonert_test::count_tasks_but_trimmer());
    const auto join_start = clock_type::now();
    released = true;
    released.notify_all();
    for (auto &t : crowd) t.join();
    r.join_seconds = seconds_since(join_start);
    r.finished = finished.load();
    return r;
}

void check_crowd(const char *what, int count, const clonert::thread_options &options) {
    // A small crowd first, so that what is set up once per process (the
    // runtime's, libc's, a sanitizer's: seen, 4 mappings under UBSan) is
    // not counted.
    run_crowd(100, options);
    empty_stack_cache();
    wait_for_tasks();
    const footprint before = footprint::now();
    const crowd_result r = run_crowd(count, options);
    wait_for_tasks(static_cast<std::size_t>(before.tasks));
    empty_stack_cache();
    wait_for_tasks(static_cast<std::size_t>(before.tasks));  // the stack cache's trimmer, which then ends
    const footprint after = footprint::now();
    std::printf("load: %d threads alive at once (%s): all started and parked in %.2f s, %ld tasks at the "
                "peak, released and joined in %.2f s\n",
                count, what, r.start_seconds, r.tasks_at_peak, r.join_seconds);
    report(what, before, after);
    CHECK(r.arrived == count);
    CHECK(r.finished == count);
    CHECK(r.tasks_at_peak == before.tasks + count);
    CHECK(after.mappings == before.mappings);
    CHECK(after.fds == before.fds);
    CHECK(after.tasks == before.tasks);
    CHECK(std::labs(after.heap_in_use - before.heap_in_use) < heap_bound);
}

TEST_CASE("load: 10,000 threads with small stacks (64 KiB, aarch64 128 KiB) alive at once, released and joined") {
    // qemu-user: 1,000 (each thread ever made keeps ~280 KB of qemu's memory).
    const int count = scaled(10000, 1000);
    clonert::thread_options small;
    small.stack_size = clonert_test::small_stack_size;
    check_crowd((clonert_test::small_stack_name + " stacks").c_str(), count, small);
}

TEST_CASE("load: 10,000 threads with default stacks alive at once, released and joined") {
    // Default stacks are RLIMIT_STACK-sized (8 MiB here): 10,000 of them are
    // ~80 GiB of address space, mapped MAP_NORESERVE, of which each thread
    // touches a few pages. Under qemu-user: 1,000, as above.
    const int count = scaled(10000, 1000);
    rlimit stack{};
    getrlimit(RLIMIT_STACK, &stack);
    const std::string what =
        "default stacks of " +
        (stack.rlim_cur == RLIM_INFINITY ? std::string("(unlimited: 2 MiB)")
                                         : std::to_string(stack.rlim_cur >> 20) + " MiB");
    check_crowd(what.c_str(), count, clonert::thread_options{});
}

// --- Many lifetimes, several creators at once -------------------------------------------

// What each short-lived thread does: use the heap and stdio's formatting, so
// that libc's per-thread state (malloc's tcache and arena) is exercised.
std::atomic<long> bodies_run{0};

void short_life() {
    std::vector<int> numbers(100, 7);
    char text[64];
    std::snprintf(text, sizeof text, "%d %.1f", numbers[99], 0.5);
    if (text[0] == '7') bodies_run.fetch_add(1, std::memory_order_relaxed);
}

// glibc gives a thread that first mallocs an arena of its own until there
// are 8 per CPU (malloc/arena.c, arena_get2 and NARENAS_FROM_NCORES), and
// takes one back only when a glibc thread exits (arena_thread_freeres),
// which a clonert thread never runs: each arena is a mapping that stays, up
// to that limit. Threads on fresh memory (the stack cache off) reach it, so
// that later counts of mappings are steady.
void settle_malloc_arenas() {
    const std::size_t limit = clonert_set_stack_cache_size(0);
    for (int i = 0; i < 8 * get_nprocs() + 8; ++i) clonert::thread(short_life).join();
    clonert_set_stack_cache_size(limit);
}

// `creators` threads, each making and joining `cycles` threads in turn.
void churn(int creators, int cycles) {
    std::vector<clonert::thread> makers;
    for (int c = 0; c < creators; ++c)
        makers.emplace_back([cycles] {
            for (int i = 0; i < cycles; ++i) clonert::thread(short_life).join();
        });
    for (auto &m : makers) m.join();
}


void check_flat(const char *what, long lifetimes, const footprint &before, const footprint &after) {
    report(what, before, after);
    std::printf("load: %s: %ld lifetimes, heap %+.3f B per lifetime\n", what, lifetimes,
                static_cast<double>(after.heap_in_use - before.heap_in_use) / static_cast<double>(lifetimes));
    CHECK(after.mappings == before.mappings);
    CHECK(after.fds == before.fds);
    CHECK(after.tasks == before.tasks);
    CHECK(after.heap_in_use - before.heap_in_use < heap_bound);
    CHECK(after.heap_in_use - before.heap_in_use > -heap_bound);
}

TEST_CASE("load: 4 creators x 20,000 lifetimes: every thread runs, resources flat") {
    const int creators = 4, cycles = scaled(20000, 250);
    // A warm-up: malloc makes all the arenas it will, then the same shape
    // of run fills the stack cache.
    settle_malloc_arenas();
    churn(creators, cycles / 10);
    wait_for_tasks();
    bodies_run = 0;
    // The stack cache keeps up to 64 MiB of mappings (a default stack each,
    // here), as many as were ever needed at once: bounded, not lost, but a
    // run may need one more at once than the warm-up did. Emptied before
    // each count of mappings.
    empty_stack_cache();
    const footprint before = footprint::now();
    const auto start = clock_type::now();
    churn(creators, cycles);
    const double took = seconds_since(start);
    wait_for_tasks(static_cast<std::size_t>(before.tasks));
    empty_stack_cache();
    wait_for_tasks(static_cast<std::size_t>(before.tasks));  // the stack cache's trimmer, which then ends
    const footprint after = footprint::now();
    const long lifetimes = static_cast<long>(creators) * cycles;
    std::printf("load: %d creators x %d lifetimes in %.2f s (%.1f us per lifetime, all creators together)\n",
                creators, cycles, took, took * 1e6 / static_cast<double>(lifetimes));
    CHECK(bodies_run.load() == lifetimes);
    check_flat("4 creators", lifetimes, before, after);
}

TEST_CASE("load: the long run: create + join in a loop (CLONERT_LONG=1: 1,000,000), resources flat") {
    // Under qemu a million threads would keep ~280 GB of qemu's memory; the
    // long run there is 2,000.
    const long lifetimes = long_run_requested() ? scaled(1000000, 2000) : scaled(50000, 2000);
    settle_malloc_arenas();
    for (int i = 0; i < 1000; ++i) clonert::thread(short_life).join();  // warm-up
    bodies_run = 0;
    wait_for_tasks();
    const footprint before = footprint::now();
    const auto start = clock_type::now();
    footprint halfway{};
    for (long i = 0; i < lifetimes; ++i) {
        clonert::thread(short_life).join();
        if (i == lifetimes / 2) halfway = footprint::now();
    }
    const double took = seconds_since(start);
    wait_for_tasks(static_cast<std::size_t>(before.tasks));
    const footprint after = footprint::now();
    std::printf("load: long run: %ld lifetimes in %.1f s (%.1f us each)%s\n", lifetimes, took,
                took * 1e6 / static_cast<double>(lifetimes),
                long_run_requested() || clonert_test::under_qemu() ? "" : " (CLONERT_LONG=1 for 1,000,000)");
    CHECK(bodies_run.load() == lifetimes);
    // Flat means flat from the middle on, too: no slow creep.
    report("long run, second half", halfway, after);
    CHECK(after.heap_in_use - halfway.heap_in_use < heap_bound);
    check_flat("long run", lifetimes, before, after);
}

}  // namespace
