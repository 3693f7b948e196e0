// A thread's life, from memory to exit: reserve, start, join or detach.
//
// The record of a thread (struct clonert_thread) lives in the thread's own
// memory, just below its TLS area, followed by the payload: the function and
// arguments the thread will run, constructed there by the caller. So creating
// a thread allocates nothing when its memory comes from the cache.
//
// Two implementations share this interface: lifecycle.cpp (threads from
// clonert's own clone stubs) and lifecycle_pthread.cpp (pthread_create, for
// builds where raw threads cannot run, such as ThreadSanitizer).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <sched.h>
#include <sys/types.h>
#include <vector>

#include "clonert/clonert.h"

namespace clonert {

struct thread_attributes {
    static constexpr std::size_t default_guard = static_cast<std::size_t>(-1);
    std::size_t stack_size = 0;     // 0: the default, RLIMIT_STACK like glibc
    std::size_t guard_size = default_guard;  // bytes of PROT_NONE below the stack
    void *stack = nullptr;          // a caller's stack (lowest address), or null
    std::size_t stack_length = 0;
    bool detached = false;
    char name[16] = {};             // "" keeps the creator's name, as pthreads do
    bool has_affinity = false;
    cpu_set_t affinity;
};

// Throws std::system_error(EINVAL) naming what is wrong with a request that
// cannot work on any backend (thread_attributes.cpp).
void check_attributes(const thread_attributes &attributes);

// Step 1: memory for a thread, its record, and `payload_size` bytes for the
// caller to construct what the thread will run. Throws std::system_error.
clonert_thread *reserve_thread(const thread_attributes &attributes, std::size_t payload_size,
                               std::size_t payload_align);
void *payload_of(clonert_thread *thread) noexcept;

// Step 2: start it. The thread runs run(payload); `run` must also destroy
// the payload. If the thread cannot be started, destroy(payload) is called,
// the memory is given back, and std::system_error is thrown.
void start_thread(clonert_thread *thread, void (*run)(void *), void (*destroy)(void *));

// Gives back a reserved thread that was never started (its payload's
// construction threw).
void abandon_thread(clonert_thread *thread) noexcept;

// Waits for the thread to end and gives back its memory. Returns 0, EDEADLK
// (the thread is the caller), or EINVAL (the thread is detached).
int join_thread(clonert_thread *thread, void **result) noexcept;

// Lets the thread give back its own memory when it ends. Returns 0 or EINVAL.
int detach_thread(clonert_thread *thread) noexcept;

// Where run() leaves the C API's return value.
void set_thread_result(clonert_thread *thread, void *result) noexcept;

// The calling thread's record. For a thread clonert did not create, a
// stand-in that can be compared and asked its TID, but not joined or detached.
clonert_thread *current_thread() noexcept;
pid_t thread_tid(const clonert_thread *thread) noexcept;
pid_t current_tid() noexcept;

// A thread clonert has started and that has not ended. The serial number is
// unique over the process's life; TIDs are reused.
struct live_thread {
    std::uint64_t serial;
    pid_t tid;
};

// Appends the live threads; returns how many more are being started right
// now (their clone has not yet returned). Raw backend only: glibc reaches
// pthreads itself.
std::size_t live_threads_now(std::vector<live_thread> &threads);

// Holds back the start of new threads (creators wait, still taking signals)
// until release_thread_creation(), so that a broadcast to every live thread
// has a list that stops growing. Raw backend only.
void hold_thread_creation() noexcept;
void release_thread_creation() noexcept;

// The cache of exited threads' memory: its limit in bytes (0 turns it off).
std::size_t set_cache_limit(std::size_t bytes) noexcept;

// "raw" or "pthread".
extern const char *const backend_name;

// nullptr if this backend can make threads here, else why it refuses.
const char *refusal_reason() noexcept;

}  // namespace clonert
