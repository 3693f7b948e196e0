// Ordinary C and C++ inside clonert threads: what glibc and libstdc++ need
// from a thread they did not create (docs/pitfalls.md and docs/how-glibc-creates-a-thread.md; "Making a raw-clone
// thread acceptable to glibc") observed one feature at a time: malloc, stdio
// and the ctype tables, errno, thread_local, exceptions, the standard mutexes,
// recursive and robust pthread mutexes, signals, fork, nested threads, rseq
// (sched_getcpu), pthread_self and pthread_getattr_np, and gdb.
//
// What does NOT work in a clonert thread, by design (glibc keeps these in
// its own thread list and start_thread, which clonert threads never enter):
//   - pthread_exit(): its forced unwind ends with a longjmp to the buffer
//     glibc's start_thread sets up (nptl/unwind.c, unwind_stop), which a
//     clonert thread never had; the process crashes. Return instead.
//   - pthread_cancel(): acted on through pthread_exit's machinery (SIGCANCEL
//     or a cancellation point), so the same crash. Use jthread's stop_token.
//   - pthread_key_create() destructors: glibc runs them in start_thread after
//     the thread function returns, so they never run for a clonert thread
//     (pthread_setspecific/getspecific themselves work; tested below).
//     thread_local destructors do run.
// pthread_exit and pthread_cancel are not called here: each would end the
// test process.
//
// Catch2 is not thread-safe: threads record, the main thread asserts.
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <exception>
#include <fcntl.h>
#include <iomanip>
#include <malloc.h>
#include <memory>
#include <mutex>
#include <netdb.h>
#include <pthread.h>
#include <random>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

// Empties the stack cache and restores its limit, so that a test that needs
// a thread to reuse the previous one's memory finds it there.
void empty_stack_cache() { clonert_set_stack_cache_size(clonert_set_stack_cache_size(0)); }

// A stack size no other test uses: a thread with these options can only
// reuse the memory of an earlier thread with the same options.
clonert::thread_options options_with_unique_stack(std::size_t pages_over_1mib) {
    clonert::thread_options o;
    o.stack_size = (1u << 20) + pages_over_1mib * page;
    return o;
}

// Waits, without spinning hot, until `flag` is set. Returns false after 10 s.
bool wait_for(const std::atomic<bool> &flag) {
    for (int i = 0; i < 10000; ++i) {
        if (flag) return true;
        std::this_thread::sleep_for(1ms);
    }
    return flag;
}

using clonert_test::status_of_child;

bool exited_with(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

}  // namespace

// --- malloc ------------------------------------------------------------------

namespace {

// Allocates and frees blocks of random sizes, keeping up to 64 alive; each
// block carries its owner's mark in every byte, checked before it is freed.
// Two threads handed the same memory would see each other's marks.
long churn_heap(unsigned seed, int operations) {
    std::mt19937 random(seed);
    std::uniform_int_distribution<std::size_t> size_of(1, 4096);
    struct block {
        unsigned char *p;
        std::size_t size;
    };
    std::vector<block> live;
    live.reserve(64);
    const auto mark = static_cast<unsigned char>(seed);
    long corrupted = 0;
    auto release = [&](block b) {
        for (std::size_t i = 0; i < b.size; ++i) corrupted += b.p[i] != mark;
        if (b.size % 2) std::free(b.p);
        else delete[] b.p;
    };
    for (int i = 0; i < operations; ++i) {
        if (live.size() == 64 || (!live.empty() && random() % 2)) {
            const std::size_t k = random() % live.size();
            release(live[k]);
            live[k] = live.back();
            live.pop_back();
        } else {
            const std::size_t n = size_of(random);
            auto *p = n % 2 ? static_cast<unsigned char *>(std::malloc(n)) : new unsigned char[n];
            std::memset(p, mark, n);
            live.push_back({p, n});
        }
    }
    for (block b : live) release(b);
    return corrupted;
}

}  // namespace

TEST_CASE("malloc and new from many clonert threads at once keep the heap consistent") {
    constexpr int threads = 8;
    const int operations = clonert_test::under_qemu() ? 25000 : 100000;
    std::vector<long> corrupted(threads, -1);
    std::vector<clonert::thread> pool;
    for (int i = 0; i < threads; ++i)
        pool.emplace_back([&corrupted, i, operations] {
            corrupted[i] = churn_heap(static_cast<unsigned>(i + 1), operations);
        });
    for (auto &t : pool) t.join();
    for (int i = 0; i < threads; ++i) CHECK(corrupted[i] == 0);

    // glibc walks every arena's chunks for these: a corrupted heap aborts.
    const struct mallinfo2 info = mallinfo2();
    CHECK(info.uordblks <= info.arena + info.hblkhd);
    malloc_trim(0);
    CHECK(churn_heap(99, 10000) == 0);  // and main's heap still works
}

TEST_CASE("shared_ptr counts stay exact when copied in several clonert threads") {
    // libstdc++ uses plain increments until the process has a second thread
    // (__libc_single_threaded): clonert switches it to atomics at start-up.
    auto shared = std::make_shared<int>(5);
    const int copies = clonert_test::under_qemu() ? 20000 : 200000;
    std::vector<clonert::thread> pool;
    for (int i = 0; i < 4; ++i)
        pool.emplace_back([shared, copies] {
            for (int k = 0; k < copies; ++k) {
                std::shared_ptr<int> copy = shared;
                (void)copy;
            }
        });
    for (auto &t : pool) t.join();
    CHECK(shared.use_count() == 1);
}

// --- stdio, iostream, ctype --------------------------------------------------

TEST_CASE("printf-family formatting of doubles and iostreams work in a clonert thread") {
    std::string formatted, streamed, via_file;
    double parsed = 0;
    clonert::thread t([&] {
        char buf[128];
        std::snprintf(buf, sizeof buf, "%f|%.3e|%g|%5.1f", 3.25, 12345.678, 0.0001, -2.25);
        formatted = buf;
        std::ostringstream out;
        out << std::fixed << std::setprecision(2) << 3.14159 << ' ' << 42 << ' ' << std::hex << 255;
        streamed = out.str();
        std::istringstream in("6.02e23");
        in >> parsed;
        // A FILE with its own lock and buffer.
        char *text = nullptr;
        std::size_t length = 0;
        FILE *f = open_memstream(&text, &length);
        std::fprintf(f, "%.2f and %s", 1.5, "words");
        std::fclose(f);
        via_file.assign(text, length);
        std::free(text);
    });
    t.join();
    CHECK(formatted == "3.250000|1.235e+04|0.0001| -2.2");
    CHECK(streamed == "3.14 42 ff");
    CHECK(parsed == 6.02e23);
    CHECK(via_file == "1.50 and words");
}

TEST_CASE("the ctype tables (isalpha, toupper...) match main's in a clonert thread") {
    auto classify = [] {
        std::string s;
        for (int c = 0; c < 256; ++c)
            s += static_cast<char>((std::isalpha(c) ? 1 : 0) | (std::isdigit(c) ? 2 : 0) |
                                   (std::isspace(c) ? 4 : 0) | (std::ispunct(c) ? 8 : 0) |
                                   (std::toupper(c) != c ? 16 : 0) | (std::tolower(c) != c ? 32 : 0));
        return s;
    };
    std::string inside;
    int upper_a = 0, lower_z = 0;
    clonert::thread t([&] {
        inside = classify();
        upper_a = std::toupper('a');
        lower_z = std::tolower('Z');
    });
    t.join();
    CHECK(inside == classify());
    CHECK(upper_a == 'A');
    CHECK(lower_z == 'z');
}

// --- errno ---------------------------------------------------------------------

TEST_CASE("each clonert thread has its own errno") {
    constexpr int n = 4;
    std::atomic<int> arrived{0};
    std::vector<int> seen(n, -1);
    std::vector<const int *> where(n);
    std::vector<clonert::thread> pool;
    for (int i = 0; i < n; ++i)
        pool.emplace_back([&, i] {
            errno = 1000 + i;
            where[i] = &errno;
            ++arrived;
            while (arrived < n) clonert::this_thread::yield();  // everyone has written
            seen[i] = errno;
        });
    for (auto &t : pool) t.join();
    for (int i = 0; i < n; ++i) {
        CHECK(seen[i] == 1000 + i);
        for (int j = 0; j < i; ++j) CHECK(where[i] != where[j]);
    }
}

TEST_CASE("errno from failing system calls, concurrently, stays per thread") {
    std::atomic<int> go{0};
    int enoent = 0, ebadf = 0;
    clonert::thread a([&] {
        ++go;
        while (go < 2) clonert::this_thread::yield();
        for (int i = 0; i < 1000 && enoent != -1; ++i)
            enoent = open("/nonexistent/clonert", O_RDONLY) == -1 && errno == ENOENT ? ENOENT : -1;
    });
    clonert::thread b([&] {
        ++go;
        while (go < 2) clonert::this_thread::yield();
        for (int i = 0; i < 1000 && ebadf != -1; ++i)
            ebadf = close(-1) == -1 && errno == EBADF ? EBADF : -1;
    });
    a.join();
    b.join();
    CHECK(enoent == ENOENT);
    CHECK(ebadf == EBADF);
}

TEST_CASE("errno starts at 0 in a thread that reuses a cached stack whose last thread set it") {
    empty_stack_cache();
    const auto options = options_with_unique_stack(1);
    const int *first_errno = nullptr, *second_errno = nullptr;
    int errno_at_start = -1;
    clonert::thread first(options, [&] {
        errno = 1234;
        first_errno = &errno;
    });
    first.join();
    clonert::thread second(options, [&] {
        errno_at_start = errno;
        second_errno = &errno;
    });
    second.join();
    REQUIRE(first_errno == second_errno);  // the same memory: the cache was used
    CHECK(errno_at_start == 0);
}

// Hidden until runtime/ is fixed (run it with: test_glibc_compat "[known-bug]").
// A thread on a reused cached mapping keeps the previous thread's libc TLS
// block on purpose (it carries malloc's tcache and arena: glibc_tls.cpp,
// prepare), and resets only errno in it. The rest of libc's per-thread state
// carries over to an unrelated new thread: dlerror()'s pending message
// (__libc_dlerror_result, which glibc frees when a pthread exits) and
// h_errno. With pthreads, or with the stack cache off, a new thread sees
// neither. A fix: reset h_errno like errno (its offset found as errno's),
// and have the exiting thread call dlerror() until it returns NULL (that
// frees the pending message).
TEST_CASE("a reused cached stack does not pass dlerror or h_errno to the next thread",
          "[.][known-bug]") {
    empty_stack_cache();
    const auto options = options_with_unique_stack(4);
    const int *first_address = nullptr, *second_address = nullptr;
    const char *pending_error = "not read";
    int h_errno_at_start = -1;
    clonert::thread first(options, [&] {
        dlopen("/nonexistent/clonert-test.so", RTLD_NOW);  // leaves a dlerror() message
        h_errno = HOST_NOT_FOUND;
        first_address = &errno;
    });
    first.join();
    clonert::thread second(options, [&] {
        pending_error = dlerror();
        h_errno_at_start = h_errno;
        second_address = &errno;
    });
    second.join();
    REQUIRE(first_address == second_address);  // the same memory: the cache was used
    CHECK(pending_error == nullptr);
    CHECK(h_errno_at_start == 0);
}

// --- thread_local --------------------------------------------------------------

namespace {

struct tracked {
    static inline std::atomic<int> constructed{0}, destroyed{0};
    static inline std::atomic<pid_t> constructed_on{0}, destroyed_on{0};
    int value = 5;
    tracked() {
        ++constructed;
        constructed_on = gettid();
    }
    ~tracked() {
        ++destroyed;
        destroyed_on = gettid();
    }
    static void reset() {
        constructed = destroyed = 0;
        constructed_on = destroyed_on = 0;
    }
};

thread_local tracked tracked_per_thread;
thread_local int initialised_per_thread = 7;  // .tdata: copied from the initial image
thread_local int zeroed_per_thread;           // .tbss

}  // namespace

TEST_CASE("thread_local objects are constructed and destroyed on their own thread") {
    tracked::reset();
    pid_t tid = 0;
    int value = 0;
    clonert::thread t([&] {
        tid = gettid();
        value = tracked_per_thread.value;
    });
    t.join();  // returns after the destructor: it runs before the thread exits
    CHECK(value == 5);
    CHECK(tracked::constructed == 1);
    CHECK(tracked::destroyed == 1);
    CHECK(tracked::constructed_on == tid);
    CHECK(tracked::destroyed_on == tid);
}

TEST_CASE("a thread that never touches a thread_local neither constructs nor destroys it") {
    tracked::reset();
    clonert::thread t([] {});
    t.join();
    CHECK(tracked::constructed == 0);
    CHECK(tracked::destroyed == 0);
}

TEST_CASE("thread_local destructors run for detached threads too") {
    tracked::reset();
    std::atomic<pid_t> tid{0};
    clonert::thread t([&] {
        (void)tracked_per_thread.value;
        tid = gettid();
    });
    t.detach();
    for (int i = 0; i < 10000 && tracked::destroyed == 0; ++i) std::this_thread::sleep_for(1ms);
    CHECK(tracked::destroyed == 1);
    CHECK(tracked::destroyed_on == tid);
}

TEST_CASE("thread_locals start from their initial values on a reused cached stack") {
    empty_stack_cache();
    tracked::reset();
    const auto options = options_with_unique_stack(2);
    const int *first_address = nullptr, *second_address = nullptr;
    int initialised = 0, zeroed = -1, object_value = 0;
    clonert::thread first(options, [&] {
        initialised_per_thread = 100;
        zeroed_per_thread = 100;
        tracked_per_thread.value = 100;
        first_address = &initialised_per_thread;
    });
    first.join();
    clonert::thread second(options, [&] {
        initialised = initialised_per_thread;
        zeroed = zeroed_per_thread;
        object_value = tracked_per_thread.value;
        second_address = &initialised_per_thread;
    });
    second.join();
    REQUIRE(first_address == second_address);  // the same memory: the cache was used
    CHECK(initialised == 7);
    CHECK(zeroed == 0);
    CHECK(object_value == 5);
    CHECK(tracked::constructed == 2);
    CHECK(tracked::destroyed == 2);
}

// --- exceptions ------------------------------------------------------------------

namespace {

int throw_from_depth(int depth) {
    if (depth == 0) throw std::out_of_range("bottom");
    std::string frame_local(32, 'x');  // a destructor to run while unwinding
    return throw_from_depth(depth - 1) + static_cast<int>(frame_local.size());
}

}  // namespace

TEST_CASE("exceptions are thrown and caught across frames in clonert threads") {
    constexpr int n = 4;
    const int throws = clonert_test::under_qemu() ? 500 : 5000;
    std::vector<int> caught(n, 0);
    std::vector<clonert::thread> pool;
    for (int i = 0; i < n; ++i)
        pool.emplace_back([&caught, i, throws] {
            for (int k = 0; k < throws; ++k) {
                try {
                    throw_from_depth(20);
                } catch (const std::out_of_range &e) {
                    caught[i] += std::strcmp(e.what(), "bottom") == 0;
                }
            }
        });
    for (auto &t : pool) t.join();
    for (int i = 0; i < n; ++i) CHECK(caught[i] == throws);
}

TEST_CASE("an exception_ptr carries an exception from a clonert thread to main") {
    std::exception_ptr error;
    clonert::thread t([&error] {
        try {
            throw_from_depth(5);
        } catch (...) {
            error = std::current_exception();
        }
    });
    t.join();
    REQUIRE(error != nullptr);
    CHECK_THROWS_WITH(std::rethrow_exception(error), "bottom");
}

// --- Standard synchronisation across kinds of threads ---------------------------

TEST_CASE("mutex, condition_variable and atomics shared by clonert threads, std::threads and main") {
    // A ring of three players passing a token: main, a std::thread and a
    // clonert::thread. Each waits on the condition variable for its turn.
    const int rounds = clonert_test::under_qemu() ? 300 : 2000;
    std::mutex lock;
    std::condition_variable turn_changed;
    int turn = 0;
    std::vector<int> order;
    std::atomic<long> shared_counter{0};
    auto play = [&](int me) {
        for (int r = 0; r < rounds; ++r) {
            std::unique_lock<std::mutex> hold(lock);
            turn_changed.wait(hold, [&] { return turn == me; });
            order.push_back(me);
            shared_counter.fetch_add(1, std::memory_order_relaxed);
            turn = (turn + 1) % 3;
            turn_changed.notify_all();
        }
    };
    std::thread standard(play, 1);
    clonert::thread ours(play, 2);
    play(0);
    standard.join();
    ours.join();
    REQUIRE(order.size() == static_cast<std::size_t>(3 * rounds));
    bool in_turn = true;
    for (std::size_t i = 0; i < order.size(); ++i) in_turn &= order[i] == static_cast<int>(i % 3);
    CHECK(in_turn);
    CHECK(shared_counter == 3 * rounds);
}

TEST_CASE("a std::mutex loses no update among clonert and std threads") {
    const int increments = clonert_test::under_qemu() ? 20000 : 100000;
    std::mutex lock;
    long counter = 0;
    auto add = [&] {
        for (int i = 0; i < increments; ++i) {
            std::lock_guard<std::mutex> hold(lock);
            ++counter;
        }
    };
    clonert::thread a(add), b(add);
    std::thread c(add), d(add);
    a.join();
    b.join();
    c.join();
    d.join();
    CHECK(counter == 4L * increments);
}

// --- pthread mutexes that depend on the thread's TID ------------------------------

TEST_CASE("a recursive pthread mutex admits one clonert thread at a time") {
    // glibc records the owner as struct pthread's tid: two threads with a
    // wrong tid would both pass as the owner.
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_t mutex;
    pthread_mutex_init(&mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    std::atomic<int> inside{0}, most_inside{0};
    const int rounds = clonert_test::under_qemu() ? 2000 : 20000;
    auto enter = [&] {
        for (int i = 0; i < rounds; ++i) {
            pthread_mutex_lock(&mutex);
            pthread_mutex_lock(&mutex);  // again: recursive
            const int now = ++inside;
            if (now > most_inside) most_inside = now;
            --inside;
            pthread_mutex_unlock(&mutex);
            pthread_mutex_unlock(&mutex);
        }
    };
    clonert::thread a(enter), b(enter);
    a.join();
    b.join();
    pthread_mutex_destroy(&mutex);
    CHECK(most_inside == 1);
}

TEST_CASE("an error-checking pthread mutex knows which clonert thread owns it") {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_t mutex;
    pthread_mutex_init(&mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    int relock = 0, foreign_unlock = 0, own_unlock = -1;
    std::atomic<bool> locked{false}, tried{false};
    clonert::thread owner([&] {
        pthread_mutex_lock(&mutex);
        relock = pthread_mutex_lock(&mutex);  // EDEADLK: we own it already
        locked = true;
        while (!tried) clonert::this_thread::sleep_for(1ms);
        own_unlock = pthread_mutex_unlock(&mutex);
    });
    REQUIRE(wait_for(locked));
    clonert::thread other([&] { foreign_unlock = pthread_mutex_unlock(&mutex); });
    other.join();
    tried = true;
    owner.join();
    pthread_mutex_destroy(&mutex);
    CHECK(relock == EDEADLK);
    CHECK(foreign_unlock == EPERM);
    CHECK(own_unlock == 0);
}

TEST_CASE("a robust mutex held by a clonert thread that ends is EOWNERDEAD for the next locker") {
    // The kernel releases a dead thread's robust mutexes by walking the list
    // the thread registered with set_robust_list(2).
    CLONERT_SKIP_UNDER_QEMU(
        "qemu-user 7.2 answers set_robust_list with ENOSYS, so no thread (pthread or clonert) "
        "has its robust mutexes released when it dies: the next lock times out");
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_t mutex;
    pthread_mutex_init(&mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    for (int round = 0; round < 3; ++round) {  // also on reused thread memory
        int locked = -1;
        clonert::thread t([&] { locked = pthread_mutex_lock(&mutex); });  // and never unlocks
        t.join();
        REQUIRE(locked == 0);
        timespec deadline{};
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 5;
        const int err = pthread_mutex_timedlock(&mutex, &deadline);
        CHECK(err == EOWNERDEAD);
        if (err == EOWNERDEAD) {
            CHECK(pthread_mutex_consistent(&mutex) == 0);
            CHECK(pthread_mutex_unlock(&mutex) == 0);
        } else {
            break;
        }
    }
    pthread_mutex_destroy(&mutex);
}

// --- Signals ------------------------------------------------------------------------

namespace {

std::atomic<pid_t> handled_on{0};
std::atomic<int> handled_count{0};

void record_handling_thread(int) {
    const int saved = errno;  // a handler must leave errno as it found it
    handled_on = static_cast<pid_t>(syscall(SYS_gettid));
    ++handled_count;
    errno = saved;
}

struct handler_for {
    int signal;
    struct sigaction old {};
    explicit handler_for(int s) : signal(s) {
        struct sigaction sa {};
        sa.sa_handler = record_handling_thread;
        sigemptyset(&sa.sa_mask);
        sigaction(signal, &sa, &old);
        handled_on = 0;
        handled_count = 0;
    }
    ~handler_for() { sigaction(signal, &old, nullptr); }
};

}  // namespace

TEST_CASE("a signal sent to a clonert thread with tgkill is handled on that thread") {
    handler_for h(SIGUSR1);
    std::atomic<pid_t> tid{0};
    std::atomic<bool> release{false};
    pid_t seen_inside = 0;
    clonert::thread t([&] {
        tid = gettid();
        while (!release) clonert::this_thread::sleep_for(1ms);  // interrupted by the handler
        seen_inside = handled_on;
    });
    while (tid == 0) std::this_thread::sleep_for(1ms);
    REQUIRE(syscall(SYS_tgkill, getpid(), tid.load(), SIGUSR1) == 0);
    for (int i = 0; i < 10000 && handled_count == 0; ++i) std::this_thread::sleep_for(1ms);
    release = true;
    t.join();
    CHECK(handled_count == 1);
    CHECK(handled_on == tid);
    CHECK(seen_inside == tid);
}

TEST_CASE("pthread_kill with a clonert thread's pthread_self reaches that thread") {
    // pthread_kill reads the TID from struct pthread: it must be the thread's.
    handler_for h(SIGUSR2);
    pthread_t self{};
    std::atomic<pid_t> tid{0};
    std::atomic<bool> release{false};
    int self_kill = -1;
    pid_t self_kill_handled_on = 0;
    clonert::thread t([&] {
        self_kill = pthread_kill(pthread_self(), SIGUSR2);  // delivered before it returns
        self_kill_handled_on = handled_on;
        self = pthread_self();
        tid = gettid();
        while (!release) clonert::this_thread::sleep_for(1ms);
    });
    while (tid == 0) std::this_thread::sleep_for(1ms);
    handled_on = 0;
    const int err = pthread_kill(self, SIGUSR2);
    for (int i = 0; i < 10000 && handled_count < 2; ++i) std::this_thread::sleep_for(1ms);
    release = true;
    t.join();
    CHECK(self_kill == 0);
    CHECK(self_kill_handled_on == tid);
    CHECK(err == 0);
    CHECK(handled_count == 2);
    CHECK(handled_on == tid);
}

// --- fork ---------------------------------------------------------------------------

namespace {

// What a forked child does to show its libc works: malloc, stdio with
// doubles and, if asked, a new thread of each kind. Returns its exit code
// (7 = all well) and reports "child 2.50 N", N = 3 if it made both threads.
int exercise_child(int report_fd, bool make_threads) {
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 1000; ++i) blocks.emplace_back(new char[(i % 64) * 16 + 1]);
    void *big = std::malloc(1 << 20);  // mmap'd chunk
    std::memset(big, 1, 1 << 20);
    std::free(big);
    int from_threads = 0;
    if (make_threads) {
        std::thread s([&] { from_threads += 1; });
        s.join();
        clonert::thread c([&] { from_threads += 2; });
        c.join();
    }
    FILE *report = fdopen(report_fd, "w");
    if (report == nullptr) return 1;
    std::fprintf(report, "child %.2f %d", 2.5, from_threads);
    std::fclose(report);
    return from_threads == (make_threads ? 3 : 0) ? 7 : 2;
}

std::string read_all(int fd) {
    std::string s;
    char buf[256];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<std::size_t>(n));
    return s;
}

}  // namespace

TEST_CASE("fork from a clonert thread: the child mallocs, prints, makes threads and exits") {
    int pipe_fds[2];
    REQUIRE(pipe(pipe_fds) == 0);
    int status = -1;
    pid_t child = -1;
    std::fflush(nullptr);
    clonert::thread t([&] {
        child = fork();
        if (child == 0) {
            alarm(60);  // a child that hangs dies (SIGALRM) instead of stalling the test
            close(pipe_fds[0]);
            std::exit(exercise_child(pipe_fds[1], true));  // exit, not _exit: atexit and stdio too
        }
        close(pipe_fds[1]);
        waitpid(child, &status, 0);
    });
    t.join();
    const std::string report = read_all(pipe_fds[0]);
    close(pipe_fds[0]);
    REQUIRE(child > 0);
    CHECK(exited_with(status, 7));
    CHECK(report == "child 2.50 3");
}

TEST_CASE("fork from main while clonert threads malloc gives a working child") {
    // glibc's fork takes every malloc arena lock around the fork: the child
    // never inherits an arena locked by a thread that does not exist there.
    // qemu-user 7.2 aborts (cpu_exec: assertion `cpu == current_cpu`) when a
    // child forked while other threads ran creates a thread, with pthreads
    // as with clonert: there the child only mallocs and prints.
    const bool child_makes_threads = !clonert_test::under_qemu();
    const std::string expected = child_makes_threads ? "child 2.50 3" : "child 2.50 0";
    std::atomic<bool> stop{false};
    std::vector<clonert::thread> workers;
    for (int i = 0; i < 3; ++i)
        workers.emplace_back([&stop, i] {
            while (!stop) churn_heap(static_cast<unsigned>(10 + i), 500);
        });
    const int forks = clonert_test::under_qemu() ? 5 : 20;
    int healthy = 0;
    for (int i = 0; i < forks; ++i) {
        int pipe_fds[2];
        REQUIRE(pipe(pipe_fds) == 0);
        const int status = status_of_child([&] {
            close(pipe_fds[0]);
            _exit(exercise_child(pipe_fds[1], child_makes_threads));
        });
        close(pipe_fds[1]);
        const std::string report = read_all(pipe_fds[0]);
        close(pipe_fds[0]);
        healthy += exited_with(status, 7) && report == expected;
    }
    stop = true;
    for (auto &w : workers) w.join();
    CHECK(healthy == forks);
}

// --- Threads from threads -------------------------------------------------------------

TEST_CASE("a clonert thread can start and join a std::thread and a clonert::thread") {
    pid_t outer = 0, via_std = 0, via_clonert = 0, innermost = 0;
    clonert::thread t([&] {
        outer = gettid();
        std::thread s([&] { via_std = gettid(); });
        clonert::thread c([&] {
            via_clonert = gettid();
            clonert::thread deeper([&] { innermost = gettid(); });
            deeper.join();
        });
        s.join();
        c.join();
    });
    t.join();
    CHECK(outer > 0);
    CHECK(via_std > 0);
    CHECK(via_clonert > 0);
    CHECK(innermost > 0);
    CHECK(outer != via_std);
    CHECK(outer != via_clonert);
    CHECK(via_clonert != innermost);
    CHECK(via_std != via_clonert);
}

// --- rseq and sched_getcpu ---------------------------------------------------------------

namespace {

// The kernel's view of the CPU: getcpu(2) itself, not glibc's rseq shortcut.
int cpu_from_kernel() {
    unsigned cpu = 0;
    return syscall(SYS_getcpu, &cpu, nullptr, nullptr) == 0 ? static_cast<int>(cpu) : -1;
}

// glibc's __rseq_size and __rseq_offset (GLIBC_2.35, <sys/rseq.h>), looked
// up rather than linked, so that this program also loads on glibc 2.34,
// which has neither and registers no rseq area (scripts/test-glibc).
unsigned rseq_size() {
    static const auto *size = static_cast<const unsigned *>(dlsym(RTLD_DEFAULT, "__rseq_size"));
    return size != nullptr ? *size : 0;
}

// The cpu_id the kernel keeps in this thread's rseq area, or -100 if glibc
// registers none (__rseq_size 0: rseq unavailable, as under qemu-user).
int rseq_cpu_id() {
    if (rseq_size() == 0) return -100;
    static const auto *offset = static_cast<const std::ptrdiff_t *>(dlsym(RTLD_DEFAULT, "__rseq_offset"));
    auto *area = reinterpret_cast<const volatile struct rseq *>(
        static_cast<const char *>(__builtin_thread_pointer()) + *offset);
    return static_cast<int>(area->cpu_id);
}

bool may_run_on(int cpu) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(cpu, &set);
}

}  // namespace

TEST_CASE("sched_getcpu in a clonert thread is a valid CPU") {
    const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_CONF));
    int cpu = -1;
    clonert::thread t([&] { cpu = sched_getcpu(); });
    t.join();
    CHECK(cpu >= 0);
    CHECK(cpu < cpus);
}

TEST_CASE("sched_getcpu follows the thread to the CPU it pins itself to") {
    // glibc answers sched_getcpu from the rseq area when one is registered:
    // a thread whose area was never registered would report its first CPU
    // (or 0) forever.
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || !may_run_on(0) || !may_run_on(1))
        CLONERT_SKIP("needs CPUs 0 and 1 available to this process");
    struct observed {
        int pinned = -1, by_glibc = -1, by_kernel = -1, by_rseq = -1;
    };
    std::vector<observed> seen;
    clonert::thread t([&] {
        for (int cpu : {1, 0, 1}) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            observed o;
            o.pinned = cpu;
            if (sched_setaffinity(0, sizeof one, &one) == 0) {
                o.by_glibc = sched_getcpu();
                o.by_kernel = cpu_from_kernel();
                o.by_rseq = rseq_cpu_id();
            }
            seen.push_back(o);
        }
    });
    t.join();
    REQUIRE(seen.size() == 3);
    for (const observed &o : seen) {
        INFO("pinned to CPU " << o.pinned);
        CHECK(o.by_kernel == o.pinned);
        CHECK(o.by_glibc == o.pinned);
        if (rseq_size() > 0) CHECK(o.by_rseq == o.pinned);  // registered, and kept up to date
    }
}

// --- pthread_self and pthread_getattr_np ---------------------------------------------------

TEST_CASE("pthread_getattr_np in a clonert thread reports the thread's own stack") {
    std::uintptr_t low = 0, local = 0;
    std::size_t size = 0;
    int err = -1;
    clonert::thread t([&] {
        int here = 0;
        local = reinterpret_cast<std::uintptr_t>(&here);
        pthread_attr_t attr;
        err = pthread_getattr_np(pthread_self(), &attr);
        if (err == 0) {
            void *addr = nullptr;
            pthread_attr_getstack(&attr, &addr, &size);
            low = reinterpret_cast<std::uintptr_t>(addr);
            pthread_attr_destroy(&attr);
        }
    });
    t.join();
    REQUIRE(err == 0);
    CHECK(low <= local);
    CHECK(local < low + size);
    int main_local = 0;
    const auto main_address = reinterpret_cast<std::uintptr_t>(&main_local);
    CHECK_FALSE((low <= main_address && main_address < low + size));
}

TEST_CASE("pthread_self in a clonert thread is usable: equal, named, distinct from main's") {
    pthread_t self{}, again{};
    int equal = 0, set_name = -1, get_name = -1;
    char name[16] = {};
    clonert::thread t([&] {
        self = pthread_self();
        again = pthread_self();
        equal = pthread_equal(self, again);
        set_name = pthread_setname_np(self, "renamed");
        get_name = pthread_getname_np(self, name, sizeof name);
    });
    t.join();
    CHECK(equal != 0);
    CHECK_FALSE(pthread_equal(self, pthread_self()));
    CHECK(set_name == 0);
    CHECK(get_name == 0);
    CHECK(std::string(name) == "renamed");
}

TEST_CASE("std::this_thread::get_id differs between live clonert threads and main") {
    // libstdc++ takes it from pthread_self(): the thread's own struct pthread.
    constexpr int n = 4;
    std::atomic<int> arrived{0};
    std::vector<std::thread::id> ids(n);
    std::vector<clonert::thread> pool;
    for (int i = 0; i < n; ++i)
        pool.emplace_back([&, i] {
            ids[i] = std::this_thread::get_id();
            ++arrived;
            while (arrived < n) clonert::this_thread::yield();  // all alive at once
        });
    for (auto &t : pool) t.join();
    for (int i = 0; i < n; ++i) {
        CHECK(ids[i] != std::thread::id{});
        CHECK(ids[i] != std::this_thread::get_id());
        for (int j = 0; j < i; ++j) CHECK(ids[i] != ids[j]);
    }
}

TEST_CASE("pthread_setspecific values are per thread and start empty on reused memory") {
    // Keys work inside a clonert thread; only their destructors never run
    // (see the header of this file), so this test deletes nothing through them.
    empty_stack_cache();
    pthread_key_t key;
    REQUIRE(pthread_key_create(&key, nullptr) == 0);
    const auto options = options_with_unique_stack(3);
    static int mine = 0;
    void *first_start = &mine, *second_start = &mine, *first_end = nullptr;
    clonert::thread first(options, [&] {
        first_start = pthread_getspecific(key);
        pthread_setspecific(key, &mine);
        first_end = pthread_getspecific(key);
    });
    first.join();
    clonert::thread second(options, [&] { second_start = pthread_getspecific(key); });
    second.join();
    pthread_key_delete(key);
    CHECK(first_start == nullptr);
    CHECK(first_end == &mine);
    CHECK(second_start == nullptr);
}

// --- gdb -------------------------------------------------------------------------------------

namespace {

bool gdb_installed() { return std::system("gdb --version >/dev/null 2>&1") == 0; }

std::string run_command(const std::string &command) {
    std::string out;
    if (FILE *p = popen(command.c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p)) out += buf;
        pclose(p);
    }
    return out;
}

}  // namespace

TEST_CASE("gdb lists clonert threads by their LWP") {
    // Under qemu-user gdb attaches to the x86_64 qemu process: it cannot show
    // aarch64 frames, but qemu runs each guest thread as one host thread with
    // the same TID, so the LWPs listed are still the clonert threads.
    if (!gdb_installed()) CLONERT_SKIP("gdb is not installed");
    constexpr int n = 3;
    int tids_pipe[2];
    REQUIRE(pipe(tids_pipe) == 0);
    std::fflush(nullptr);
    const pid_t child = fork();
    if (child == 0) {
        alarm(60);  // gone even if the parent dies before it kills us
        close(tids_pipe[0]);
        std::vector<clonert::thread> parked;
        for (int i = 0; i < n; ++i)
            parked.emplace_back([fd = tids_pipe[1]] {
                const pid_t tid = gettid();
                (void)!write(fd, &tid, sizeof tid);
                for (;;) pause();
            });
        for (;;) pause();  // killed by the parent
    }
    close(tids_pipe[1]);
    std::vector<pid_t> tids(n, 0);
    bool all_read = true;
    for (pid_t &tid : tids) all_read &= read(tids_pipe[0], &tid, sizeof tid) == sizeof tid;
    close(tids_pipe[0]);
    const std::string out = all_read ? run_command("timeout 60 gdb -nx -batch -p " +
                                                   std::to_string(child) +
                                                   " -ex 'info threads' 2>&1")
                                     : std::string();
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    REQUIRE(all_read);
    if (out.find("ptrace: Operation not permitted") != std::string::npos)
        CLONERT_SKIP("ptrace is not permitted here");
    INFO(out);
    for (pid_t tid : tids) CHECK(out.find("LWP " + std::to_string(tid)) != std::string::npos);
    CHECK(out.find("LWP " + std::to_string(child)) != std::string::npos);  // the child's main
}
