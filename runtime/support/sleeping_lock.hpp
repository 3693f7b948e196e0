// A lock whose waiters sleep on a futex, for sections that may wait, allocate
// or call into the loader: the registry of live threads (it copies the list
// into a vector), the scan of the loader's modules (dl_iterate_phdr takes the
// loader's own lock and allocates), a credential broadcast (it waits for
// every thread's answer). Uncontended it costs what the spin lock costs, one
// atomic exchange; contended, a waiter sleeps instead of yielding in a loop.
//
// The word is 0 free, 1 taken, 2 taken with waiters (the three-state mutex of
// Drepper's "Futexes Are Tricky", as glibc's low-level lock): unlock makes
// the wake system call only when someone may be waiting. Private futex: only
// threads of this process take it. No signal handler may take it.
#pragma once

#include <atomic>

#include "support/futex.hpp"

namespace clonert {

class sleeping_lock {
public:
    void lock() noexcept {
        int expected = free;
        if (word_.compare_exchange_strong(expected, taken, std::memory_order_acquire)) return;
        // Mark it contended; whoever unlocks then wakes one sleeper.
        while (word_.exchange(contended, std::memory_order_acquire) != free) futex::wait(&word_, contended);
    }
    void unlock() noexcept {
        if (word_.exchange(free, std::memory_order_release) == contended) futex::wake(&word_, 1);
    }

private:
    enum : int { free = 0, taken = 1, contended = 2 };
    std::atomic<int> word_{free};
};

}  // namespace clonert
