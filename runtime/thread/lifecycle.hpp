// A thread's life, from memory to exit: create (reserve, construct, start),
// then join or detach.
//
// Two implementations share this interface: lifecycle_raw.cpp (threads from
// clonert's own clone stubs) and lifecycle_pthread.cpp (pthread_create, for
// builds where raw threads cannot run, such as ThreadSanitizer). The public
// faces (api/) sit on it; nothing here knows of them.
#pragma once

#include <cstddef>
#include <pthread.h>
#include <sys/types.h>

#include "clonert/bits/thread_payload.hpp"
#include "clonert/clonert.h"
#include "thread/attributes.hpp"

namespace clonert {

// Creates a thread: reserves its memory and lays out its TLS, has
// payload.construct(at, record, context) build what it will run in its own
// memory, and starts it running payload.run(payload). The one create path of
// every face (api/c_api.cpp, api/thread.cpp for clonert::thread and jthread,
// preload/pthread_create.cpp). `attributes` are resolved (attributes.hpp) and
// checked here. On any failure nothing is left behind -- no mapping, no
// thread, no record -- and std::system_error is thrown (or what construct
// threw). Returns the new thread's record; for a detached thread it may
// already be gone.
clonert_thread *create_thread(const thread_attributes &attributes, const detail::thread_payload &payload,
                              void *context);

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
// Valid from create_thread until the thread is joined, or, detached, ends.
pthread_t thread_pthread(const clonert_thread *thread) noexcept;
pid_t current_tid() noexcept;
// The record of the clonert thread whose pthread_t is `thread` (from
// thread_pthread), or nullptr for a thread clonert did not make. Valid while
// that pthread_t is: until the thread is joined, or, detached, ends.
clonert_thread *thread_of_pthread(pthread_t thread) noexcept;

// The cache of exited threads' memory: its limit in bytes (0 turns it off),
// and how long a burst's memory may stay in it (clonert.h).
std::size_t set_cache_limit(std::size_t bytes) noexcept;
unsigned set_cache_linger(unsigned milliseconds) noexcept;

// "raw" or "pthread".
extern const char *const backend_name;

// nullptr if this backend can make threads here, else why it refuses.
const char *refusal_reason() noexcept;

}  // namespace clonert
