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
#include "support/futex.hpp"
#include "support/trace.hpp"
#include "thread/attributes.hpp"
#include "thread/lifecycle.hpp"

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

// What the new thread does before the start routine, beyond clonert's own
// attributes: glibc applies these in the new thread too (nptl/pthread_create.c,
// start_thread and create_thread).
struct thread_extras {
    bool has_sigmask = false;
    sigset_t sigmask{};
    bool explicit_sched = false;
    int policy = SCHED_OTHER;
    sched_param param{};
};

// pthread_attr_getaffinity_np fills the set with ones when the attributes
// carry none (nptl/pthread_attr_getaffinity.c): that means "inherit the
// creator's", not "every CPU", which would undo a taskset(1).
bool every_cpu(const cpu_set_t &set) {
    const auto *bytes = reinterpret_cast<const unsigned char *>(&set);
    for (std::size_t i = 0; i < sizeof set; ++i)
        if (bytes[i] != 0xff) return false;
    return true;
}

// Reads glibc's attributes into clonert's. Returns why clonert cannot take
// them, or nullptr.
const char *read_attributes(const pthread_attr_t &attr, clonert::thread_attributes &a, thread_extras &x) {
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
        // RLIMIT_STACK's). glibc takes sizes down to PTHREAD_STACK_MIN (16 KiB
        // on x86_64) and carves its TLS out of them; clonert's floor is
        // higher: such a thread gets the floor, more than it asked for.
        std::size_t size = 0;
        pthread_attr_getstacksize(&attr, &size);
        a.stack_size = size < CLONERT_STACK_MIN ? CLONERT_STACK_MIN : size;
        std::size_t guard = 0;
        pthread_attr_getguardsize(&attr, &guard);
        a.guard_size = guard;
    }

    cpu_set_t cpus;
    // EINVAL: a set with CPUs beyond cpu_set_t's 1024, which clonert cannot carry.
    if (pthread_attr_getaffinity_np(&attr, sizeof cpus, &cpus) != 0) return "a CPU set larger than cpu_set_t";
    if (!every_cpu(cpus)) {
        a.has_affinity = true;
        a.affinity = cpus;
    }

    // 0 if a mask was set, PTHREAD_ATTR_NO_SIGMASK_NP if not (glibc 2.32).
    x.has_sigmask = pthread_attr_getsigmask_np(&attr, &x.sigmask) == 0;

    int inherit = PTHREAD_INHERIT_SCHED;
    pthread_attr_getinheritsched(&attr, &inherit);
    if (inherit == PTHREAD_EXPLICIT_SCHED) {
        x.explicit_sched = true;
        pthread_attr_getschedpolicy(&attr, &x.policy);
        pthread_attr_getschedparam(&attr, &x.param);
    }
    return nullptr;
}

// --- The thread ---------------------------------------------------------------------

// The new thread's answer to "did the scheduling policy take?", on its
// creator's stack, where the creator waits for it (a futex word).
struct sched_report {
    clonert::futex::one_shot_gate done;
    int error = 0;
};

// What the thread runs, constructed in its own memory (lifecycle.hpp).
struct start_request {
    void *(*routine)(void *);
    void *arg;
    clonert_thread *thread;
    thread_extras extras;
    sched_report *report;  // set when extras.explicit_sched
};

// pthread_create's arguments, for construct_request.
struct create_request {
    void *(*routine)(void *);
    void *arg;
    const thread_extras &extras;
    sched_report *report;
    pthread_t *out;
    bool counted = false;  // the thread was counted as starting (stats)
};

void construct_request(void *at, clonert_thread *thread, void *context) {
    auto *c = static_cast<create_request *>(context);
    ::new (at) start_request{c->routine, c->arg, thread, c->extras, c->report};
    // Before the thread starts, as glibc's does (nptl/pthread_create.c):
    // a program may hand the new thread &its_handle and read it there at once.
    *c->out = clonert::thread_pthread(thread);
    clonert::preload::count_thread_starting();
    c->counted = true;
}

void post_report(sched_report *report, int error) {
    report->error = error;
    // The creator may have seen the gate open and returned already: a wake on
    // a futex word nobody waits on is harmless (futex(2)).
    report->done.open();
}

void run_request(void *payload) {
    auto *r = static_cast<start_request *>(payload);
    // Runs as the routine returns and as pthread_exit or cancellation unwinds
    // through this frame (forced unwinding runs C++ cleanups: nptl/unwind.c).
    struct counted_end {
        ~counted_end() { clonert::preload::count_thread_ended(); }
    } end;
    // glibc sets the mask in the new thread, before the routine (start_thread).
    if (r->extras.has_sigmask) pthread_sigmask(SIG_SETMASK, &r->extras.sigmask, nullptr);
    if (r->extras.explicit_sched) {
        // glibc has the creator call sched_setscheduler on the stopped thread
        // and returns its error from pthread_create (create_thread). Here the
        // thread sets its own, through glibc, so that pthread_getschedparam
        // reports it as for a glibc thread, and tells its creator; it runs
        // the routine only if that worked.
        const int err = pthread_setschedparam(pthread_self(), r->extras.policy, &r->extras.param);
        post_report(r->report, err);
        if (err != 0) return;
    }
    clonert::set_thread_result(r->thread, r->routine(r->arg));
}

// Trivially destructible: nothing to destroy.
static_assert(std::is_trivially_destructible_v<start_request>);
constexpr clonert::detail::thread_payload request_payload{sizeof(start_request), alignof(start_request),
                                                          construct_request, run_request, nullptr};

void wait_for_report(sched_report &report) { report.done.wait(); }

// Makes the clonert thread; 0 or pthread_create's error number.
int create_clonert_thread(pthread_t *thread, const clonert::thread_attributes &a, const thread_extras &x,
                          void *(*routine)(void *), void *arg) {
    sched_report report;
    create_request request{routine, arg, x, x.explicit_sched ? &report : nullptr, thread};
    clonert_thread *t;
    try {
        t = clonert::create_thread(a, request_payload, &request);
    } catch (...) {
        if (request.counted) clonert::preload::count_thread_not_started();
        throw;
    }
    if (x.explicit_sched) {
        wait_for_report(report);
        if (report.error != 0) {
            // It has returned without running the routine; a detached one
            // gives back its own memory.
            if (!a.detached) clonert::join_thread(t, nullptr);
            return report.error;
        }
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
    thread_extras x;
    const char *cannot;
    if (attr != nullptr) {
        cannot = read_attributes(*attr, a, x);
    } else {
        // No attributes: glibc's defaults, which pthread_setattr_default_np may have changed.
        pthread_attr_t defaults;
        if (pthread_getattr_default_np(&defaults) != 0)
            return pass_to_glibc(thread, attr, routine, arg, "no memory to read the default attributes");
        cannot = read_attributes(defaults, a, x);
        pthread_attr_destroy(&defaults);
    }
    if (cannot != nullptr) return pass_to_glibc(thread, attr, routine, arg, cannot);
    try {
        return create_clonert_thread(thread, a, x, routine, arg);
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
