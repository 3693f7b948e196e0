// fork() while many threads are alive: what a thread library's threads cost
// a process that forks (a server that runs a command, say). fork(2) copies
// the caller's mappings and page tables whatever made them, and the C
// library runs its fork handlers in the child. glibc's child walks the list
// of every pthread's stack to take them back (sysdeps/nptl/fork.h,
// reclaim_stacks) and writes tid = 0 into each thread's descriptor; any
// library that writes into every thread's memory in the child, as clonert's
// registry does when it empties its list, pays one copy-on-write page fault
// per thread, a page copied each: with 10,000 threads that is most of the
// cost (measured with perf on the x86_64 virtual machine of
// docs/benchmark.md, where such a fault costs tens of microseconds).
//
// Each variant is timed in a fresh process of its own (this benchmark run in
// its --fork-alive mode), so that only its own threads are alive there; the
// processes of the variants take turns.
#pragma once

#include <string>
#include <vector>

#include "progress.hpp"
#include "results.hpp"
#include "run.hpp"

namespace bench {

// The thread variants timed (ids, see threads.hpp).
const std::vector<std::string> &fork_variant_ids();

// Work units fork_rounds() reports to `progress`.
long fork_work(const plan &p);

std::vector<fork_result> fork_rounds(const plan &p, const run_options &o, int cpu,
                                     progress &prog);

// The --fork-alive mode: in this fresh process (pinned to `cpu` unless -1),
// `threads` parked threads of one variant, then one untimed and `forks`
// timed fork + _exit + waitpid; prints one line for the parent to read.
int run_fork_probe(const std::string &variant_id, int threads, int forks, int cpu);

}  // namespace bench
