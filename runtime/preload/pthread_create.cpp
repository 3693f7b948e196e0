// pthread_create for LD_PRELOAD=libclonert-preload.so: each call that reaches
// it through the dynamic linker makes a clonert thread (docs/preload.md).
//
// The library holds the whole runtime (runtime/preload/meson.build says why),
// so its pthread_join, pthread_detach, dlopen, setuid ... come before libc's
// too, and the pthread_t returned here -- the thread's own struct pthread, as
// glibc's pthread_create returns -- works with every pthread function.
//
// glibc's attributes are read with glibc's own getters and honoured: detach
// state, stack size, guard size, a caller's stack, CPU set, signal mask, and
// an explicit scheduling policy and priority. A request clonert cannot meet
// (it refuses with EINVAL what glibc may accept: a guard larger than the
// stack, a caller's stack too small or unaligned for its layout, a CPU set
// larger than cpu_set_t) goes to glibc's pthread_create, and so does every
// call when the runtime refuses this glibc: a program never fails because
// this library was preloaded.

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <dlfcn.h>
#include <new>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>

#include "clonert/clonert.h"
#include "preload/stats.hpp"
#include "support/errno_kept.hpp"
#include "support/trace.hpp"
#include "thread/attributes.hpp"
#include "thread/lifecycle.hpp"
#include "thread/routine_thread.hpp"

namespace {

using create_function = int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

// The next pthread_create in the lookup scope: libc's (dlsym(3), RTLD_NEXT).
create_function glibc_pthread_create() noexcept {
    static const auto real = reinterpret_cast<create_function>(dlsym(RTLD_NEXT, "pthread_create"));
    return real;
}

int pass_to_glibc(pthread_t *thread, const pthread_attr_t *attr, void *(*routine)(void *), void *arg,
                  const char *why) {
    CLONERT_TRACE("preload: pthread_create passed to glibc: %s", why);
    clonert::preload::count_passed_to_glibc();
    return glibc_pthread_create()(thread, attr, routine, arg);
}

// Why the runtime will make no thread in this process, or nullptr. Asked
// once: the first call learns glibc's layout (glibc/layout.cpp), which makes
// one pthread of glibc's to look at (see __wrap_pthread_create below).
const char *refusal() noexcept {
    static const char *const why = [] {
#ifdef CLONERT_PRELOAD_TEST_REFUSAL
        // tests/preload builds a second copy of this library that acts as on
        // a glibc the runtime refuses, to show that every call then passes.
        const char *reason = CLONERT_PRELOAD_TEST_REFUSAL;
#else
        const char *reason = clonert::refusal_reason();
#endif
        if (reason != nullptr) {
            clonert::trace::say("preload: every pthread_create in this process goes to glibc: %s", reason);
            clonert::preload::note_refusal(reason);
        }
        return reason;
    }();
    return why;
}

// --- glibc's attributes, as clonert's --------------------------------------------

// pthread_attr_getaffinity_np fills the set with ones when the attributes
// carry none (nptl/pthread_attr_getaffinity.c): that means "inherit the
// creator's", not "every CPU", which would undo a taskset(1).
bool every_cpu(const cpu_set_t &set) {
    const auto *bytes = reinterpret_cast<const unsigned char *>(&set);
    for (std::size_t i = 0; i < sizeof set; ++i)
        if (bytes[i] != 0xff) return false;
    return true;
}

// Reads glibc's attributes into clonert's, each with glibc's own getter.
// Returns why clonert cannot take them, or nullptr.
const char *read_attributes(const pthread_attr_t &attr, clonert::thread_attributes &a) {
    int detach = PTHREAD_CREATE_JOINABLE;
    pthread_attr_getdetachstate(&attr, &detach);
    a.detached = detach == PTHREAD_CREATE_DETACHED;

    // pthread_attr_getstack reports the stack's top minus its size, and 0 as
    // the top when no stack was given (nptl/pthread_attr_getstack.c): so the
    // two add up to 0 exactly when there is none. (pthread_attr_getstackaddr,
    // which says it directly, is deprecated.)
    void *low = nullptr;
    std::size_t length = 0;
    pthread_attr_getstack(&attr, &low, &length);
    if (reinterpret_cast<std::uintptr_t>(low) + length != 0) {
        a.stack = low;
        a.stack_length = length;
    } else {
        // Unset, this is glibc's default (pthread_setattr_default_np's, or
        // RLIMIT_STACK's). Meant as glibc means it: the thread's whole memory,
        // its TLS carved from it (thread/attributes.hpp).
        pthread_attr_getstacksize(&attr, &a.stack_size);
        pthread_attr_getguardsize(&attr, &a.guard_size);
    }

    cpu_set_t cpus;
    // EINVAL: a set with CPUs beyond cpu_set_t's 1024, which clonert cannot carry.
    if (pthread_attr_getaffinity_np(&attr, sizeof cpus, &cpus) != 0) return "a CPU set larger than cpu_set_t";
    if (!every_cpu(cpus)) {
        a.has_affinity = true;
        a.affinity = cpus;
    }

    // 0 if a mask was set, PTHREAD_ATTR_NO_SIGMASK_NP if not (glibc 2.32).
    sigset_t mask;
    if (pthread_attr_getsigmask_np(&attr, &mask) == 0) {
        a.has_sigmask = true;
        a.sigmask = clonert::signal_bits(mask);
    }

    int inherit = PTHREAD_INHERIT_SCHED;
    pthread_attr_getinheritsched(&attr, &inherit);
    if (inherit == PTHREAD_EXPLICIT_SCHED) {
        a.explicit_sched = true;
        pthread_attr_getschedpolicy(&attr, &a.sched_policy);
        pthread_attr_getschedparam(&attr, &a.sched_parameters);
    }
    return nullptr;
}

// Makes the clonert thread; 0, or pthread_create's error number as a
// std::system_error.
int create_clonert_thread(pthread_t *thread, const clonert::thread_attributes &a, void *(*routine)(void *),
                          void *arg) {
    // Counted as alive from here, so that it can never be seen to end
    // before it began.
    clonert::preload::count_thread_starting();
    try {
        clonert::create_routine_thread(a, {.routine = routine,
                                           .arg = arg,
                                           .pthread_out = thread,
                                           .on_end = clonert::preload::count_thread_ended});
    } catch (...) {
        clonert::preload::count_thread_not_started();
        throw;
    }
    clonert::preload::count_thread_made();
    CLONERT_TRACE("preload: pthread_create made a clonert thread (%s, %s %zu bytes)",
                  a.detached ? "detached" : "joinable", a.stack != nullptr ? "caller's stack of" : "stack",
                  a.stack != nullptr ? a.stack_length : a.stack_size);
    return 0;
}

}  // namespace

extern "C" {

int pthread_create(pthread_t *__restrict thread, const pthread_attr_t *__restrict attr,
                   void *(*routine)(void *), void *__restrict arg) noexcept {
    // glibc's pthread_create leaves errno alone when it succeeds; so does
    // this one, whatever the runtime's start-up and checks call on the way.
    const clonert::errno_kept callers_errno;
    if (refusal() != nullptr) return pass_to_glibc(thread, attr, routine, arg, "the runtime refuses this glibc");
    clonert::thread_attributes a = clonert::default_attributes();
    const char *cannot;
    if (attr != nullptr) {
        cannot = read_attributes(*attr, a);
    } else {
        // No attributes: glibc's defaults, which pthread_setattr_default_np may have changed.
        pthread_attr_t defaults;
        if (pthread_getattr_default_np(&defaults) != 0)
            return pass_to_glibc(thread, attr, routine, arg, "no memory to read the default attributes");
        cannot = read_attributes(defaults, a);
        pthread_attr_destroy(&defaults);
    }
    if (cannot != nullptr) return pass_to_glibc(thread, attr, routine, arg, cannot);
    try {
        return create_clonert_thread(thread, a, routine, arg);
    } catch (const std::system_error &e) {
        const int err = e.code().value();
        // clonert's checks refuse some attributes glibc takes: glibc decides.
        if (err == EINVAL) return pass_to_glibc(thread, attr, routine, arg, e.what());
        CLONERT_TRACE("preload: pthread_create fails: %s", e.what());
        return err;
    } catch (const std::bad_alloc &) {
        return EAGAIN;
    }
}

// The runtime's own pthread_create calls: glibc/layout.cpp makes one pthread
// to learn glibc's layout from. This library is linked with
// -Wl,--wrap=pthread_create (ld(1)), which sends every call that the
// runtime's objects make to pthread_create here -- calls from the program
// and other libraries still go to pthread_create above. Without it the
// runtime's call would come back to pthread_create above, which needs the
// layout that call is learning.
__attribute__((visibility("hidden"))) int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                                                void *(*routine)(void *), void *arg) {
    return glibc_pthread_create()(thread, attr, routine, arg);
}

}  // extern "C"
