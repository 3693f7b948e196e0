// A thread's attributes as concrete values: resolved once at the API edge
// (api/c_api.cpp from clonert_attr_t, api/thread.cpp from thread_options),
// checked once here, then passed down unchanged. No field has a marker value
// meaning "the default": the defaults are filled in, as pthread's are.
#pragma once

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <sched.h>

namespace clonert {

struct thread_attributes {
    // The thread's whole memory but its guard, as pthread_attr_setstacksize
    // means it: the TLS area, the thread's record and its arguments are
    // carved from its top, as glibc carves its TLS and struct pthread
    // (nptl/allocatestack.c).
    std::size_t stack_size;
    std::size_t guard_size;          // bytes below the stack that fault on access, as asked
    void *stack = nullptr;           // a caller's stack (lowest address), or null
    std::size_t stack_length = 0;    // its length
    bool detached = false;
    char name[16] = {};              // "" keeps the creator's name, as pthreads do
    // What the creator applies to the new thread before it lets it run, as
    // glibc's pthread_create does for a thread it starts stopped
    // (nptl/pthread_create.c, create_thread): a CPU set, and a scheduling
    // policy and priority (the preload's PTHREAD_EXPLICIT_SCHED).
    bool has_affinity = false;
    cpu_set_t affinity;
    bool explicit_sched = false;
    int sched_policy = SCHED_OTHER;
    sched_param sched_parameters{};
    // The signal mask the thread starts with (pthread_attr_setsigmask_np),
    // or the creator's: signal n is bit n - 1, as the kernel's 64-signal set
    // (rt_sigprocmask(2)) holds it (signal_bits).
    bool has_sigmask = false;
    std::uint64_t sigmask = 0;
};

// A sigset_t's first 64 signals as the kernel's set, and back.
std::uint64_t signal_bits(const sigset_t &set) noexcept;
sigset_t signal_set(std::uint64_t bits) noexcept;

// pthread's defaults: a stack of RLIMIT_STACK (glibc: nptl/nptl-stack.c,
// __pthread_initialize_minimal), one page of guard, joinable.
thread_attributes default_attributes() noexcept;
std::size_t default_stack_size() noexcept;
std::size_t page_size() noexcept;

// Every check of a request, in one place. `reserved_top` is what the backend
// keeps at the top of the stack (the TLS area, the thread's record and its
// arguments); the stack must hold it and still leave room to run. Throws
// std::system_error(EINVAL) naming what is wrong.
void check_attributes(const thread_attributes &attributes, std::size_t reserved_top);

// Whether a stack of `bytes` is at least CLONERT_STACK_MIN (clonert.h), the
// smallest pthread_attr_setstacksize takes: what the setters of the C API
// accept; check_attributes holds the rest.
bool stack_size_acceptable(std::size_t bytes) noexcept;

// The least stack a thread keeps below what is reserved at its top: glibc's
// MINIMAL_REST_STACK (nptl/allocatestack.c), below which its pthread_create
// refuses a stack with EINVAL.
inline constexpr std::size_t least_rest_of_stack = 4096;

}  // namespace clonert
