// One mapping per thread, from the stack cache (thread/stack_cache.hpp, whose
// policy decides what is kept) or fresh from the kernel.
//
//   low                                                              high
//   [ guard | stack (grows down) ...                  | top reserve ]
//            ^ base + guard                           ^ top_reserve
//
// This file maps, guards and unmaps; it knows nothing of what goes
// in the top reserve (the lifecycle puts the TLS area and the thread's
// record there). A cached mapping is reused once the kernel has cleared its
// thread's join word (the thread image's, thread/image.hpp): until then its
// thread may still be running its last instructions on it.
#pragma once

#include <cstddef>
#include <sys/types.h>

#include "thread/attributes.hpp"
#include "thread/image.hpp"

namespace clonert {

// Memory for one thread with `top_size` bytes, aligned to `top_align` (a
// power of two), reserved at its top. `attributes` have passed
// check_attributes. A reused mapping's top reserve holds what the last
// thread left there. Throws std::system_error(EAGAIN) naming the failed
// mmap or guard, after giving the cache back and trying once more if it
// failed for want of memory.
thread_memory acquire_thread_memory(const thread_attributes &attributes, std::size_t top_size,
                                    std::size_t top_align);

// Gives back a thread's memory: to the cache, or to the kernel. The cache
// keeps a pointer to the image, which lies in the memory it describes, and
// reuses the memory only once the image's join word reads 0 (the kernel has
// cleared it, or no thread ever ran there). Nothing for a caller's stack.
void release_thread_memory(const thread_image &image) noexcept;

// Called by a detached thread on its own memory, just before it exits: puts
// the mapping in the cache, where it stays unusable until the kernel clears
// the join word. Returns false if the cache cannot take it (the thread must
// then unmap its memory itself).
bool cache_own_memory(const thread_image &image) noexcept;

}  // namespace clonert
