// One mapping per thread, and a bounded cache of exited threads' mappings.
//
//   low                                                              high
//   [ guard | stack (grows down) ...                  | top reserve ]
//            ^ base + guard                           ^ top (aligned)
//
// This file maps, guards, caches and unmaps; it knows nothing of what goes
// in the top reserve (the lifecycle puts the TLS area and the thread's
// record there). A cached mapping is reused once the kernel has cleared its
// join word: until then its thread may still be running its last
// instructions on it.
#pragma once

#include <cstddef>
#include <sys/types.h>

#include "thread/attributes.hpp"

namespace clonert {

struct thread_memory {
    std::byte *base = nullptr;    // the mapping, or the caller's stack
    std::size_t size = 0;
    std::size_t guard = 0;          // bytes of PROT_NONE at the bottom
    std::size_t reported_guard = 0; // what was asked for, in whole pages
    bool caller_owned = false;    // never unmapped or cached by clonert
    bool reused = false;          // came from the cache
    std::byte *top = nullptr;     // start of the top reserve; the stack is below
    // The word the kernel clears when the thread using this memory has died
    // (CLONE_CHILD_CLEARTID); set by the lifecycle before the thread starts,
    // null if no thread ever ran on this memory.
    const pid_t *join_word = nullptr;
};

// Memory for one thread with `top_size` bytes, aligned to `top_align` (a
// power of two), reserved at its top. `attributes` have passed
// check_attributes. A reused mapping's top reserve holds what the last
// thread left there. Throws std::system_error(EAGAIN) naming the failed
// mmap or mprotect.
thread_memory acquire_thread_memory(const thread_attributes &attributes, std::size_t top_size,
                                    std::size_t top_align);

// Gives back the memory of a thread whose join word the kernel has cleared:
// to the cache, or to the kernel. Nothing for a caller's stack.
void release_thread_memory(const thread_memory &memory) noexcept;

// Called by a detached thread on its own memory, just before it exits: puts
// the mapping in the cache, where it stays unusable until the kernel clears
// the join word. Returns false if the cache cannot take it (the thread must
// then unmap its memory itself).
bool cache_own_memory(const thread_memory &memory) noexcept;

// The most the cache may hold, in bytes of mapping; 0 disables it. Returns
// the previous limit; what no longer fits is unmapped.
std::size_t set_stack_cache_limit(std::size_t bytes) noexcept;

}  // namespace clonert
