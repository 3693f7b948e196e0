// pthread functions that cannot work on a clonert thread, refused clearly.
//
// Inside a clonert thread pthread_self() is a real struct pthread, so most of
// the pthread API works on it (pthread_kill, pthread_getattr_np,
// pthread_setname_np, pthread_setaffinity_np all go through its TID). A few
// functions would follow glibc's bookkeeping for threads that pthread_create
// made, which clonert threads do not have:
//   pthread_exit    unwinds to a jump buffer that only start_thread sets up
//                   (nptl/pthread_exit.c, unwind.c): a crash
//   pthread_cancel  the target later unwinds the same way: a crash
//   pthread_join,   would wait on the thread and then give its memory to
//   pthread_detach  glibc's stack cache (nptl/nptl-stack.c): corruption
// clonert interposes them. For glibc's own threads each forwards to glibc;
// for a clonert thread it says why on stderr, then pthread_exit aborts and
// the others return an error, where glibc would crash or corrupt memory.

#include <cerrno>
#include <cstdlib>
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include "glibc/layout.hpp"
#include "glibc/thread_block.hpp"
#include "support/trace.hpp"

namespace {

bool is_clonert_thread(pthread_t thread) {
    // Before the layout is worked out no clonert thread exists (and working it
    // out creates and joins a pthread, which comes back here).
    const clonert::glibc::layout *layout = clonert::glibc::layout_if_ready();
    return layout != nullptr && clonert::glibc::made_by_clonert(*layout, thread);
}

void explain(const char *function, const char *instead) {
    clonert::trace::say("%s() on a clonert thread is not supported: %s (see docs/limits.md)",
                        function, instead);
}

template <class Fn>
Fn next(const char *name) {
    return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

// For a clonert thread: say why, return `refusal`. For any other: glibc's `real`.
template <class... Args>
int refuse_or_forward(int (*real)(pthread_t, Args...), const char *name, const char *instead,
                      int refusal, pthread_t thread, Args... args) {
    if (!is_clonert_thread(thread)) return real(thread, args...);
    explain(name, instead);
    return refusal;
}

}  // namespace

extern "C" {

[[noreturn]] void pthread_exit(void *retval) {
    if (is_clonert_thread(pthread_self())) {
        explain("pthread_exit", "return from the thread function instead; aborting");
        std::abort();
    }
    static const auto real = next<void (*)(void *)>("pthread_exit");
    real(retval);
    std::abort();  // glibc's pthread_exit does not return
}

int pthread_cancel(pthread_t thread) noexcept {
    static const auto real = next<int (*)(pthread_t)>("pthread_cancel");
    return refuse_or_forward(real, "pthread_cancel", "use a std::stop_token (clonert::jthread) or a flag",
                             ENOTSUP, thread);
}

int pthread_join(pthread_t thread, void **retval) {
    static const auto real = next<int (*)(pthread_t, void **)>("pthread_join");
    return refuse_or_forward(real, "pthread_join", "join it with clonert_join() or clonert::thread::join()",
                             EINVAL, thread, retval);
}

int pthread_detach(pthread_t thread) noexcept {
    static const auto real = next<int (*)(pthread_t)>("pthread_detach");
    return refuse_or_forward(real, "pthread_detach",
                             "detach it with clonert_detach() or clonert::thread::detach()", EINVAL,
                             thread);
}

}  // extern "C"
