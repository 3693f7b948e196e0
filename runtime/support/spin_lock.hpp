// A lock for critical sections of a few loads and stores and nothing else:
// no system call, no allocation, no wait (the stack cache's table). Cheaper
// than a mutex when uncontended, and it yields rather than spins for long.
// A section that may wait or allocate takes a sleeping_lock instead.
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
