// The C API (clonert/clonert.h) on top of the lifecycle: pthread's shapes and
// error numbers.

#include "clonert/clonert.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <system_error>
#include <type_traits>

#include "thread/attributes.hpp"
#include "thread/lifecycle.hpp"

namespace {

using clonert::thread_attributes;

// What a clonert_create thread runs: the routine, its argument, and where its
// return value goes (its own record).
struct c_start {
    void *(*routine)(void *);
    void *arg;
    clonert_thread *thread;
};

// clonert_create's arguments, for construct_c_start.
struct c_request {
    void *(*routine)(void *);
    void *arg;
    clonert_t *out;
};

void construct_c_start(void *at, clonert_thread *thread, void *context) {
    const auto *r = static_cast<const c_request *>(context);
    ::new (at) c_start{r->routine, r->arg, thread};
    *r->out = thread;  // before the start: a detached thread may be gone at once
}

void run_c_start(void *payload) {
    const auto *s = static_cast<const c_start *>(payload);
    clonert::set_thread_result(s->thread, s->routine(s->arg));
}

// Trivially destructible: nothing to destroy.
static_assert(std::is_trivially_destructible_v<c_start>);
constexpr clonert::detail::thread_payload c_start_payload{sizeof(c_start), alignof(c_start), construct_c_start,
                                                          run_c_start, nullptr};

// clonert_attr_t holds concrete values from clonert_attr_init on, so this is
// a copy; the checks are made once, in reserve_thread.
thread_attributes to_attributes(const clonert_attr_t *attr) {
    thread_attributes a = clonert::default_attributes();
    if (attr == nullptr) return a;
    a.stack_size = attr->stack_size;
    a.guard_size = attr->guard_size;
    a.stack = attr->stack_addr;
    a.stack_length = attr->stack_addr_size;
    a.detached = attr->detach_state == CLONERT_CREATE_DETACHED;
    std::memcpy(a.name, attr->name, sizeof a.name);
    a.has_affinity = attr->has_affinity != 0;
    if (a.has_affinity) a.affinity = attr->affinity;
    return a;
}

}  // namespace

extern "C" {

int clonert_attr_init(clonert_attr_t *attr) {
    if (attr == nullptr) return EINVAL;
    // pthread's defaults, as pthread_attr_getstacksize and _getguardsize
    // report them: the real default stack size and one page of guard.
    const thread_attributes defaults = clonert::default_attributes();
    std::memset(attr, 0, sizeof *attr);
    attr->stack_size = defaults.stack_size;
    attr->guard_size = defaults.guard_size;
    return 0;
}

int clonert_attr_destroy(clonert_attr_t *attr) { return attr == nullptr ? EINVAL : 0; }

int clonert_attr_setstacksize(clonert_attr_t *attr, size_t stack_size) {
    if (attr == nullptr || stack_size < CLONERT_STACK_MIN) return EINVAL;
    attr->stack_size = stack_size;
    return 0;
}

int clonert_attr_getstacksize(const clonert_attr_t *attr, size_t *stack_size) {
    if (attr == nullptr || stack_size == nullptr) return EINVAL;
    *stack_size = attr->stack_size;
    return 0;
}

int clonert_attr_setguardsize(clonert_attr_t *attr, size_t guard_size) {
    if (attr == nullptr) return EINVAL;  // any size, as pthread_attr_setguardsize
    attr->guard_size = guard_size;
    return 0;
}

int clonert_attr_getguardsize(const clonert_attr_t *attr, size_t *guard_size) {
    if (attr == nullptr || guard_size == nullptr) return EINVAL;
    *guard_size = attr->guard_size;
    return 0;
}

int clonert_attr_setstack(clonert_attr_t *attr, void *stack_addr, size_t stack_size) {
    if (attr == nullptr || stack_addr == nullptr || stack_size < CLONERT_STACK_MIN ||
        reinterpret_cast<uintptr_t>(stack_addr) % 16 != 0)
        return EINVAL;
    attr->stack_addr = stack_addr;
    attr->stack_addr_size = stack_size;
    return 0;
}

int clonert_attr_setdetachstate(clonert_attr_t *attr, int detach_state) {
    if (attr == nullptr ||
        (detach_state != CLONERT_CREATE_JOINABLE && detach_state != CLONERT_CREATE_DETACHED))
        return EINVAL;
    attr->detach_state = detach_state;
    return 0;
}

int clonert_attr_setname(clonert_attr_t *attr, const char *name) {
    if (attr == nullptr || name == nullptr) return EINVAL;
    const size_t n = std::strlen(name);
    if (n >= sizeof attr->name) return ERANGE;  // as pthread_setname_np
    std::memcpy(attr->name, name, n + 1);
    return 0;
}

int clonert_attr_setaffinity(clonert_attr_t *attr, size_t cpusetsize, const cpu_set_t *cpuset) {
    if (attr == nullptr || cpuset == nullptr || cpusetsize == 0 || cpusetsize > sizeof(cpu_set_t) ||
        CPU_COUNT_S(cpusetsize, cpuset) == 0)
        return EINVAL;
    CPU_ZERO(&attr->affinity);
    std::memcpy(&attr->affinity, cpuset, cpusetsize);
    attr->has_affinity = 1;
    return 0;
}

int clonert_create(clonert_t *thread, const clonert_attr_t *attr, void *(*start_routine)(void *),
                   void *arg) {
    if (thread == nullptr || start_routine == nullptr) return EINVAL;
    try {
        c_request request{start_routine, arg, thread};
        clonert::create_thread(to_attributes(attr), c_start_payload, &request);
        return 0;
    } catch (const std::system_error &e) {
        return e.code().value();
    } catch (const std::bad_alloc &) {
        return EAGAIN;
    }
}

int clonert_join(clonert_t thread, void **retval) {
    if (thread == nullptr) return EINVAL;
    return clonert::join_thread(thread, retval);
}

int clonert_detach(clonert_t thread) {
    if (thread == nullptr) return EINVAL;
    return clonert::detach_thread(thread);
}

clonert_t clonert_self(void) { return clonert::current_thread(); }

int clonert_equal(clonert_t a, clonert_t b) { return a == b; }

pid_t clonert_gettid(clonert_t thread) {
    return thread == nullptr ? 0 : clonert::thread_tid(thread);
}

pthread_t clonert_pthread(clonert_t thread) {
    return thread == nullptr ? 0 : clonert::thread_pthread(thread);
}

size_t clonert_set_stack_cache_size(size_t bytes) { return clonert::set_cache_limit(bytes); }

const char *clonert_refusal(void) { return clonert::refusal_reason(); }

const char *clonert_backend(void) { return clonert::backend_name; }

}  // extern "C"
