// The C API (clonert/clonert.h) on top of the lifecycle: pthread's shapes and
// error numbers.

#include "clonert/clonert.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <system_error>
#include <type_traits>

#include "support/errors.hpp"
#include "thread/attributes.hpp"
#include "thread/lifecycle.hpp"
#include "thread/routine_thread.hpp"

namespace {

using clonert::thread_attributes;

// What a clonert_attr_t holds. clonert.h shows only its size and alignment,
// so that the fields can change without a caller's code changing; these
// asserts keep the fields inside what callers allocate.
struct attr_state {
    // attr_alive from clonert_attr_init until clonert_attr_destroy: an attr
    // never initialised, or used after destroy, gets EINVAL rather than
    // whatever its bytes happen to say.
    std::uint64_t alive;
    // The concrete values clonert_create passes down, pthread's defaults
    // filled in from the start: the checks are made once, in create_thread.
    thread_attributes values;
};
static_assert(sizeof(attr_state) <= sizeof(clonert_attr_t), "clonert_attr_t is too small");
static_assert(alignof(attr_state) <= alignof(clonert_attr_t), "clonert_attr_t is not aligned enough");
static_assert(std::is_trivially_copyable_v<attr_state>, "attr_state is copied as bytes");

constexpr std::uint64_t attr_alive = 0x636c6f6e65727461;  // "clonerta"

// The state is copied in and out with memcpy rather than reached through a
// cast pointer: the caller's bytes were allocated as a clonert_attr_t (and
// may have been copied as one), never made an attr_state object, so a cast
// would read them through the wrong type.
bool load(const clonert_attr_t *attr, attr_state &state) {
    if (attr == nullptr) return false;
    // (void *: attr_state is trivially copyable, as asserted above, though
    // not trivial: thread_attributes' members have default initialisers.)
    std::memcpy(static_cast<void *>(&state), attr, sizeof state);
    return state.alive == attr_alive;
}

void store(clonert_attr_t *attr, const attr_state &state) { std::memcpy(attr, &state, sizeof state); }

// Every setter: EINVAL for a dead attr; otherwise `change` checks the value
// and returns 0 (and the change is stored) or an error (and nothing is).
template <class Change>
int change_attr(clonert_attr_t *attr, Change change) {
    attr_state state;
    if (!load(attr, state)) return EINVAL;
    const int err = change(state.values);
    if (err == 0) store(attr, state);
    return err;
}

// Every getter: EINVAL for a dead attr or a null output.
template <class Read>
int read_attr(const clonert_attr_t *attr, const void *out, Read read_values) {
    attr_state state;
    if (!load(attr, state) || out == nullptr) return EINVAL;
    return read_values(state.values);
}

thread_attributes to_attributes(const clonert_attr_t *attr) {
    if (attr == nullptr) return clonert::default_attributes();
    attr_state state;
    if (!load(attr, state)) clonert::fail(EINVAL, "an attr not initialised by clonert_attr_init, or destroyed");
    return state.values;
}

}  // namespace

extern "C" {

int clonert_attr_init(clonert_attr_t *attr) {
    if (attr == nullptr) return EINVAL;
    // pthread's defaults, as pthread_attr_get* report them: the real default
    // stack size (not a marker), one page of guard, joinable, no affinity.
    attr_state state{attr_alive, clonert::default_attributes()};
    CPU_ZERO(&state.values.affinity);  // unused until set, but no stray bytes
    std::memset(attr, 0, sizeof *attr);
    store(attr, state);
    return 0;
}

int clonert_attr_destroy(clonert_attr_t *attr) {
    attr_state state;
    if (!load(attr, state)) return EINVAL;
    // Dead from now on: a later use is EINVAL until clonert_attr_init.
    std::memset(attr, 0, sizeof *attr);
    return 0;
}

int clonert_attr_setstacksize(clonert_attr_t *attr, size_t stack_size) {
    return change_attr(attr, [&](thread_attributes &a) {
        if (!clonert::stack_size_acceptable(stack_size)) return EINVAL;
        a.stack_size = stack_size;
        return 0;
    });
}

int clonert_attr_getstacksize(const clonert_attr_t *attr, size_t *stack_size) {
    return read_attr(attr, stack_size, [&](const thread_attributes &a) {
        *stack_size = a.stack_size;
        return 0;
    });
}

int clonert_attr_setguardsize(clonert_attr_t *attr, size_t guard_size) {
    return change_attr(attr, [&](thread_attributes &a) {
        a.guard_size = guard_size;  // any size, as pthread_attr_setguardsize
        return 0;
    });
}

int clonert_attr_getguardsize(const clonert_attr_t *attr, size_t *guard_size) {
    return read_attr(attr, guard_size, [&](const thread_attributes &a) {
        *guard_size = a.guard_size;
        return 0;
    });
}

int clonert_attr_setstack(clonert_attr_t *attr, void *stack_addr, size_t stack_size) {
    return change_attr(attr, [&](thread_attributes &a) {
        if (stack_addr == nullptr || !clonert::stack_size_acceptable(stack_size) ||
            reinterpret_cast<uintptr_t>(stack_addr) % 16 != 0)
            return EINVAL;
        a.stack = stack_addr;
        a.stack_length = stack_size;
        return 0;
    });
}

int clonert_attr_getstack(const clonert_attr_t *attr, void **stack_addr, size_t *stack_size) {
    if (stack_size == nullptr) return EINVAL;
    return read_attr(attr, stack_addr, [&](const thread_attributes &a) {
        *stack_addr = a.stack;
        *stack_size = a.stack_length;
        return 0;
    });
}

int clonert_attr_setdetachstate(clonert_attr_t *attr, int detach_state) {
    return change_attr(attr, [&](thread_attributes &a) {
        if (detach_state != CLONERT_CREATE_JOINABLE && detach_state != CLONERT_CREATE_DETACHED)
            return EINVAL;
        a.detached = detach_state == CLONERT_CREATE_DETACHED;
        return 0;
    });
}

int clonert_attr_getdetachstate(const clonert_attr_t *attr, int *detach_state) {
    return read_attr(attr, detach_state, [&](const thread_attributes &a) {
        *detach_state = a.detached ? CLONERT_CREATE_DETACHED : CLONERT_CREATE_JOINABLE;
        return 0;
    });
}

int clonert_attr_setname(clonert_attr_t *attr, const char *name) {
    if (name == nullptr) return EINVAL;
    return change_attr(attr, [&](thread_attributes &a) {
        const size_t n = std::strlen(name);
        if (n >= sizeof a.name) return ERANGE;  // as pthread_setname_np
        std::memcpy(a.name, name, n + 1);
        return 0;
    });
}

int clonert_attr_getname(const clonert_attr_t *attr, char *name, size_t len) {
    return read_attr(attr, name, [&](const thread_attributes &a) {
        const size_t n = strnlen(a.name, sizeof a.name);
        if (len <= n) return ERANGE;  // as pthread_getname_np: no room for the NUL
        std::memcpy(name, a.name, n);
        name[n] = '\0';
        return 0;
    });
}

int clonert_attr_setaffinity(clonert_attr_t *attr, size_t cpusetsize, const cpu_set_t *cpuset) {
    if (cpuset == nullptr || cpusetsize == 0 || cpusetsize > sizeof(cpu_set_t)) return EINVAL;
    return change_attr(attr, [&](thread_attributes &a) {
        if (CPU_COUNT_S(cpusetsize, cpuset) == 0) return EINVAL;
        CPU_ZERO(&a.affinity);
        std::memcpy(&a.affinity, cpuset, cpusetsize);
        a.has_affinity = true;
        return 0;
    });
}

int clonert_attr_getaffinity(const clonert_attr_t *attr, size_t cpusetsize, cpu_set_t *cpuset) {
    return read_attr(attr, cpuset, [&](const thread_attributes &a) {
        auto *out = reinterpret_cast<unsigned char *>(cpuset);
        if (!a.has_affinity) {
            // pthread_attr_getaffinity_np's answer when no set was given:
            // every CPU (the thread will have its creator's affinity).
            std::memset(out, 0xff, cpusetsize);
            return 0;
        }
        const auto *set = reinterpret_cast<const unsigned char *>(&a.affinity);
        // A CPU the caller's smaller set cannot show is an error, not dropped.
        for (size_t i = cpusetsize; i < sizeof a.affinity; ++i)
            if (set[i] != 0) return EINVAL;
        const size_t shown = std::min(cpusetsize, sizeof a.affinity);
        std::memcpy(out, set, shown);
        std::memset(out + shown, 0, cpusetsize - shown);
        return 0;
    });
}

int clonert_create(clonert_t *thread, const clonert_attr_t *attr, void *(*start_routine)(void *),
                   void *arg) {
    if (thread == nullptr || start_routine == nullptr) return EINVAL;
    try {
        clonert::create_routine_thread(to_attributes(attr), {.routine = start_routine, .arg = arg, .record_out = thread});
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

unsigned clonert_set_stack_cache_linger(unsigned milliseconds) { return clonert::set_cache_linger(milliseconds); }

const char *clonert_refusal(void) { return clonert::refusal_reason(); }

const char *clonert_backend(void) { return clonert::backend_name; }

}  // extern "C"
