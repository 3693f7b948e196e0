// A whole benchmark run: every experiment on every variant, in the order and
// the interleaving that make the ratios between variants fair.
#pragma once

#include <string>

#include "progress.hpp"
#include "results.hpp"

namespace bench {

plan plan_for(const std::string &mode);

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
