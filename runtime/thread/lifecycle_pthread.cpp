// The lifecycle on pthread_create, selected with -Dthread_backend=pthread.
//
// Same interface and semantics as lifecycle_raw.cpp, for builds where threads made
// with raw clone cannot run: ThreadSanitizer intercepts pthread_create to set
// up its per-thread state and crashes in the first instrumented function of a
// thread it did not see created (docs/reliability.md, "Tools").
// The record and the payload share one heap block.

#include "thread/lifecycle.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <pthread.h>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <mutex>
#include <system_error>
#include <unistd.h>
#include <unordered_map>

#include "support/errno_kept.hpp"
#include "support/errors.hpp"
#include "support/futex.hpp"

struct clonert_thread {
    std::atomic<int> state;
    pthread_t handle;
    std::atomic<pid_t> tid;  // published by the thread itself, first thing
    void (*run)(void *);
    void *payload;
    void *result;
    char name[16];
};

namespace clonert {
namespace {

enum : int { joinable = 0, finished = 1, detached = 2 };

thread_local clonert_thread *current = nullptr;

// pthread_t -> record, for joinable threads: clonert::thread keeps only the
// pthread_t (thread_of_pthread). The raw backend computes the record from the
// pthread_t; here the two are apart, so a table it is (this backend is for
// checking tools, not for speed).
std::mutex joinable_lock;
std::unordered_map<pthread_t, clonert_thread *> &joinable_threads() {
    // Never destroyed: threads may outlive main's static destructors.
    static auto *table = new std::unordered_map<pthread_t, clonert_thread *>;
    return *table;
}
// Forgets t's entry, and only t's: once pthread_join has returned, glibc may
// give t's pthread_t (its reused stack) to a thread another creator makes at
// that moment, whose entry must stay (erasing by handle alone made that
// thread's join fail with EINVAL, 1 run in 30 under TSan).
void forget_joinable(pthread_t handle, const clonert_thread *t) {
    const std::lock_guard hold(joinable_lock);
    const auto found = joinable_threads().find(handle);
    if (found != joinable_threads().end() && found->second == t) joinable_threads().erase(found);
}


pid_t gettid_now() { return static_cast<pid_t>(syscall(SYS_gettid)); }

void *thread_entry(void *arg) {
    auto *t = static_cast<clonert_thread *>(arg);
    current = t;
    t->handle = pthread_self();  // before the TID is published: the creator reads both after
    t->tid.store(gettid_now(), std::memory_order_release);
    futex::wake(&t->tid, 1);
    if (t->name[0] != '\0') prctl(PR_SET_NAME, t->name);
    // When the function returns, and also when pthread_exit() or a
    // cancellation unwinds the thread (glibc then keeps the exit value, which
    // join_thread reads back through pthread_join).
    struct end_of_thread {
        clonert_thread *t;
        ~end_of_thread() {
            int expected = joinable;
            if (!t->state.compare_exchange_strong(expected, finished, std::memory_order_acq_rel))
                std::free(t);  // detached: nobody else will
        }
    } end{t};
    t->run(t->payload);
    return t->result;  // read before `end` may free t
}

// pthread_attr_t from our attributes; the caller destroys it.
void make_attr(const thread_attributes &a, pthread_attr_t &attr) {
    pthread_attr_init(&attr);
    int err = 0;
    if (a.stack != nullptr) err = pthread_attr_setstack(&attr, a.stack, a.stack_length);
    else err = pthread_attr_setstacksize(&attr, a.stack_size);
    if (err == 0 && a.stack == nullptr) err = pthread_attr_setguardsize(&attr, a.guard_size);
    if (err == 0 && a.has_affinity)
        err = pthread_attr_setaffinity_np(&attr, sizeof a.affinity, &a.affinity);
    if (err == 0 && a.detached) err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (err == 0 && a.has_sigmask) {
        const sigset_t mask = signal_set(a.sigmask);
        err = pthread_attr_setsigmask_np(&attr, &mask);  // glibc 2.32 and later
    }
    if (err == 0 && a.explicit_sched) {
        err = pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        if (err == 0) err = pthread_attr_setschedpolicy(&attr, a.sched_policy);
        if (err == 0) err = pthread_attr_setschedparam(&attr, &a.sched_parameters);
    }
    if (err != 0) {
        pthread_attr_destroy(&attr);
        fail(err, "pthread backend: bad thread attributes");
    }
}

}  // namespace

clonert_thread *create_thread(const thread_attributes &a, const detail::thread_payload &payload, void *context) {
    const errno_kept callers_errno;
    check_attributes(a, 0);  // glibc finds room for its TLS area itself
    // The record and the payload share one heap block.
    const std::size_t align = std::max(payload.align, alignof(clonert_thread));
    const std::size_t header = (sizeof(clonert_thread) + align - 1) / align * align;
    const std::size_t total = (header + payload.size + align - 1) / align * align;
    void *block = std::aligned_alloc(align, total);
    if (block == nullptr) fail(EAGAIN, "pthread backend: no memory for the thread's record");
    auto *t = ::new (block) clonert_thread;
    t->state.store(a.detached ? detached : joinable, std::memory_order_relaxed);
    t->tid.store(0, std::memory_order_relaxed);
    t->run = payload.run;
    t->result = nullptr;
    t->payload = static_cast<char *>(block) + header;
    std::memcpy(t->name, a.name, sizeof t->name);
    t->name[sizeof t->name - 1] = '\0';
    // The one teardown of a creation that did not start: the payload (if
    // constructed), then the block.
    auto abandon = [&](bool constructed) {
        if (constructed && payload.destroy != nullptr) payload.destroy(t->payload);
        std::free(block);
    };
    try {
        payload.construct(t->payload, t, context);
    } catch (...) {
        abandon(false);
        throw;
    }
    pthread_attr_t attr;
    try {
        make_attr(a, attr);
    } catch (...) {
        abandon(true);
        throw;
    }
    const bool detached_at_start = a.detached;
    pthread_t handle;  // the thread stores it in t->handle itself
    const int err = pthread_create(&handle, &attr, thread_entry, t);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        abandon(true);
        fail(err, std::string("pthread backend: pthread_create failed: ") + std::strerror(err));
    }
    if (!detached_at_start) {
        // get_id() and native_handle() are asked for at once (the thread
        // stores its handle before its TID). struct pthread.tid is no help: the
        // kernel clears it when the thread ends, which may already be the
        // case; so wait for the thread to say its TID (this backend is for
        // checking tools, not for speed).
        futex::wait_while(t->tid, 0);
        const std::lock_guard hold(joinable_lock);
        joinable_threads()[t->handle] = t;
    }
    return t;
}

int join_thread(clonert_thread *t, void **result) noexcept {
    const errno_kept callers_errno;
    const pid_t tid = t->tid.load(std::memory_order_acquire);
    if (t == current || (tid != 0 && tid == gettid_now())) return EDEADLK;
    if (t->state.load(std::memory_order_acquire) == detached) return EINVAL;
    void *value = nullptr;  // the C API's result, pthread_exit's, or PTHREAD_CANCELED
    const int err = pthread_join(t->handle, &value);
    if (err != 0) return err;
    forget_joinable(t->handle, t);
    if (result != nullptr) *result = value;
    std::free(t);
    return 0;
}

int detach_thread(clonert_thread *t) noexcept {
    const errno_kept callers_errno;
    const pthread_t handle = t->handle;
    int expected = joinable;
    if (t->state.load(std::memory_order_acquire) == detached) return EINVAL;
    forget_joinable(handle, t);  // before the thread may free t
    if (t->state.compare_exchange_strong(expected, detached, std::memory_order_acq_rel))
        return pthread_detach(handle);  // the thread frees its record
    if (expected == detached) return EINVAL;
    pthread_join(handle, nullptr);  // already finished: reap it now
    std::free(t);
    return 0;
}

void set_thread_result(clonert_thread *t, void *result) noexcept { t->result = result; }

clonert_thread *current_thread() noexcept {
    if (current != nullptr) return current;
    static thread_local clonert_thread stand_in;
    if (stand_in.tid.load(std::memory_order_relaxed) == 0) {
        stand_in.state.store(detached, std::memory_order_relaxed);
        stand_in.handle = pthread_self();
        stand_in.tid.store(gettid_now(), std::memory_order_relaxed);
    }
    return &stand_in;
}

pid_t thread_tid(const clonert_thread *t) noexcept {
    return t->tid.load(std::memory_order_acquire);
}

pid_t current_tid() noexcept { return gettid_now(); }

pthread_t thread_pthread(const clonert_thread *t) noexcept { return t->handle; }

clonert_thread *thread_of_pthread(pthread_t thread) noexcept {
    const std::lock_guard hold(joinable_lock);
    const auto found = joinable_threads().find(thread);
    return found != joinable_threads().end() ? found->second : nullptr;
}

std::size_t set_cache_limit(std::size_t) noexcept { return 0; }  // glibc caches its own
unsigned set_cache_linger(unsigned) noexcept { return 0; }

const char *const backend_name = "pthread";

const char *refusal_reason() noexcept { return nullptr; }

}  // namespace clonert
