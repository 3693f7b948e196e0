// Locks that fork(2) cannot leave held in the child.
//
// fork copies only the calling thread. If another thread held a lock at that
// moment, the child's copy stays locked forever, and the child's first thread
// creation hangs on it. hold_across_fork<lock>() registers pthread_atfork
// handlers that take the lock before the fork and release it in both
// processes; `in_child`, if given, runs in the child first, on its only
// thread and with the lock still held, to drop state that describes threads
// the child does not have.
#pragma once

#include <pthread.h>


namespace clonert {

// Call once, at namespace scope, after the lock is constructed (any lock with
// lock() and unlock(): spin_lock, sleeping_lock):
//   sleeping_lock guard;
//   const int guard_forks = hold_across_fork<guard>();
template <auto &lock, void (*in_child)() = nullptr>
int hold_across_fork() noexcept {
    return pthread_atfork([] { lock.lock(); }, [] { lock.unlock(); },
                          [] {
                              if constexpr (in_child != nullptr) in_child();
                              lock.unlock();
                          });
}

}  // namespace clonert
