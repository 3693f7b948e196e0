// The per-thread half of the glibc knowledge: filling one thread's control
// block and TLS area before clone, the registrations only the new thread can
// make, and what is given back when it ends. Everything here reads the const
// layout learnt at start-up (layout.hpp); nothing here learns or checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <pthread.h>

#include "glibc/layout.hpp"

namespace clonert::glibc {

// What the memory under a TLS area held before.
enum class area_state {
    zeroed,   // a fresh mapping: every byte is 0
    reused,   // an earlier clonert thread's area: libc's block is kept
    unknown,  // a caller's stack: may hold anything
};

// What pthread_getattr_np() reports about the thread's stack:
// [base + guard, base + size), with `reported_guard` as its guard size.
struct stack_block {
    void *base;
    std::size_t size, guard, reported_guard;
};

// Parent side, before clone: lays out a new thread's control block and static
// TLS in `area` (layout.area.size bytes, aligned) and gives it a DTV.
// A reused area keeps libc's TLS block (it carries malloc's tcache and arena,
// which glibc cannot free for us) with errno and h_errno reset; every other
// block is copied afresh from its initial image. Returns the thread pointer.
// Throws std::bad_alloc if the DTV cannot be allocated (nothing is changed).
std::uintptr_t prepare_thread_block(const layout &l, std::byte *area, area_state state,
                                    const stack_block &stack);

// Child side, first thing in the new thread: the registrations only the
// thread itself can make (robust list, rseq) and the global locale.
void start_in_child(const layout &l, std::uintptr_t tp) noexcept;

// Child side, last thing: run the thread's thread_local destructors and drop
// per-thread libc state.
void finish_in_child(const layout &l) noexcept;

// A thread about to end with its memory going away or to another thread:
// the kernel must not write into it after (rseq cpu_id updates, the robust
// list). Child side; signals must be blocked.
void unregister_in_child(const layout &l, std::uintptr_t tp) noexcept;

// Frees the DTV and what glibc attached to it (blocks of dlopened modules).
// For a thread that has ended, or the calling thread itself on its way out
// with signals blocked: no TLS of a dlopened module may be touched after.
void free_dtv(const layout &l, std::uintptr_t tp) noexcept;

// True if `thread` (a pthread_t, i.e. a struct pthread *) is one clonert
// made: prepare_thread_block leaves a mark where glibc keeps the start
// routine of its own threads.
bool made_by_clonert(const layout &l, pthread_t thread) noexcept;

}  // namespace clonert::glibc
