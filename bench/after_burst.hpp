// The memory a burst leaves behind: after N threads were alive at once and
// have all been joined, what the process still holds more than before, in
// address space, resident memory and mappings. Stack caches decide it:
// glibc keeps exited threads' stacks up to 40 MiB (nptl/nptl-stack.c,
// __nptl_stack_cache_maxsize) after an madvise(MADV_DONTNEED) of all but
// their top; clonert keeps up to clonert_set_stack_cache_size() bytes.
//
// Read three times: at once; after plan::kept_lifecycles single create+join;
// and after an idle of plan::kept_idle_ms followed by as many lifecycles
// again ("after the decay": a cache that gives memory back on later
// creations or exits, whether it counts them or looks at the clock, has had
// its chance). Each variant runs in a fresh process of its own (the
// --after-burst mode), the variants' processes taking turns.
#pragma once

#include <string>
#include <vector>

#include "progress.hpp"
#include "results.hpp"
#include "run.hpp"

namespace bench {

const std::vector<std::string> &after_burst_variant_ids();

long after_burst_work(const plan &p);

std::vector<kept_result> after_burst_rounds(const plan &p, const run_options &o, int cpu,
                                            progress &prog);

// The --after-burst mode: the three readings in this fresh process (pinned
// to `cpu` unless -1), printed on one line for the parent to read.
int run_after_burst_probe(const std::string &variant_id, int threads, int lifecycles, int idle_ms,
                          int cpu);

}  // namespace bench
