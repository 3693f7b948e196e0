// clonert::thread's non-template part: options in, std::thread's errors out.

#include "clonert/thread.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include "support/errors.hpp"
#include "thread/attributes.hpp"
#include "thread/lifecycle.hpp"

namespace clonert::detail {
namespace {

// With the program's own category (support/errors.cpp says why).
[[noreturn]] void throw_errc(std::errc e, const char *what) {
    throw std::system_error(static_cast<int>(e), callers_generic_category(), what);
}

thread_attributes to_attributes(const thread_options &o) {
    // Options not given take pthread's defaults; the checks are made once,
    // in create_thread.
    thread_attributes a = default_attributes();
    if (o.stack_size) a.stack_size = *o.stack_size;
    if (o.guard_size) a.guard_size = *o.guard_size;
    a.stack = o.stack;
    a.stack_length = o.stack_length;
    if (o.stack != nullptr && o.stack_length == 0)
        throw_errc(std::errc::invalid_argument, "clonert::thread: a stack needs its length");
    if (o.name.size() >= sizeof a.name)
        throw_errc(std::errc::invalid_argument,
                   "clonert::thread: a thread name has at most 15 bytes");
    std::memcpy(a.name, o.name.c_str(), o.name.size() + 1);
    if (!o.cpus.empty()) {
        CPU_ZERO(&a.affinity);
        for (int cpu : o.cpus) {
            if (cpu < 0 || cpu >= CPU_SETSIZE)
                throw_errc(std::errc::invalid_argument, "clonert::thread: no such CPU");
            CPU_SET(cpu, &a.affinity);
        }
        a.has_affinity = true;
    }
    return a;
}

}  // namespace

pthread_t create(const thread_options *options, const thread_payload &payload, void *context) {
    clonert_thread *thread =
        create_thread(options ? to_attributes(*options) : default_attributes(), payload, context);
    return thread_pthread(thread);  // joinable: its record stays until join
}

void join(pthread_t handle) {
    clonert_thread *thread = handle != pthread_t{} ? thread_of_pthread(handle) : nullptr;
    if (thread == nullptr) throw_errc(std::errc::invalid_argument, "clonert::thread::join");
    const int err = join_thread(thread, nullptr);
    if (err == EDEADLK) throw_errc(std::errc::resource_deadlock_would_occur, "clonert::thread::join");
    if (err != 0) throw_errc(std::errc::invalid_argument, "clonert::thread::join");
}

void detach(pthread_t handle) {
    clonert_thread *thread = handle != pthread_t{} ? thread_of_pthread(handle) : nullptr;
    if (thread == nullptr || detach_thread(thread) != 0)
        throw_errc(std::errc::invalid_argument, "clonert::thread::detach");
}

pid_t tid(pthread_t handle) noexcept {
    const clonert_thread *thread = thread_of_pthread(handle);
    return thread != nullptr ? thread_tid(thread) : 0;
}

pid_t this_thread_tid() noexcept { return current_tid(); }

}  // namespace clonert::detail
