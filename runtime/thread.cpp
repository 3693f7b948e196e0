// clonert::thread's non-template part: options in, std::thread's errors out.

#include "clonert/thread.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include "lifecycle.hpp"

namespace clonert::detail {
namespace {

[[noreturn]] void throw_errc(std::errc e, const char *what) {
    throw std::system_error(std::make_error_code(e), what);
}

thread_attributes to_attributes(const thread_options &o) {
    thread_attributes a;
    // 0 and SIZE_MAX are the lower layer's "default" markers: a caller who
    // set them asked for something impossible, not for the default.
    if (o.stack_size && *o.stack_size == 0)
        throw_errc(std::errc::invalid_argument, "clonert::thread: a stack_size of 0 has no room for a stack");
    if (o.guard_size && *o.guard_size == thread_attributes::default_guard)
        throw_errc(std::errc::invalid_argument, "clonert::thread: a guard_size of SIZE_MAX is larger than any stack");
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

clonert_thread *reserve(const thread_options *options, std::size_t payload_size,
                        std::size_t payload_align) {
    return reserve_thread(options ? to_attributes(*options) : thread_attributes{}, payload_size,
                          payload_align);
}

void *payload(clonert_thread *thread) noexcept { return payload_of(thread); }

void start(clonert_thread *thread, void (*run)(void *), void (*destroy)(void *)) {
    start_thread(thread, run, destroy);
}

void abandon(clonert_thread *thread) noexcept { abandon_thread(thread); }

void join(clonert_thread *thread) {
    if (thread == nullptr) throw_errc(std::errc::invalid_argument, "clonert::thread::join");
    const int err = join_thread(thread, nullptr);
    if (err == EDEADLK) throw_errc(std::errc::resource_deadlock_would_occur, "clonert::thread::join");
    if (err != 0) throw_errc(std::errc::invalid_argument, "clonert::thread::join");
}

void detach(clonert_thread *thread) {
    if (thread == nullptr || detach_thread(thread) != 0)
        throw_errc(std::errc::invalid_argument, "clonert::thread::detach");
}

pid_t tid(const clonert_thread *thread) noexcept { return thread_tid(thread); }

pid_t current_tid() noexcept { return clonert::current_tid(); }

}  // namespace clonert::detail
