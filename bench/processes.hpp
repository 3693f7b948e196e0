// For comparison: what a process costs. fork + wait, vfork + _exit,
// posix_spawn of /bin/true + wait, and clone(CLONE_VM|CLONE_VFORK) + execve of
// /bin/true + wait. And what libclonert-preload.so adds to a process that
// makes no thread: posix_spawn of /bin/true and of an empty C program
// (empty_program.c), each with LD_PRELOAD naming it and without, in the same
// rotation (report.cpp's preload start-up target compares the pairs).
#pragma once

#include <vector>

#include "progress.hpp"
#include "results.hpp"

namespace bench {

// Work units measure_processes() reports to `progress`.
long process_work(int iterations);

std::vector<process_result> measure_processes(int iterations, bool under_qemu, progress &p);

}  // namespace bench
