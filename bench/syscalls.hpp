// System calls per thread lifecycle, counted and named by strace(1): the
// benchmark re-runs itself under `strace -f` in its --lifecycles mode, where
// it makes a fixed number of threads of one variant between two marker
// system calls, and divides what strace saw between the markers.
#pragma once

#include <string>

#include "results.hpp"

namespace bench {

// The markers the --lifecycles mode writes (as failing writes to fd -1).
void mark_lifecycles_begin();
void mark_lifecycles_end();

// Why system calls cannot be counted here, or "" if they can.
std::string strace_unavailable(bool under_qemu);

// Runs `self --lifecycles variant_id lifecycles --cpu cpu` under strace;
// throws bench_error when strace ran but its output could not be understood.
syscall_result count_syscalls(const std::string &self, const std::string &variant_id,
                              int lifecycles, int cpu);

}  // namespace bench
