// A thread's life, from memory to exit: reserve, start, join or detach.
//
// Two implementations share this interface: lifecycle_raw.cpp (threads from
// clonert's own clone stubs) and lifecycle_pthread.cpp (pthread_create, for
// builds where raw threads cannot run, such as ThreadSanitizer). The public
// faces (api/) sit on it; nothing here knows of them.
#pragma once

#include <cstddef>
#include <pthread.h>
#include <sys/types.h>

#include "clonert/clonert.h"
#include "thread/attributes.hpp"

namespace clonert {

// Step 1: memory for a thread, its record, and `payload_size` bytes for the
// caller to construct what the thread will run. `attributes` are resolved
// (attributes.hpp); they are checked here. Throws std::system_error.
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
// The thread's own glibc struct pthread, as a pthread_t: glibc's functions
// that take a thread work on it (pthread_kill, pthread_setaffinity_np, ...).
// Valid from start_thread until the thread is joined, or, detached, ends.
pthread_t thread_pthread(const clonert_thread *thread) noexcept;
pid_t current_tid() noexcept;
// The record of the clonert thread whose pthread_t is `thread` (from
// thread_pthread), or nullptr for a thread clonert did not make. Valid while
// that pthread_t is: until the thread is joined, or, detached, ends.
clonert_thread *thread_of_pthread(pthread_t thread) noexcept;

// The cache of exited threads' memory: its limit in bytes (0 turns it off).
std::size_t set_cache_limit(std::size_t bytes) noexcept;

// "raw" or "pthread".
extern const char *const backend_name;

// nullptr if this backend can make threads here, else why it refuses.
const char *refusal_reason() noexcept;

}  // namespace clonert
