// A lock whose waiters sleep on a futex, for sections that may wait, allocate
// or call into the loader: the registry of live threads (it copies the list
// into a vector), the scan of the loader's modules (dl_iterate_phdr takes the
// loader's own lock and allocates), a credential broadcast (it waits for
// every thread's answer). Uncontended it costs what the spin lock costs, one
// atomic exchange; contended, a waiter sleeps instead of yielding in a loop.
//
// The word is 0 free, 1 taken, 2 taken with waiters (the three-state mutex of
// Drepper's "Futexes Are Tricky"): unlock makes the wake system call only
// when someone may be waiting. glibc's low-level lock (nptl/lowlevellock.h)
// is the same protocol on the same values, so glibc/ takes a lock of glibc's
// (struct pthread's exit_lock) with the same two functions. Private futex:
// only threads of this process take it. No signal handler may take it.
#pragma once

#include <atomic>

#include "support/futex.hpp"

namespace clonert {

namespace three_state_lock {

inline constexpr int free = 0, taken = 1, contended = 2;

inline void lock(int &word) noexcept {
    std::atomic_ref<int> w(word);
    int expected = free;
    if (w.compare_exchange_strong(expected, taken, std::memory_order_acquire)) return;
    // Mark it contended; whoever unlocks then wakes one sleeper.
    while (w.exchange(contended, std::memory_order_acquire) != free) futex::wait(&word, contended);
}

inline void unlock(int &word) noexcept {
    if (std::atomic_ref<int>(word).exchange(free, std::memory_order_release) == contended) futex::wake(&word, 1);
}

}  // namespace three_state_lock

class sleeping_lock {
public:
    void lock() noexcept { three_state_lock::lock(word_); }
    void unlock() noexcept { three_state_lock::unlock(word_); }

private:
    alignas(std::atomic_ref<int>::required_alignment) int word_ = three_state_lock::free;
};

}  // namespace clonert
