// clonert/bits/thread_payload.hpp: not an API. How each face of clonert (the
// C API, clonert::thread and jthread, the preload library's pthread_create)
// describes to the library's one create path what its new thread runs. Shared
// by clonert/thread.hpp and the library; it may change with any release.
#pragma once

#include <cstddef>

struct clonert_thread;

namespace clonert::detail {

// The payload is constructed in the new thread's own memory, just below its
// record, by the creating thread, before the thread starts.
struct thread_payload {
    std::size_t size;
    std::size_t align;
    // In the creator, before the thread starts: constructs the payload at
    // `at` from `context` (the face's own arguments). `thread` is the new
    // thread's record, for a face that must publish its handle before the
    // thread runs (a detached thread may be gone by the time create returns).
    // May throw: the thread is then given back, never started.
    void (*construct)(void *at, clonert_thread *thread, void *context);
    // In the new thread: the face's work, then the payload's destruction.
    void (*run)(void *payload);
    // In the creator, if the thread could not be started after construct:
    // destroys the payload. Null when there is nothing to destroy.
    void (*destroy)(void *payload) noexcept;
};

}  // namespace clonert::detail
