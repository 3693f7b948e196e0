// One mapping per thread: guard page(s), stack, and at the top the TLS area
// (glibc's struct pthread plus the static TLS blocks), laid out the way
// glibc's allocate_stack lays out its own threads. Exited threads' mappings
// are kept in a bounded cache and reused, so creating a thread rarely maps
// memory and never re-faults a warm stack.
//
//   low                                                             high
//   [ guard | stack (grows down) ... | record+payload | TLS area ]
//            ^ stackblock + guard                     ^ area_base
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/types.h>

#include "glibc_tls.hpp"

namespace clonert {

struct memory_request {
    std::size_t stack_size = 0;   // 0: the default (RLIMIT_STACK, as glibc)
    std::size_t guard_size = 0;   // rounded up to whole pages; 0 = no guard
    void *stack = nullptr;        // a caller-provided stack (its lowest address)
    std::size_t stack_length = 0; // its length in bytes
};

struct thread_memory {
    std::byte *base = nullptr;    // the mapping, or the caller's stack
    std::size_t size = 0;
    std::size_t guard = 0;          // bytes of PROT_NONE at the bottom
    std::size_t reported_guard = 0; // what was asked for (pthread_getattr_np reports it)
    bool caller_owned = false;    // never unmapped or cached by clonert
    bool reused = false;          // came from the cache
    std::uintptr_t tp = 0;        // the thread pointer the child will have
    std::byte *top = nullptr;     // where the TLS area starts: the stack is below
};

// Memory for one new thread, with its TLS area prepared for `layout`.
// Throws std::system_error: EINVAL for a request that cannot work (a stack
// too small for the TLS area, a misaligned caller stack), EAGAIN when memory
// cannot be had (the message names the mmap failure).
thread_memory acquire_thread_memory(const memory_request &request, const glibc::tls_layout &layout);

// Gives back the memory of a thread whose join word the kernel has cleared.
void release_thread_memory(const thread_memory &memory, const glibc::tls_layout &layout) noexcept;

// Called by a detached thread on its own memory, just before it exits: puts
// the mapping in the cache, where it stays unusable until the kernel clears
// the join word. Returns false if the cache cannot take it (the thread must
// then unmap its memory itself).
bool cache_own_memory(const thread_memory &memory, const glibc::tls_layout &layout) noexcept;

// The most the cache may hold, in bytes of mapping; 0 disables it. Returns
// the previous limit. Shrinking does not unmap what is already cached until
// the cache is next used.
std::size_t set_stack_cache_limit(std::size_t bytes) noexcept;

std::size_t default_stack_size() noexcept;
std::size_t default_guard_size() noexcept;
std::size_t page_size() noexcept;

}  // namespace clonert
