// What the process holds, read from /proc/self: resident bytes, mapped bytes
// and the number of mappings (VMAs). And whether this kernel can put a guard
// page inside a mapping instead of in a mapping of its own.
//
// The readings use read(2) into static buffers, never malloc, so that taking
// one cannot move the heap (and the RSS) it measures. Not thread-safe: the
// benchmark reads from its main thread only.
#pragma once

#include <string>

namespace bench {

// Resident bytes of the whole process (/proc/self/smaps_rollup, "Rss:").
double resident_bytes();

// Bytes of address space mapped (/proc/self/status, "VmSize:"): the sum of
// the sizes of all mappings, guard pages and reserved stacks included.
double mapped_bytes();

// Mappings (VMAs): the lines of /proc/self/maps.
double mapping_count();

// "yes" if madvise(MADV_GUARD_INSTALL) (Linux 6.13) really installs a guard
// region here, otherwise why not. A runtime that uses it needs one mapping
// per thread stack instead of two (the guard page no longer a mapping of its
// own), so the mappings per live thread depend on it.
std::string guard_regions();

}  // namespace bench
