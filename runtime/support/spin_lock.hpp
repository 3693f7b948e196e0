// A lock for critical sections of a few loads and stores (the stack cache,
// the list of live threads), taken on every thread's creation and end. Cheaper
// than a mutex when uncontended, and it yields rather than spins for long.
// No signal handler may take it.
#pragma once

#include <atomic>
#include <sched.h>

namespace clonert {

class spin_lock {
public:
    void lock() noexcept {
        while (busy_.exchange(true, std::memory_order_acquire))
            while (busy_.load(std::memory_order_relaxed)) sched_yield();
    }
    void unlock() noexcept { busy_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> busy_{false};
};

}  // namespace clonert
