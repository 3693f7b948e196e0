// pthread_join, pthread_tryjoin_np, pthread_timedjoin_np, pthread_clockjoin_np
// and pthread_detach on a clonert thread's pthread_t.
//
// glibc's would wait on the thread and then give its memory to glibc's own
// stack cache (nptl/pthread_join_common.c, nptl/nptl-stack.c): clonert's
// mapping, corrupted. clonert interposes them: for a clonert thread each does
// what clonert_join or clonert_detach does; for any other it is glibc's.
// (The other pthread functions that take a thread -- pthread_kill,
// pthread_cancel, pthread_setaffinity_np, pthread_getattr_np, ... -- work on
// a clonert thread's struct pthread as glibc has it: nothing to take over.)

#include <cerrno>
#include <ctime>
#include <dlfcn.h>
#include <pthread.h>

#include "thread/by_pthread.hpp"
#include "thread/lifecycle.hpp"

namespace {

template <class Fn>
Fn glibc_function(const char *name) {
    return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

// pthread_join and its timed forms are cancellation points; for a clonert
// thread, join_thread_until waits as one (by_pthread.hpp). Not noexcept:
// cancellation unwinds through them.
int pthread_join(pthread_t thread, void **retval) {
    if (clonert_thread *t = clonert::thread_of_pthread(thread))
        return clonert::join_thread_until(t, retval, CLOCK_REALTIME, nullptr);
    static const auto real = glibc_function<int (*)(pthread_t, void **)>("pthread_join");
    return real(thread, retval);
}

int pthread_tryjoin_np(pthread_t thread, void **retval) noexcept {
    if (clonert_thread *t = clonert::thread_of_pthread(thread)) return clonert::try_join_thread(t, retval);
    static const auto real = glibc_function<int (*)(pthread_t, void **)>("pthread_tryjoin_np");
    return real(thread, retval);
}

int pthread_timedjoin_np(pthread_t thread, void **retval, const struct timespec *abstime) {
    if (clonert_thread *t = clonert::thread_of_pthread(thread))
        return clonert::join_thread_until(t, retval, CLOCK_REALTIME, abstime);  // null: no deadline, as glibc
    static const auto real =
        glibc_function<int (*)(pthread_t, void **, const struct timespec *)>("pthread_timedjoin_np");
    return real(thread, retval, abstime);
}

int pthread_clockjoin_np(pthread_t thread, void **retval, clockid_t clock,
                         const struct timespec *abstime) {
    if (clonert_thread *t = clonert::thread_of_pthread(thread))
        return clonert::join_thread_until(t, retval, clock, abstime);
    static const auto real = glibc_function<int (*)(pthread_t, void **, clockid_t, const struct timespec *)>(
        "pthread_clockjoin_np");
    return real(thread, retval, clock, abstime);
}

int pthread_detach(pthread_t thread) noexcept {
    if (clonert_thread *t = clonert::thread_of_pthread(thread)) return clonert::detach_thread(t);
    static const auto real = glibc_function<int (*)(pthread_t)>("pthread_detach");
    return real(thread);
}

}  // extern "C"
