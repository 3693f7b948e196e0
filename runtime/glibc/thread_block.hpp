// The per-thread half of the glibc knowledge: filling one thread's control
// block and TLS area before clone, the registrations only the new thread can
// make, and what is given back when it ends. Everything here reads the const
// layout learnt at start-up (layout.hpp); nothing here learns or checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <pthread.h>

#include "glibc/layout.hpp"
#include "glibc/static_tls.hpp"

namespace clonert::glibc {

// What the memory under a TLS area held before.
enum class area_state {
    zeroed,   // every byte is 0 (a fresh mapping; a caller's stack, zeroed first)
    reused,   // an earlier clonert thread's area: libc's block is kept
};

// What pthread_getattr_np() reports about the thread's stack:
// [base + guard, base + size), with `reported_guard` as its guard size.
struct stack_block {
    void *base;
    std::size_t size, guard, reported_guard;
};

// Parent side, before clone: lays out a new thread's control block and the
// static TLS blocks of `modules` (the snapshot this creation took) in `area`
// (layout.area.size bytes, aligned) and gives it a DTV.
// A reused area keeps libc's TLS block (it carries malloc's tcache and arena,
// which glibc cannot free for us) with errno and h_errno reset; every other
// block is copied afresh from its initial image. Returns the thread pointer.
// `kept_dtv` is a DTV an earlier thread on this memory left (take_dtv), or
// null: reused if large enough, else freed. Throws std::bad_alloc if a DTV
// cannot be allocated (nothing is changed; kept_dtv is then still the caller's).
std::uintptr_t prepare_thread_block(const layout &l, const module_table &modules, std::byte *area,
                                    area_state state, const stack_block &stack, bool detached, void *kept_dtv);

// A clonert thread's one state word is glibc's own join field in its struct
// pthread (joinid up to 2.42, joinstate from 2.43: layout.hpp), so that what
// glibc reads there -- pthread_getattr_np's detach state, 2.43's ESRCH for an
// exited thread -- is what clonert decided. prepare_thread_block sets it
// joinable or detached.
//   joinable -> finished  the thread ended; its joiner gives the memory back
//   joinable -> detached  the thread gives its memory back when it ends
// (up to 2.42: NULL, the thread itself, and an odd address no struct pthread
// has; from 2.43: joinstate's joinable, detached and exited).
enum class join_state { joinable, detached, finished };
join_state load_join_state(const layout &l, std::uintptr_t tp) noexcept;
// Compare and exchange, acquire-release: true if it held `expected` and now
// holds `desired`; else false with what it held in `expected`.
bool exchange_join_state(const layout &l, std::uintptr_t tp, join_state &expected, join_state desired) noexcept;

// glibc's count of running threads (nptl/pthread_create.c, __nptl_nthreads),
// which clonert threads join: the creator counts one in before clone (and
// out again if clone fails), the thread counts itself out as it ends.
// count_thread_out returns true for the last one: it must end the process
// with exit(0), as glibc's start_thread does, so that main's pthread_exit
// waits for every thread.
void count_thread_in(const layout &l) noexcept;
bool count_thread_out(const layout &l) noexcept;

// Child side, first thing in the new thread: the registrations only the
// thread itself can make (robust list, rseq) and the global locale.
void start_in_child(const layout &l, std::uintptr_t tp) noexcept;

// Child side, last thing: run the thread's thread_local destructors and its
// pthread_key destructors, and drop per-thread libc state (the resolver's,
// dlerror's), in the order glibc's start_thread does.
void finish_in_child(const layout &l, std::uintptr_t tp) noexcept;

// pthread_exit() and cancellation unwind the thread's stack (running cleanup
// handlers and C++ destructors) to a jump buffer, and longjmp there
// (nptl/unwind.c). glibc's start_thread sets one up with setjmp; a clonert
// thread does the same in its entry function, then registers it here the
// public way, as pthread_cleanup_push does (__pthread_register_cancel,
// pthread.h), so that the unwinding ends in clonert's entry function.
void register_unwind_target(__pthread_unwind_buf_t *buffer) noexcept;

// What pthread_exit() or a cancellation left as the thread's result
// (PTHREAD_CANCELED for a cancellation).
void *exit_value(const layout &l, std::uintptr_t tp) noexcept;

// The thread is ending: pthread_kill and pthread_sigqueue answer 0 and send
// nothing from here, as for an exiting pthread (struct pthread.exiting,
// glibc 2.35 on).
void mark_exiting(const layout &l, std::uintptr_t tp) noexcept;

// A thread about to end with its memory going away or to another thread:
// the kernel must not write into it after (rseq cpu_id updates, the robust
// list), so the robust mutexes the thread still holds are marked owner-dead
// here, as the kernel would have at its exit. Child side; signals must be
// blocked.
void unregister_in_child(const layout &l, std::uintptr_t tp) noexcept;

// Frees what glibc attached to the DTV (blocks of dlopened modules) and
// hands the DTV itself to the caller: a malloc'd block, to give to the next
// thread on this memory through prepare_thread_block (one malloc and free
// fewer per thread when memory is reused), or to free. For a thread that has
// ended, or the calling thread itself on its way out with signals blocked:
// no TLS of a dlopened module may be touched after.
void *take_dtv(const layout &l, std::uintptr_t tp) noexcept;

// True if `thread` (a pthread_t, i.e. a struct pthread *) is one clonert
// made: prepare_thread_block leaves a mark where glibc keeps the start
// routine of its own threads.
bool made_by_clonert(const layout &l, pthread_t thread) noexcept;

}  // namespace clonert::glibc
