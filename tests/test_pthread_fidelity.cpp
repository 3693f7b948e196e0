// A clonert thread is a pthread to glibc: what glibc's start_thread does for
// its own threads, clonert's thread entry does too (runtime/thread/
// lifecycle_raw.cpp, runtime/glibc/thread_block.cpp). Each case does the same
// thing to a thread made by pthread_create and to one made by clonert_create,
// and checks that both behave alike: pthread_exit from any depth, deferred and
// asynchronous cancellation, pthread_join and its timed and trying variants
// and pthread_detach on the thread's pthread_t, pthread_key destructors in
// glibc's rounds, the resolver state, what pthread_getattr_np reports.
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <pthread.h>
#include <resolv.h>
#include <csignal>
#include <string>
#include <thread>
#include <unistd.h>

#include "support.hpp"

namespace {

enum class kind { pthread, clonert };

const char *name(kind k) { return k == kind::pthread ? "pthread_create" : "clonert_create"; }

// A thread of either kind, started on a routine; its pthread_t is what the
// thread itself sees as pthread_self(), published before the routine runs.
struct started {
    kind k;
    pthread_t handle{};
    clonert_t ct = nullptr;
};

struct trampoline {
    void *(*routine)(void *);
    void *arg;
    std::atomic<pthread_t> self{};
};

void *through_trampoline(void *p) {
    auto *t = static_cast<trampoline *>(p);
    t->self.store(pthread_self(), std::memory_order_release);
    return t->routine(t->arg);
}

started start(kind k, trampoline &t) {
    started s{k};
    int err;
    if (k == kind::pthread) {
        err = pthread_create(&s.handle, nullptr, through_trampoline, &t);
    } else {
        err = clonert_create(&s.ct, nullptr, through_trampoline, &t);
        while (err == 0 && t.self.load(std::memory_order_acquire) == pthread_t{}) usleep(100);
        s.handle = t.self.load(std::memory_order_acquire);
    }
    REQUIRE(err == 0);
    return s;
}

// Joined through pthread_join: glibc's for a pthread, clonert's interposed
// one for a clonert thread's pthread_t.
void *join(const started &s) {
    void *result = nullptr;
    REQUIRE(pthread_join(s.handle, &result) == 0);
    return result;
}

void wait_for(const std::atomic<bool> &flag) {
    while (!flag.load(std::memory_order_acquire)) usleep(100);
}

// --- pthread_exit -------------------------------------------------------------

std::atomic<int> destructors{0}, cleanups{0};

struct counts_destruction {
    ~counts_destruction() { ++destructors; }
};

void cleanup_handler(void *) { ++cleanups; }

void *exit_from_depth(int depth) {
    counts_destruction local;
    if (depth <= 0) pthread_exit(reinterpret_cast<void *>(std::uintptr_t{0x5eed}));
    if (depth > 100) return nullptr;  // never: keeps the compiler from calling it endless
    void *result = nullptr;
    pthread_cleanup_push(cleanup_handler, nullptr);
    result = exit_from_depth(depth - 1);
    pthread_cleanup_pop(0);
    return result;
}

void *exit_three_deep(void *) { return exit_from_depth(3); }

}  // namespace

TEST_CASE("pthread_exit from any depth: cleanup handlers and destructors run, the value reaches the joiner") {
    for (kind k : {kind::pthread, kind::clonert}) {
        destructors = 0;
        cleanups = 0;
        trampoline t{exit_three_deep, nullptr};
        const started s = start(k, t);
        void *result = join(s);
        INFO(name(k));
        CHECK(result == reinterpret_cast<void *>(std::uintptr_t{0x5eed}));
        CHECK(destructors == 4);  // one object per frame, depths 3 to 0
        CHECK(cleanups == 3);     // one handler per frame above depth 0
    }
    // And through clonert_join, the C API's own join.
    destructors = 0;
    clonert_t ct;
    REQUIRE(clonert_create(&ct, nullptr, exit_three_deep, nullptr) == 0);
    void *result = nullptr;
    REQUIRE(clonert_join(ct, &result) == 0);
    CHECK(result == reinterpret_cast<void *>(std::uintptr_t{0x5eed}));
    CHECK(destructors == 4);
}

// --- Cancellation -------------------------------------------------------------

namespace {

std::atomic<bool> running{false};

void *deferred_target(void *) {
    pthread_cleanup_push(cleanup_handler, nullptr);
    running = true;
    for (;;) {
        pthread_testcancel();  // a cancellation point
        usleep(1000);          // and another
    }
    pthread_cleanup_pop(0);
    return nullptr;
}

// No cancellation point: only SIGCANCEL can stop it. A frame of its own,
// with nothing to clean up, called through a pointer the compiler cannot
// see through: GCC's personality routine terminates the process when it
// unwinds a frame at a call it had proven cannot throw (no call-site entry),
// and a loop that calls nothing is proven so.
void spin_forever() {
    static volatile unsigned long spins;
    for (;;) spins = spins + 1;
}
void (*volatile spinner)() = spin_forever;

void *asynchronous_target(void *) {
    pthread_cleanup_push(cleanup_handler, nullptr);
    int old;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
    running = true;
    spinner();
    pthread_cleanup_pop(0);
    return nullptr;
}

void *disabled_then_enabled(void *) {
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    running = true;
    usleep(50 * 1000);
    pthread_testcancel();  // disabled: the request stays pending
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    pthread_testcancel();  // acted on here
    return nullptr;
}

// Starts `routine` on a thread of kind k, cancels it once it runs, and
// returns what joining it gives.
void *cancelled(kind k, void *(*routine)(void *)) {
    running = false;
    trampoline t{routine, nullptr};
    const started s = start(k, t);
    wait_for(running);
    REQUIRE(pthread_cancel(s.handle) == 0);
    return join(s);
}

}  // namespace

TEST_CASE("pthread_cancel, deferred and asynchronous: the thread stops, cleanup runs, PTHREAD_CANCELED") {
    // Deferred: at a cancellation point. Asynchronous: a spinning thread,
    // stopped by SIGCANCEL.
    for (void *(*target)(void *) : {deferred_target, asynchronous_target}) {
        for (kind k : {kind::pthread, kind::clonert}) {
            cleanups = 0;
            INFO(name(k) << (target == deferred_target ? ", deferred" : ", asynchronous"));
            CHECK(cancelled(k, target) == PTHREAD_CANCELED);
            CHECK(cleanups == 1);
        }
    }
}

TEST_CASE("pthread_cancel while cancellation is disabled waits until it is enabled") {
    for (kind k : {kind::pthread, kind::clonert}) {
        INFO(name(k));
        CHECK(cancelled(k, disabled_then_enabled) == PTHREAD_CANCELED);
    }
}

// --- Joining through the pthread_t ---------------------------------------------------

namespace {

std::atomic<bool> release_it{false};

void *wait_for_release(void *) {
    running = true;
    wait_for(release_it);
    return reinterpret_cast<void *>(std::uintptr_t{42});
}

// A thread of kind k on t (wait_for_release), running and held until
// release_it is set.
started start_held(kind k, trampoline &t) {
    running = false;
    release_it = false;
    const started s = start(k, t);
    wait_for(running);
    return s;
}

timespec in_ms(clockid_t clock, long ms) {
    timespec t;
    clock_gettime(clock, &t);
    t.tv_nsec += ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

}  // namespace

TEST_CASE("pthread_tryjoin_np, pthread_timedjoin_np and pthread_clockjoin_np on the thread's pthread_t") {
    for (kind k : {kind::pthread, kind::clonert}) {
        INFO(name(k));
        trampoline t{wait_for_release, nullptr};
        const started s = start_held(k, t);
        void *result = nullptr;
        CHECK(pthread_tryjoin_np(s.handle, &result) == EBUSY);
        const timespec soon = in_ms(CLOCK_REALTIME, 20);
        CHECK(pthread_timedjoin_np(s.handle, &result, &soon) == ETIMEDOUT);
        const timespec mono_soon = in_ms(CLOCK_MONOTONIC, 20);
        CHECK(pthread_clockjoin_np(s.handle, &result, CLOCK_MONOTONIC, &mono_soon) == ETIMEDOUT);
        if (k == kind::clonert && std::string(clonert_backend()) == "raw") {
            // glibc 2.36 waits forever here (its futex wait's EINVAL is
            // retried); clonert says EINVAL, as POSIX's timed functions do.
            timespec bad = in_ms(CLOCK_MONOTONIC, 20);
            bad.tv_nsec = 1000000000L;
            CHECK(pthread_clockjoin_np(s.handle, &result, CLOCK_MONOTONIC, &bad) == EINVAL);
        }
        CHECK(pthread_clockjoin_np(s.handle, &result, CLOCK_PROCESS_CPUTIME_ID, &mono_soon) == EINVAL);
        release_it = true;
        const timespec later = in_ms(CLOCK_MONOTONIC, 10000);
        CHECK(pthread_clockjoin_np(s.handle, &result, CLOCK_MONOTONIC, &later) == 0);
        CHECK(result == reinterpret_cast<void *>(std::uintptr_t{42}));
    }
}

TEST_CASE("pthread_detach on the thread's pthread_t: it ends on its own; a second detach is an error") {
    for (kind k : {kind::pthread, kind::clonert}) {
        INFO(name(k));
        trampoline t{wait_for_release, nullptr};
        const started s = start_held(k, t);
        // What pthread_getattr_np says before and after (glibc reads joinid,
        // or from 2.43 joinstate, in struct pthread).
        pthread_attr_t attr;
        int state = -1;
        REQUIRE(pthread_getattr_np(s.handle, &attr) == 0);
        pthread_attr_getdetachstate(&attr, &state);
        pthread_attr_destroy(&attr);
        CHECK(state == PTHREAD_CREATE_JOINABLE);
        CHECK(pthread_detach(s.handle) == 0);
        REQUIRE(pthread_getattr_np(s.handle, &attr) == 0);
        pthread_attr_getdetachstate(&attr, &state);
        pthread_attr_destroy(&attr);
        CHECK(state == PTHREAD_CREATE_DETACHED);
        release_it = true;
    }
    clonert_test::wait_for_tasks();
}

// --- pthread_key destructors ---------------------------------------------------------

namespace {

pthread_key_t stubborn_key;
std::atomic<int> stubborn_calls{0};
int key_value;

// Sets its value again each time: glibc gives up after
// PTHREAD_DESTRUCTOR_ITERATIONS rounds (nptl/nptl_deallocate_tsd.c).
void stubborn_destructor(void *value) {
    ++stubborn_calls;
    pthread_setspecific(stubborn_key, value);
}

constexpr int many = 40;  // past the 32 values struct pthread holds itself
pthread_key_t many_keys[many];
std::atomic<int> many_calls{0};

void *set_keys(void *) {
    pthread_setspecific(stubborn_key, &key_value);
    for (pthread_key_t k : many_keys) pthread_setspecific(k, &key_value);
    return nullptr;
}

}  // namespace

TEST_CASE("pthread_key destructors run when the thread ends, in glibc's rounds") {
    REQUIRE(pthread_key_create(&stubborn_key, stubborn_destructor) == 0);
    for (pthread_key_t &k : many_keys)
        REQUIRE(pthread_key_create(&k, [](void *) { ++many_calls; }) == 0);
    int calls[2] = {0, 0}, many_seen[2] = {0, 0};
    for (kind k : {kind::pthread, kind::clonert}) {
        stubborn_calls = 0;
        many_calls = 0;
        trampoline t{set_keys, nullptr};
        join(start(k, t));
        calls[k == kind::clonert] = stubborn_calls;
        many_seen[k == kind::clonert] = many_calls;
    }
    CHECK(calls[0] == PTHREAD_DESTRUCTOR_ITERATIONS);
    CHECK(calls[1] == calls[0]);
    CHECK(many_seen[0] == many);
    CHECK(many_seen[1] == many_seen[0]);
    // In a joined thread's memory, reused by the next clonert thread, the
    // values are gone: a new thread starts with none.
    void *seen = &key_value;
    trampoline t{[](void *out) -> void * {
                     *static_cast<void **>(out) = pthread_getspecific(many_keys[many - 1]);
                     return nullptr;
                 },
                 &seen};
    join(start(kind::clonert, t));
    CHECK(seen == nullptr);
    for (pthread_key_t k : many_keys) pthread_key_delete(k);
    pthread_key_delete(stubborn_key);
}

// --- The resolver state ---------------------------------------------------------------

TEST_CASE("each thread has its own resolver state, as glibc's threads do") {
    struct __res_state *main_state = __res_state();
    struct __res_state *seen[2][2] = {};
    for (kind k : {kind::pthread, kind::clonert}) {
        for (int i = 0; i < 2; ++i) {
            running = false;
            release_it = false;
            trampoline t{[](void *out) -> void * {
                             *static_cast<struct __res_state **>(out) = __res_state();
                             return nullptr;
                         },
                         &seen[k == kind::clonert][i]};
            join(start(k, t));
        }
    }
    for (int k = 0; k < 2; ++k) {
        INFO((k ? "clonert_create" : "pthread_create"));
        CHECK(seen[k][0] != nullptr);
        CHECK(seen[k][0] != main_state);  // its own, not the process's _res
    }
    // And a thread that uses it leaves nothing open: res_init() opens no
    // socket, but fills the state that glibc closes at thread exit.
    const std::size_t fds_before = clonert_test::count_entries("/proc/self/fd");
    for (kind k : {kind::pthread, kind::clonert}) {
        trampoline t{[](void *) -> void * {
                         res_init();
                         return nullptr;
                     },
                     nullptr};
        join(start(k, t));
    }
    CHECK(clonert_test::count_entries("/proc/self/fd") == fds_before);
}

// --- The C++ types --------------------------------------------------------------------

namespace {

template <class Thread>
int destructors_after_pthread_exit() {
    destructors = 0;
    Thread t([] {
        counts_destruction outer;
        [] {
            counts_destruction inner;
            pthread_exit(nullptr);
        }();
    });
    t.join();
    return destructors.load();
}

}  // namespace

TEST_CASE("pthread_exit in a clonert::thread unwinds as in a std::thread") {
    const int in_std = destructors_after_pthread_exit<std::thread>();
    const int in_clonert = destructors_after_pthread_exit<clonert::thread>();
    CHECK(in_std == 2);
    CHECK(in_clonert == in_std);
}

// --- Signals to a thread that has ended ---------------------------------------------------

TEST_CASE("pthread_kill to an ended, unjoined thread answers as for a pthread") {
    int answers[2] = {-1, -1};
    for (kind k : {kind::pthread, kind::clonert}) {
        trampoline t{[](void *) -> void * { return nullptr; }, nullptr};
        const started s = start(k, t);
        // Ended: its task has left /proc/self/task.
        clonert_test::wait_for_tasks();
        answers[k == kind::clonert] = pthread_kill(s.handle, 0);
        join(s);
    }
    INFO("pthread_kill: pthread " << answers[0] << ", clonert " << answers[1]);
    CHECK(answers[1] == answers[0]);
}
