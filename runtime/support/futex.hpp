// futex(2), the one way the runtime sleeps: wait while a word holds a value,
// wake its waiters, and a one-shot gate built on the two.
//
// Every call is a raw system call (arch::syscall): libc's syscall() would set
// errno on the expected EAGAIN or ETIMEDOUT, and the runtime must never
// change the errno of the thread that calls it (a thread's creator or joiner
// sees the errno it had before).
//
// Scope: a private futex is keyed by the address in this process only and is
// cheaper. The word the kernel clears when a thread dies (CLONE_CHILD_CLEARTID,
// the join word) is woken with a *shared* wake (kernel/fork.c, mm_release),
// which a FUTEX_WAIT_PRIVATE waiter never sees: waits on it must be shared.
#pragma once

#include <atomic>
#include <cerrno>
#include <climits>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "arch.hpp"

namespace clonert::futex {

enum class scope { process_private, shared };

namespace detail {
constexpr int op(int base, scope s) noexcept {
    return s == scope::process_private ? (base | FUTEX_PRIVATE_FLAG) : base;
}
inline long address(const void *word) noexcept { return reinterpret_cast<long>(word); }
}  // namespace detail

// Sleeps while *word == expected (returns at once if it does not), until a
// wake or a signal: callers re-check their condition in a loop. Returns the
// kernel's result: 0, -EAGAIN (the word had changed), -EINTR.
inline long wait(const void *word, int expected, scope s = scope::process_private) noexcept {
    return arch::syscall(SYS_futex, detail::address(word), detail::op(FUTEX_WAIT, s), expected, 0);
}

// As wait(), giving up with -ETIMEDOUT after `interval` (FUTEX_WAIT takes a
// relative time, on CLOCK_MONOTONIC).
inline long wait_for(const void *word, int expected, const timespec &interval,
                     scope s = scope::process_private) noexcept {
    return arch::syscall(SYS_futex, detail::address(word), detail::op(FUTEX_WAIT, s), expected,
                         reinterpret_cast<long>(&interval));
}

// As wait(), giving up with -ETIMEDOUT once `clock` (CLOCK_MONOTONIC or
// CLOCK_REALTIME) reaches the absolute time `deadline` (FUTEX_WAIT_BITSET
// takes an absolute time; plain FUTEX_WAIT a relative one).
inline long wait_until(const void *word, int expected, clockid_t clock, const timespec &deadline,
                       scope s = scope::process_private) noexcept {
    const int op = detail::op(FUTEX_WAIT_BITSET, s) | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
    return arch::syscall(SYS_futex, detail::address(word), op, expected, reinterpret_cast<long>(&deadline),
                         0, static_cast<long>(FUTEX_BITSET_MATCH_ANY));
}

// Wakes up to `count` waiters (INT_MAX: all).
inline void wake(const void *word, int count, scope s = scope::process_private) noexcept {
    arch::syscall(SYS_futex, detail::address(word), detail::op(FUTEX_WAKE, s), count);
}

// The join word protocol: a thread's TID word, which the kernel clears and
// wakes with a shared wake when the thread dies (CLONE_CHILD_CLEARTID,
// kernel/fork.c mm_release). Sleeps until *word reads 0; with a deadline
// (on `clock`), returns -ETIMEDOUT once it passes; with a tick, looks again
// that often, for a word cleared without a wake (glibc 2.43 clears its own
// threads' tid itself). Returns 0 once the word reads 0.
struct cleared_wait {
    const timespec *deadline = nullptr;
    clockid_t clock = CLOCK_MONOTONIC;
    const timespec *tick = nullptr;
};
inline long wait_until_cleared(const int *word, cleared_wait how = {}) noexcept {
    for (int value; (value = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != 0;) {
        if (how.deadline != nullptr) {
            if (wait_until(word, value, how.clock, *how.deadline, scope::shared) == -ETIMEDOUT) return -ETIMEDOUT;
        } else if (how.tick != nullptr) {
            wait_for(word, value, *how.tick, scope::shared);
        } else {
            wait(word, value, scope::shared);
        }
    }
    return 0;
}

// Sleeps until *word is no longer `value` (atomically re-read between waits).
inline void wait_while(const std::atomic<int> &word, int value,
                       scope s = scope::process_private) noexcept {
    while (word.load(std::memory_order_acquire) == value) wait(&word, value, s);
}

// A gate one side opens once, with a verdict, and the other waits at: the
// waiter learns the verdict. Private: both sides are threads of this process.
class one_shot_gate {
public:
    enum verdict : int { closed = 0, go = 1, give_up = 2 };

    // Waits until the gate is opened; returns the verdict (go or give_up).
    verdict wait() noexcept {
        wait_while(state_, closed);
        return static_cast<verdict>(state_.load(std::memory_order_acquire));
    }
    // Opens it, waking every waiter. Once: a second open changes nothing seen.
    void open(verdict v = go) noexcept {
        state_.store(v, std::memory_order_release);
        wake(&state_, INT_MAX);
    }

private:
    std::atomic<int> state_{closed};
};

}  // namespace clonert::futex
