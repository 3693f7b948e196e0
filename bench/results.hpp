// What a run measures (the plan) and what it found (the results). Times are
// in nanoseconds, memory in bytes, per thread unless a name says otherwise.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace bench {

struct burst_size {
    int threads;
    int repetitions;
};

struct plan {
    std::string mode;              // "smoke", "quick" or "default"
    int pinned_iterations;         // create+join per variant, pinned to one CPU
    int unpinned_iterations;       // the same, free to use every CPU
    int block;                     // consecutive iterations of one variant
    int warmup;                    // untimed iterations at the start of each block
    std::vector<burst_size> bursts;
    int memory_threads;            // idle threads alive when memory is read
    int memory_repetitions;
    int strace_lifecycles;         // per variant, in a separate process under strace
    int process_iterations;        // per way of making a process
    int fork_threads;              // threads alive while fork() is timed
    int fork_processes;            // fresh processes per variant, in rotation
    int forks_per_process;         // timed forks in each, after one untimed
    int kept_burst_threads;        // the burst after which memory and single create+join are read
    int kept_singles;              // timed single create+join after the idle
    int kept_idle_ms;              // the idle after the burst's last join, with no call
    int kept_repetitions;          // fresh processes per variant and condition, alternating
    std::string scaled;            // why thread counts were scaled down, or empty
};

// A distribution: nearest-rank percentiles of the samples.
struct summary {
    std::size_t samples = 0;
    double min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
    std::vector<std::pair<double, double>> cdf;  // (percent, ns), for plots
};

struct latency_result {
    summary create_join;   // create call to join's return
    summary create_call;   // the create call alone
    summary start;         // create call to the child's first instruction
    summary join;          // child's last instruction to join's return
    double minor_faults = 0;       // per lifecycle (getrusage ru_minflt)
    double context_switches = 0;   // per lifecycle (ru_nvcsw + ru_nivcsw)
    std::size_t clock_disorder = 0;  // child stamps earlier than the parent's (clamped to 0)
};

struct burst_result {
    int threads = 0;
    int repetitions = 0;           // that completed
    double create_all = 0;         // medians over the repetitions
    double join_all = 0;
    double total = 0;
    std::string failure;           // why a repetition could not run, or empty
};

struct memory_result {
    int threads = 0;
    double rss_bytes = 0;          // resident memory per live idle thread (median)
    double mappings = 0;           // lines of /proc/self/maps per thread (median)
    std::string failure;
};

// fork() + the child's _exit(0) + waitpid, timed in a fresh process while
// plan::fork_threads threads of one variant are alive and parked.
struct fork_result {
    std::string id;                // the thread variant's
    std::string label;
    int threads = 0;
    summary latency;               // over every timed fork of every process
    std::string failure;
};

// What the process holds more than before a burst (bytes, mappings).
struct kept_memory {
    double mapped_bytes = 0;       // address space (VmSize)
    double resident_bytes = 0;     // RSS (smaps_rollup)
    double mappings = 0;           // lines of /proc/self/maps
};

// plan::kept_singles create+join one at a time, timed, in one process:
// each statistic is the median over the processes of that process's figure.
struct singles_result {
    int processes = 0;             // that completed
    double p50 = 0, p99 = 0, max = 0, mean = 0;  // ns
    std::vector<double> means;     // each process's mean, in the order run
};

// After a burst of plan::kept_burst_threads create+join and an idle of
// plan::kept_idle_ms, in a fresh process per variant: the memory the process
// holds, and what single create+join then cost, against the same variant in
// a fresh process with no burst before it. Medians over the repetitions.
struct kept_result {
    std::string id;
    std::string label;
    int threads = 0;
    int repetitions = 0;           // burst processes that completed
    kept_memory at_once;           // right after the last join
    kept_memory after_idle;        // after the idle, the program making no call
    kept_memory after_creations;   // after the plan::kept_singles single create+join
    singles_result after_burst;    // the singles after the burst and the idle
    singles_result no_burst;       // the same in a fresh process without the burst
    std::string failure;
};

// A thread library in a process of its own (musl, statically linked), driven
// block by block in the same rotation as the thread variants.
struct peer_result {
    std::string id;
    std::string label;
    std::string what;
    bool measured = false;
    std::string note;              // why not measured
    latency_result pinned;
    latency_result unpinned;
};

struct syscall_result {
    bool measured = false;
    std::string note;              // why not measured, or how
    int lifecycles = 0;
    double total = 0;              // system calls per lifecycle, all threads
    std::vector<std::pair<std::string, double>> by_name;  // most frequent first
};

struct variant_result {
    std::string id;
    std::string label;
    std::string what;              // one line: the calls it makes
    latency_result pinned;
    latency_result unpinned;
    std::vector<burst_result> bursts;
    memory_result memory;
    syscall_result syscalls;
};

struct process_result {
    std::string id;
    std::string label;
    bool measured = false;
    std::string note;              // why not measured
    summary latency;
};

struct target_check {
    std::string name;              // "create+join", "burst of 10000", ...
    std::string variant;           // its label
    std::string variant_id;
    bool measured = false;
    bool pass = false;
    double value = 0;
    double limit = 0;
    std::string unit;
    std::string detail;            // the arithmetic, for people
};

struct machine_info {
    std::string arch;
    int cpus = 0;
    std::string cpu_model;
    std::string kernel;
    std::string glibc;
    bool under_qemu = false;
    double ticks_per_us = 0;       // the counter's calibrated rate
    double tick_read_ns = 0;       // what reading it costs
    std::size_t default_stack = 0; // pthread's default stack size
    int pinned_cpu = -1;
    std::string guard_regions;     // "yes" if MADV_GUARD_INSTALL works, else why not
};

struct run_result {
    plan settings;
    machine_info machine;
    std::vector<variant_result> variants;
    std::vector<peer_result> peers;
    std::vector<process_result> processes;
    std::vector<fork_result> forks;
    std::vector<kept_result> kept;
    std::vector<target_check> targets;
    double seconds = 0;            // the whole run
};

}  // namespace bench
