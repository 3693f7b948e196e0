// The cache of ended threads' mappings (thread/memory.cpp asks it first and
// gives it what threads leave behind). Its policy -- what it keeps, for how
// long, who gives memory back and what each call may cost -- is written once,
// at the top of stack_cache.cpp.
//
// A cached mapping is handed out only once the kernel has cleared the join
// word of the image in it (thread/image.hpp): until then its thread may still
// be running its last instructions there.
#pragma once

#include <cstddef>

#include "thread/image.hpp"

namespace clonert::stack_cache {

// A creation wants `size` bytes with `guard` bytes of guard at the bottom:
// counts the demand, and fills `out` (base, size, guard, kept_dtv, reused)
// from a free cached mapping of exactly that shape if there is one.
bool take(std::size_t size, std::size_t guard, thread_memory &out) noexcept;

// A creation that counted its demand in take() got no memory after all (its
// mapping failed): the demand is taken back.
void not_used(std::size_t size) noexcept;

// A thread's memory is no longer its own: the demand is taken back and the
// mapping cached if the cache has room (it may evict one older mapping to
// make room). Returns false if not cached: the caller unmaps the memory.
// Safe in a detached thread on its way out (signals blocked, no allocation,
// at most one munmap and one futex wake).
bool give(const thread_image &image) noexcept;

// Unmaps every cached mapping that is free, in the calling thread: what a
// creation does once before it retries a mapping that failed. Returns the
// bytes given back.
std::size_t give_back_all() noexcept;

// clonert_set_stack_cache_size and clonert_set_stack_cache_linger (clonert.h).
// Each applies at once and returns the previous value.
std::size_t set_limit(std::size_t bytes) noexcept;
unsigned set_linger(unsigned milliseconds) noexcept;

}  // namespace clonert::stack_cache
