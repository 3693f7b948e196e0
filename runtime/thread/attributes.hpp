// A thread's attributes as concrete values: resolved once at the API edge
// (api/c_api.cpp from clonert_attr_t, api/thread.cpp from thread_options),
// checked once here, then passed down unchanged. No field has a marker value
// meaning "the default": the defaults are filled in, as pthread's are.
#pragma once

#include <cstddef>
#include <sched.h>

namespace clonert {

struct thread_attributes {
    std::size_t stack_size;          // bytes of stack below the TLS area
    std::size_t guard_size;          // bytes below the stack that fault on access, as asked
    void *stack = nullptr;           // a caller's stack (lowest address), or null
    std::size_t stack_length = 0;    // its length
    bool detached = false;
    char name[16] = {};              // "" keeps the creator's name, as pthreads do
    bool has_affinity = false;
    cpu_set_t affinity;
};

// pthread's defaults: a stack of RLIMIT_STACK (glibc: nptl/nptl-stack.c,
// __pthread_initialize_minimal), one page of guard, joinable.
thread_attributes default_attributes() noexcept;
std::size_t default_stack_size() noexcept;
std::size_t page_size() noexcept;

// Every check of a request, in one place. `reserved_top` is what the backend
// keeps at the top of the stack (the TLS area, the thread's record); the
// stack must hold it and still leave room to run. Throws
// std::system_error(EINVAL) naming what is wrong.
void check_attributes(const thread_attributes &attributes, std::size_t reserved_top);

// The least stack a thread keeps below its TLS area, record and payload.
inline constexpr std::size_t minimum_usable_stack = 16 * 1024;

}  // namespace clonert
