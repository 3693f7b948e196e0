// A whole benchmark run: every experiment on every variant, in the order and
// the interleaving that make the ratios between variants fair.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "progress.hpp"
#include "results.hpp"

namespace bench {

plan plan_for(const std::string &mode);

// Under qemu-user (CLONERT_UNDER_QEMU=1), no experiment makes more than a few
// hundred threads: qemu keeps about 280 KB for every thread a process ever
// made. Sets p.scaled to say so, for the output.
void scale_for_qemu(plan &p);

// The order of n variants in round `round`: the starting one rotates, and
// every other sweep runs backwards, so that no variant always follows the
// same neighbour (whose leftovers in caches and allocators it would inherit).
std::vector<std::size_t> rotation(int round, std::size_t n);

// Pins the calling thread, and the threads it creates after, to one CPU;
// throws bench_error.
void pin_this_thread(int cpu);

struct run_options {
    std::string self;   // this program, for re-running it under strace
    int cpu = -1;       // the CPU to pin to; -1: the last one allowed
    bool under_qemu = false;
};

// Throws bench_error when the benchmark cannot run at all.
run_result run_benchmark(const plan &p, const run_options &o, progress &prog);

// The --memory mode: the marginal memory of `threads` idle threads of one
// variant, measured in this fresh process (pinned to `cpu` unless -1) and
// printed on one line for the parent benchmark to read.
int run_memory_probe(const std::string &variant_id, int threads, int cpu);

// The --lifecycles mode run under strace: `count` lifecycles of one variant
// between the two markers, pinned to `cpu` if it is not -1. Returns the exit
// status.
int run_lifecycles(const std::string &variant_id, int count, int cpu);

}  // namespace bench
