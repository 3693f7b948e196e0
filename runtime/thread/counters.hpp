// What the runtime counts for CLONERT_STATS (runtime/preload/stats.cpp): a
// few relaxed atomic counters, bumped on paths that already take a lock or
// make a system call, so that counting costs nothing measurable.
#pragma once

#include <atomic>
#include <cstdint>

namespace clonert::counters {

// Threads whose memory came from the cache of ended threads' mappings
// instead of a fresh mmap (thread/memory.cpp, acquire_thread_memory).
inline std::atomic<std::uint64_t> stack_cache_hits{0};

}  // namespace clonert::counters
