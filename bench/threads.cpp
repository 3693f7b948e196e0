#include "threads.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <malloc.h>
#include <sched.h>
#include <string>
#include <string_view>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gated.hpp"
#include "process_memory.hpp"
#include "stats.hpp"
#include "variants.hpp"

namespace bench {

// --- The floor's stacks ----------------------------------------------------------

bool floor_stack_pool::reserve(std::size_t count) {
    if (count <= count_) return true;
    // One mapping for all of them: the floor pays for no mmap per thread.
    // MAP_NORESERVE: only the touched page of each slot is ever backed.
    void *p = mmap(nullptr, count * slot_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    if (base_ != nullptr) munmap(base_, count_ * slot_size);
    base_ = static_cast<char *>(p);
    count_ = count;
    // Fault in the page each child will use now, outside every measurement.
    for (std::size_t i = 0; i < count; ++i) static_cast<char *>(top(i))[-1] = 0;
    return true;
}

floor_stack_pool &floor_stacks() {
    static floor_stack_pool pool;
    return pool;
}

void floor_stack_pool::release() noexcept {
    if (base_ != nullptr) munmap(base_, count_ * slot_size);
    base_ = nullptr;
    count_ = 0;
}

void release_floor_stacks() { floor_stacks().release(); }

void reserve_floor_stacks(int threads) {
    if (!floor_stacks().reserve(static_cast<std::size_t>(threads)))
        throw bench_error("cannot map stacks for " + std::to_string(threads) +
                          " floor threads: " + std::strerror(errno));
}

namespace {

// --- Counters and limits ----------------------------------------------------------

struct usage {
    long minor_faults;
    long context_switches;
};

usage usage_now() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);  // counts every thread, including those that exited
    return {r.ru_minflt, r.ru_nvcsw + r.ru_nivcsw};
}

std::string read_first_line(const char *path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line.empty() ? "?" : line;
}

std::string rlimit_text(int resource) {
    rlimit r{};
    if (getrlimit(resource, &r) != 0) return "?";
    return r.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(r.rlim_cur);
}

[[noreturn]] void fail(const char *label, const char *step, int err) {
    throw bench_error(std::string(label) + ": " + step + " failed: " + std::strerror(err));
}

// --- The experiments, for one variant V -------------------------------------------

template <template <body_fn> class V>
void lifecycles(int count) {
    using T = V<empty_body>;
    typename T::handle h{};
    for (int i = 0; i < count; ++i) {
        if (const int err = T::start(h, nullptr, 0)) fail("lifecycle", "create", err);
        if (const int err = T::join(h)) fail("lifecycle", "join", err);
    }
}

template <template <body_fn> class V>
void latency_block(latency_samples &out, int iterations, int warmup) {
    using T = V<stamp_body>;
    typename T::handle h{};
    stamps s;
    lifecycles<V>(warmup);
    const usage before = usage_now();
    for (int i = 0; i < iterations; ++i) {
        const std::uint64_t t0 = raw::ticks();
        if (const int err = T::start(h, &s, 0)) fail("latency", "create", err);
        const std::uint64_t t1 = raw::ticks();
        if (const int err = T::join(h)) fail("latency", "join", err);
        const std::uint64_t t2 = raw::ticks();
        out.create_join.push_back(ns(t2 - t0));
        out.create_call.push_back(ns(t1 - t0));
        // Counters on different CPUs may disagree by a few ticks: never
        // report a negative latency, but count how often it happens.
        const bool disorder = s.first < t0 || t2 < s.last;
        out.clock_disorder += disorder;
        out.start.push_back(s.first < t0 ? 0.0 : ns(s.first - t0));
        out.join.push_back(t2 < s.last ? 0.0 : ns(t2 - s.last));
    }
    const usage after = usage_now();
    out.minor_faults += after.minor_faults - before.minor_faults;
    out.context_switches += after.context_switches - before.context_switches;
    out.lifecycles += iterations;
}

template <template <body_fn> class V>
burst_sample burst(int threads) {
    using T = V<gate_body>;
    std::vector<typename T::handle> handles(static_cast<std::size_t>(threads));
    gate g;
    burst_sample b;
    const std::uint64_t t0 = raw::ticks();
    b.created = create_gated<T>(handles, g, b.error);
    const std::uint64_t t1 = raw::ticks();
    release_and_join<T>(handles, g, b.created);
    const std::uint64_t t2 = raw::ticks();
    b.create_all = ns(t1 - t0);
    b.join_all = ns(t2 - t1);
    return b;
}

// The marginal memory of an idle thread: a first batch of threads empties
// every stack cache (glibc's and clonert's, whose cached stacks are already
// resident) and maps what a thread's creation maps only once; a second batch
// is then measured.
template <template <body_fn> class V>
memory_sample idle_memory(int threads) {
    using T = V<gate_body>;
    std::vector<typename T::handle> first(static_cast<std::size_t>(threads)),
        second(static_cast<std::size_t>(threads));
    gate g;
    gated_start first_start, second_start;
    memory_sample measured;
    // Earlier experiments freed much of the heap: give it back now, so that
    // what the threads allocate (their DTVs) shows as it would in a fresh
    // process rather than filling old holes.
    malloc_trim(0);
    if (create_idle<T>(first, g, first_start)) {
        const double maps_before = mapping_count();
        const double rss_before = resident_bytes();
        if (create_idle<T>(second, g, second_start, first.size())) {
            measured.rss_bytes = (resident_bytes() - rss_before) / threads;
            measured.mappings = (mapping_count() - maps_before) / threads;
        }
        release_and_join<T>(second, g, second_start.created);
    } else {
        second_start = first_start;
    }
    release_and_join<T>(first, g, first_start.created);
    measured.created = second_start.created;
    measured.error = second_start.error;
    measured.timed_out = second_start.timed_out;
    return measured;
}

void nothing() {}

// The cache-off variant: clonert's stack cache disabled around its blocks,
// and the caller's limit restored after.
std::size_t saved_cache_limit = 0;
void cache_off() { saved_cache_limit = clonert_set_stack_cache_size(0); }
void cache_restore() { clonert_set_stack_cache_size(saved_cache_limit); }

// The linger-0 variant: the cache never above its size (40 MiB, glibc's
// policy), a burst's stacks unmapped by the joins that make them surplus.
// Setting it gives the surplus back at once, so it too empties the cache of
// a burst the other clonert variants would reuse.
unsigned saved_linger_ms = 0;
void linger_off() { saved_linger_ms = clonert_set_stack_cache_linger(0); }
void linger_restore() { clonert_set_stack_cache_linger(saved_linger_ms); }

template <template <body_fn> class V>
constexpr thread_variant make(const char *id, const char *label, const char *what,
                              void (*enter)() = nothing, void (*leave)() = nothing) {
    return {id, label, what, enter, leave, enter == cache_off || enter == linger_off,
            &latency_block<V>, &burst<V>, &idle_memory<V>, &lifecycles<V>};
}

}  // namespace

void latency_samples::reserve(std::size_t n) {
    for (auto *v : {&create_join, &create_call, &start, &join}) v->reserve(n);
}

const std::vector<thread_variant> &thread_variants() {
    static const std::vector<thread_variant> variants{
        make<clonert_c>("clonert_c", "clonert C API", "clonert_create + clonert_join"),
        make<clonert_cxx>("clonert_thread", "clonert::thread", "clonert::thread + join()"),
        make<clonert_c>("clonert_nocache", "clonert, no cache",
                        "clonert_create + clonert_join, clonert_set_stack_cache_size(0)",
                        cache_off, cache_restore),
        make<clonert_c>("clonert_linger0", "clonert, linger 0",
                        "clonert_create + clonert_join, clonert_set_stack_cache_linger(0): "
                        "the cache never above 40 MiB, glibc's policy",
                        linger_off, linger_restore),
        make<pthread_c>("pthread", "pthread_create", "pthread_create + pthread_join"),
        make<std_thread>("std_thread", "std::thread", "std::thread + join()"),
        make<bare_clone>("floor", "floor (bare clone)",
                         "clonert_clone(thread flags, no TLS) + FUTEX_WAIT on the "
                         "CLONE_CHILD_CLEARTID word"),
        make<parity_clone>("parity_floor", "parity floor",
                           "the floor whose child also calls set_robust_list and rseq (a "
                           "zeroed 32-byte area, the architecture's signature), as every "
                           "glibc-compatible thread does"),
    };
    return variants;
}

const thread_variant *find_variant(std::string_view id) {
    for (const thread_variant &v : thread_variants())
        if (id == v.id) return &v;
    return nullptr;
}

std::string thread_limits() {
    return "RLIMIT_NPROC=" + rlimit_text(RLIMIT_NPROC) + ", RLIMIT_AS=" + rlimit_text(RLIMIT_AS) +
           ", kernel.threads-max=" + read_first_line("/proc/sys/kernel/threads-max") +
           ", kernel.pid_max=" + read_first_line("/proc/sys/kernel/pid_max") +
           ", vm.max_map_count=" + read_first_line("/proc/sys/vm/max_map_count") +
           " (a thread with a guard page takes 2), vm.overcommit_memory=" +
           read_first_line("/proc/sys/vm/overcommit_memory");
}

}  // namespace bench
