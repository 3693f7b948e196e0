// The ways of making a thread that the benchmark compares, each as a small
// class template over the child's body:
//
//   clonert_c<Body>       clonert_create + clonert_join (the C API)
//   clonert_cxx<Body>     clonert::thread + join()
//   pthread_c<Body>       pthread_create + pthread_join
//   std_thread<Body>      std::thread + join()
//   bare_clone<Body>      the floor: clonert_clone with thread flags, no TLS,
//                         on a preallocated stack, joined by a futex wait on
//                         the CLONE_CHILD_CLEARTID word
//   parity_clone<Body>    the parity floor: the floor whose child also
//                         registers its robust list and rseq area, the two
//                         system calls every glibc-compatible thread makes
//
// Each has `handle`, `start(handle&, arg, slot)` returning 0 or an error
// number, and `join(handle&)` returning 0 or an error number. Every variant
// is written the way a program would use that API, with default attributes.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <pthread.h>
#include <sys/types.h>
#include <system_error>
#include <thread>

#include <clonert/clone.h>
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include "raw.hpp"

namespace bench {

// What a child does. Bodies must not touch libc (see raw.hpp): the floor's
// child has no TLS of its own.
using body_fn = void (*)(void *) noexcept;

// Latency: the child's first and last instruction each take a time stamp.
struct stamps {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

inline void stamp_body(void *arg) noexcept {
    auto *s = static_cast<stamps *>(arg);
    s->first = raw::ticks();
    s->last = raw::ticks();
}

// Bursts and memory: every child checks in, then sleeps until the gate opens,
// so that all N threads are alive at once.
struct gate {
    int open = 0;
    int arrived = 0;
};

inline void gate_body(void *arg) noexcept {
    auto *g = static_cast<gate *>(arg);
    __atomic_fetch_add(&g->arrived, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&g->open, __ATOMIC_ACQUIRE) == 0) raw::futex_wait_private(&g->open, 0);
}

inline void open_gate(gate &g) noexcept {
    __atomic_store_n(&g.open, 1, __ATOMIC_RELEASE);
    raw::futex_wake_all_private(&g.open);
}

// System call counting: a lifecycle and nothing else.
inline void empty_body(void *) noexcept {}

// Small stacks for the floor's children, mapped once and touched once before
// any measurement, so that the floor pays for no memory at all: it is the
// cost of clone, exit and the futex wake alone.
class floor_stack_pool {
public:
    static constexpr std::size_t slot_size = 16 * 1024;
    // Makes room for `count` stacks; false (errno set) if mmap fails.
    bool reserve(std::size_t count);
    void release() noexcept;
    // The top (highest address, 16-byte aligned) of stack number `slot`.
    void *top(std::size_t slot) const noexcept { return base_ + (slot + 1) * slot_size; }
    // The parity floor's per-thread kernel areas, the top `area_size` bytes
    // of slot `slot` (aligned to 32, as rseq(2) requires); its stack is below.
    static constexpr std::size_t area_size = 64;
    void *area(std::size_t slot) const noexcept {
        return static_cast<char *>(top(slot)) - area_size;
    }
    std::size_t capacity() const noexcept { return count_; }

private:
    char *base_ = nullptr;
    std::size_t count_ = 0;
};

floor_stack_pool &floor_stacks();

template <body_fn Body>
struct clonert_c {
    using handle = clonert_t;
    static void *entry(void *arg) {
        Body(arg);
        return nullptr;
    }
    static int start(handle &h, void *arg, std::size_t) {
        return clonert_create(&h, nullptr, entry, arg);
    }
    static int join(handle &h) { return clonert_join(h, nullptr); }
};

template <body_fn Body>
struct pthread_c {
    using handle = pthread_t;
    static void *entry(void *arg) {
        Body(arg);
        return nullptr;
    }
    static int start(handle &h, void *arg, std::size_t) {
        return pthread_create(&h, nullptr, entry, arg);
    }
    static int join(handle &h) { return pthread_join(h, nullptr); }
};

// The two C++ thread classes report errors as std::system_error.
template <class Thread, body_fn Body>
struct cxx_thread {
    using handle = Thread;
    static int start(handle &h, void *arg, std::size_t) {
        try {
            h = Thread([arg] { Body(arg); });
            return 0;
        } catch (const std::system_error &e) {
            return e.code().value();
        }
    }
    static int join(handle &h) {
        try {
            h.join();
            return 0;
        } catch (const std::system_error &e) {
            return e.code().value();
        }
    }
};

template <body_fn Body>
using clonert_cxx = cxx_thread<clonert::thread, Body>;
template <body_fn Body>
using std_thread = cxx_thread<std::thread, Body>;

// The flags of a thread (clone(2)), as glibc and clonert use them, minus
// CLONE_SETTLS: the kernel's part of a thread and nothing else.
// PARENT_SETTID writes the TID into the join word before clone returns, so a
// join can never see 0 before the child has even started.
inline constexpr int floor_flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                   CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID |
                                   CLONE_CHILD_CLEARTID;

template <body_fn Body>
struct bare_clone {
    struct handle {
        pid_t join_word = 0;
    };
    static int entry(void *arg) {
        Body(arg);
        return 0;  // clonert's stub makes the raw exit system call
    }
    static int start(handle &h, void *arg, std::size_t slot) {
        if (slot >= floor_stacks().capacity()) return ENOMEM;
        const int tid = clonert_clone(entry, floor_stacks().top(slot), floor_flags, arg,
                                      &h.join_word, nullptr, &h.join_word);
        return tid < 0 ? errno : 0;
    }
    static int join(handle &h) {
        for (pid_t tid; (tid = __atomic_load_n(&h.join_word, __ATOMIC_ACQUIRE)) != 0;)
            raw::futex_wait_shared(&h.join_word, tid);
        return 0;
    }
};

// The parity floor's child tells the kernel where its robust futex list and
// its rseq area are, as glibc's start_thread does (nptl/pthread_create.c)
// and clonert's child does, then runs the body. The areas lie at the top of
// its stack slot, above its stack, so that they stay valid until the exit
// system call (the kernel walks the robust list in that call and may write
// the rseq area at any preemption before it). A CLONE_VM child does not
// inherit its parent's rseq registration (kernel/fork.c, rseq_fork), so the
// registration is its own whatever glibc did for the creator.
template <body_fn Body>
struct parity_clone {
    using handle = typename bare_clone<Body>::handle;
    struct start_block {
        raw::robust_list_head robust;  // 24 bytes, at the area's start
        void *arg;
    };
    static_assert(sizeof(start_block) <= floor_stack_pool::area_size - raw::rseq_area_size);
    static int entry(void *block) {
        auto *b = static_cast<start_block *>(block);
        char *rseq_area = static_cast<char *>(block) + floor_stack_pool::area_size -
                          raw::rseq_area_size;
        raw::register_robust_list(&b->robust);
        raw::register_rseq(rseq_area);
        Body(b->arg);
        return 0;
    }
    static int start(handle &h, void *arg, std::size_t slot) {
        if (slot >= floor_stacks().capacity()) return ENOMEM;
        // Written by the creator before clone: the child reads it at once.
        auto *b = static_cast<start_block *>(floor_stacks().area(slot));
        b->arg = arg;
        const int tid = clonert_clone(entry, floor_stacks().area(slot), floor_flags, b,
                                      &h.join_word, nullptr, &h.join_word);
        return tid < 0 ? errno : 0;
    }
    static int join(handle &h) { return bare_clone<Body>::join(h); }
};

}  // namespace bench
