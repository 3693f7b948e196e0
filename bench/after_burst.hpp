// After a burst: N threads alive at once, all joined, then an idle in which
// the program makes no call (plan::kept_idle_ms, 300 ms), then single
// create+join one at a time (plan::kept_singles, 400), what a server or a
// test runner does between peaks. Two things are read:
//
//   the memory the process holds more than before the burst, in address
//   space, resident memory and mappings: at once after the last join, after
//   the idle with no further call (what a cache gives back by itself), and
//   after the single create+join (what it gives back on later calls);
//
//   what each of those single create+join costs (p50, p99, max, mean),
//   against the same variant in a fresh process with no burst before it: a
//   cache that gives memory back on the program's own calls shows here.
//
// Stack caches decide both: glibc keeps exited threads' stacks up to 40 MiB
// (nptl/nptl-stack.c, __nptl_stack_cache_maxsize) after an
// madvise(MADV_DONTNEED) of all but their top; clonert keeps up to
// clonert_set_stack_cache_size() bytes, and a burst's peak for
// clonert_set_stack_cache_linger() ms after it. Every variant and condition
// runs in a fresh process of its own (the --after-burst mode), the
// processes alternating.
#pragma once

#include <string>
#include <vector>

#include "progress.hpp"
#include "results.hpp"
#include "run.hpp"

namespace bench {

// Lifecycles before the baseline reading: a process's first threads set up
// what they set up once (clonert checks glibc's layout with a pthread, both
// libraries cache the stack of the last exited thread), as in any program.
inline constexpr int after_burst_setup_lifecycles = 3;

const std::vector<std::string> &after_burst_variant_ids();

long after_burst_work(const plan &p);

std::vector<kept_result> after_burst_rounds(const plan &p, const run_options &o, int cpu,
                                            progress &prog);

// The --after-burst mode: in this fresh process (pinned to `cpu` unless -1),
// a burst of `threads` (none if 0), `idle_ms` of idle, `singles` timed
// create+join; the readings and times printed on one line for the parent.
int run_after_burst_probe(const std::string &variant_id, int threads, int singles, int idle_ms,
                          int cpu);

}  // namespace bench
