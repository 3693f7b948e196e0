// The registry of live clonert threads: every thread from just before its
// clone until it ends, so that interpose/credentials.cpp can reach each one
// when the process changes its credentials; the hold on thread creation that
// keeps the list from growing while it does; and what fork(2) does to both.
// Raw backend only: glibc reaches its own pthreads itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <sys/types.h>
#include <vector>

#include "thread/image.hpp"

namespace clonert {

// Embedded in each thread's record (thread/lifecycle_raw.cpp).
struct registry_entry {
    registry_entry *prev = nullptr, *next = nullptr;
    bool in_list = false;           // changed under the registry's lock only
    unsigned fork_generation = 0;   // the registry's generation when listed (registry.cpp)
    std::uint64_t serial = 0;       // unique over the process's life (TIDs are reused)
    std::atomic<bool> starting{false};  // listed, and its clone has not yet run it
    // The thread's image (in the same record): its join word holds the TID
    // while it runs, 0 before and after; its thread pointer.
    const thread_image *image = nullptr;
};

// Lists a thread about to be cloned (waiting first while creation is held:
// the wait still takes signals, so a waiting creator adopts new credentials
// too). Gives it its serial number.
void register_thread(registry_entry *entry);

// The thread itself, first thing: it is running, and it is the calling
// thread's entry (fork keeps only the forking thread's).
void thread_started(registry_entry *entry) noexcept;

// Unlists it; safe to call twice (the thread as it ends, and whoever
// reclaims its memory, in case it left some other way).
void unregister_thread(registry_entry *entry) noexcept;

// A thread clonert has started and that has not ended.
struct live_thread {
    std::uint64_t serial;
    pid_t tid;
};

// Appends the live threads; returns how many more are being started right
// now (their clone has not yet returned).
std::size_t live_threads_now(std::vector<live_thread> &threads);

// Calls visit(tp, context) for every listed thread, with the registry locked
// (visit must not take it, nor allocate).
void for_each_listed_thread(void (*visit)(std::uintptr_t tp, void *context), void *context) noexcept;

// Holds back the start of new threads (creators wait in register_thread,
// still taking signals) until release_thread_creation(), so that a broadcast
// to every live thread has a list that stops growing.
void hold_thread_creation() noexcept;
void release_thread_creation() noexcept;

}  // namespace clonert
