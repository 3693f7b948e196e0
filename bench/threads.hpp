// The experiments on threads, one set per variant (variants.hpp): create+join
// latency, bursts of N live threads, memory per idle thread, and bare
// lifecycles for system call counting.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

struct bench_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One variant's latency samples, accumulated over its blocks (ns).
struct latency_samples {
    std::vector<double> create_join, create_call, start, join;
    long minor_faults = 0;
    long context_switches = 0;
    long lifecycles = 0;
    std::size_t clock_disorder = 0;
    void reserve(std::size_t n);
};

// One burst: N threads created, all alive at once, then released and joined.
struct burst_sample {
    double create_all = 0;   // ns
    double join_all = 0;     // ns
    int created = 0;         // < N if a create failed
    int error = 0;           // that create's error number
};

// What one more idle thread adds to the process.
struct memory_sample {
    double rss_bytes = 0;    // per thread
    double mappings = 0;     // per thread
    int created = 0;         // in the batch that failed, if one did
    int error = 0;
    bool timed_out = false;  // the threads never all started
};

struct thread_variant {
    const char *id;
    const char *label;
    const char *what;
    // Process-wide settings around this variant's work (the stack cache).
    void (*enter)();
    void (*leave)();
    // enter() empties clonert's stack cache, which the other clonert
    // variants would then find cold.
    bool empties_cache;
    // `iterations` timed create+join, after `warmup` untimed ones.
    void (*latency_block)(latency_samples &out, int iterations, int warmup);
    burst_sample (*burst)(int threads);
    memory_sample (*idle_memory)(int threads);
    // `count` create+join of an empty thread; throws bench_error.
    void (*lifecycles)(int count);
};

const std::vector<thread_variant> &thread_variants();
const thread_variant *find_variant(std::string_view id);

// The floor's stacks for up to `threads` children at once; throws bench_error.
void reserve_floor_stacks(int threads);
// Gives them back (a big pool would make fork() copy its page tables).
void release_floor_stacks();

// The limits that decide how many threads a process may have, for messages
// about a create that failed.
std::string thread_limits();

}  // namespace bench
