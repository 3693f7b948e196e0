// A program that knows nothing of clonert: std::thread, std::async,
// std::jthread, and pthread_create with each attribute glibc offers. It
// prints what each thread saw, the same lines whoever made the threads;
// tests/preload/run_program_test.py runs it with libclonert-preload.so and
// without, and compares. Every check that could differ between a glibc
// thread and a clonert one prints a line.

#include <aio.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <future>
#include <mutex>
#include <numeric>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

void check(bool ok, const char *what) {
    if (!ok) {
        std::printf("FAILED: %s\n", what);
        std::fflush(stdout);
        std::exit(1);
    }
}

void check_zero(int err, const char *what) {
    if (err != 0) {
        std::printf("FAILED: %s: %s\n", what, std::strerror(err));
        std::fflush(stdout);
        std::exit(1);
    }
}

// --- The standard library's threads ---------------------------------------------

std::atomic<int> thread_locals_destroyed{0};
struct counted_on_exit {
    int value = 0;
    ~counted_on_exit() { thread_locals_destroyed.fetch_add(1); }
};
thread_local counted_on_exit per_thread;

void std_thread() {
    constexpr int workers = 4;
    constexpr long n = 2'000'000;
    std::vector<long> partial(workers);
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w)
        threads.emplace_back([w, &partial] {
            per_thread.value = w;  // constructs the thread_local: destroyed at thread exit
            long sum = 0;
            for (long i = w; i < n; i += workers) sum += i % 7;
            partial[w] = sum;
        });
    for (auto &t : threads) t.join();
    std::printf("std::thread: sum %ld from %d threads; %d thread_local destructors ran\n",
                std::accumulate(partial.begin(), partial.end(), 0L), workers, thread_locals_destroyed.load());
}

void std_async() {
    auto square = std::async(std::launch::async, [](int x) { return x * x; }, 12);
    auto fails = std::async(std::launch::async, []() -> int { throw std::runtime_error("from the async thread"); });
    std::printf("std::async: %d\n", square.get());
    try {
        fails.get();
        std::printf("std::async: no exception\n");
    } catch (const std::runtime_error &e) {
        std::printf("std::async: exception \"%s\" reached the caller\n", e.what());
    }
}

void std_jthread() {
    std::mutex m;
    std::condition_variable_any cv;
    int rounds = 0;
    {
        std::jthread worker([&](std::stop_token stop) {
            std::unique_lock lock(m);
            while (!stop.stop_requested()) {
                ++rounds;
                cv.wait(lock, stop, [] { return false; });  // until a stop is requested
            }
        });
        // The worker has started once it counts its first round.
        for (;;) {
            std::lock_guard lock(m);
            if (rounds > 0) break;
        }
    }  // ~jthread: request_stop, then join
    std::printf("std::jthread: stopped and joined after %d round\n", rounds);
}

// --- pthread_create and its attributes ----------------------------------------------

pthread_t announced;  // written by pthread_create before the new thread runs

void *read_own_handle(void *) {
    return reinterpret_cast<void *>(static_cast<std::uintptr_t>(pthread_equal(announced, pthread_self()) != 0));
}

void *report_stack(void *arg) {
    auto *out = static_cast<pthread_attr_t *>(arg);
    check_zero(pthread_getattr_np(pthread_self(), out), "pthread_getattr_np");
    return nullptr;
}

// Where the thread's locals are, as a number (returning a local's address
// would be folded to null by the compiler).
void *where_am_i(void *out) {
    volatile int local = 0;
    if (out != nullptr) *static_cast<std::uintptr_t *>(out) = reinterpret_cast<std::uintptr_t>(&local);
    return nullptr;
}

void *own_affinity(void *arg) {
    auto *set = static_cast<cpu_set_t *>(arg);
    check_zero(sched_getaffinity(0, sizeof *set, set) == 0 ? 0 : errno, "sched_getaffinity");
    return nullptr;
}

void *own_sigmask(void *arg) {
    auto *set = static_cast<sigset_t *>(arg);
    check_zero(pthread_sigmask(SIG_SETMASK, nullptr, set), "pthread_sigmask");
    return nullptr;
}

void *own_policy(void *arg) {
    auto *policy = static_cast<int *>(arg);
    sched_param p{};
    check_zero(pthread_getschedparam(pthread_self(), policy, &p), "pthread_getschedparam");
    return nullptr;
}

void *exits_early(void *) {
    pthread_exit(reinterpret_cast<void *>(42));
}

void *waits_to_be_cancelled(void *) {
    for (;;) pause();  // a cancellation point
}

sem_t detached_ran;
void *posts(void *) {
    sem_post(&detached_ran);
    return nullptr;
}

std::atomic<int> key_destructors{0};
pthread_key_t key;
void *sets_key(void *) {
    pthread_setspecific(key, reinterpret_cast<void *>(1));
    return nullptr;
}

const char *policy_name(int policy) {
    switch (policy) {
    case SCHED_OTHER: return "SCHED_OTHER";
    case SCHED_FIFO: return "SCHED_FIFO";
    case SCHED_RR: return "SCHED_RR";
    default: return "another policy";
    }
}

void pthread_attributes() {
    pthread_t t;
    void *result = nullptr;

    check_zero(pthread_create(&announced, nullptr, read_own_handle, nullptr), "pthread_create");
    check_zero(pthread_join(announced, &result), "pthread_join");
    std::printf("pthread_create: the new thread sees its own pthread_t already written: %s\n",
                result != nullptr ? "yes" : "no");

    // Stack size and guard, as pthread_getattr_np reports them inside.
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    pthread_attr_t attr, seen;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    pthread_attr_setguardsize(&attr, 4 * page);
    check_zero(pthread_create(&t, &attr, report_stack, &seen), "pthread_create with a stack size");
    check_zero(pthread_join(t, nullptr), "pthread_join");
    pthread_attr_destroy(&attr);
    std::size_t size = 0, guard = 0;
    int detach = -1;
    pthread_attr_getstacksize(&seen, &size);
    pthread_attr_getguardsize(&seen, &guard);
    pthread_attr_getdetachstate(&seen, &detach);
    pthread_attr_destroy(&seen);
    std::printf("stack size 1 MiB: reported %s; guard of 4 pages reported as %zu pages; %s\n",
                size >= (1u << 20) - 64 * 1024 && size <= (1u << 20) + 64 * 1024 ? "about 1 MiB" : "something else",
                guard / page, detach == PTHREAD_CREATE_JOINABLE ? "joinable" : "detached");

    // The smallest stack pthread takes.
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
    const int small = pthread_create(&t, &attr, where_am_i, nullptr);
    if (small == 0) pthread_join(t, nullptr);
    pthread_attr_destroy(&attr);
    std::printf("stack size PTHREAD_STACK_MIN: %s\n", small == 0 ? "made and joined" : std::strerror(small));

    // A guard larger than the stack: glibc takes it.
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setguardsize(&attr, 1 << 20);
    const int big_guard = pthread_create(&t, &attr, where_am_i, nullptr);
    if (big_guard == 0) pthread_join(t, nullptr);
    pthread_attr_destroy(&attr);
    std::printf("a 1 MiB guard below a 256 KiB stack: %s\n", big_guard == 0 ? "made and joined" : std::strerror(big_guard));

    // A caller's stack: the thread's locals are in it.
    constexpr std::size_t own_size = 256 * 1024;
    void *own = mmap(nullptr, own_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(own != MAP_FAILED, "mmap");
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, own, own_size);
    std::uintptr_t at = 0;
    check_zero(pthread_create(&t, &attr, where_am_i, &at), "pthread_create on a caller's stack");
    check_zero(pthread_join(t, nullptr), "pthread_join");
    pthread_attr_destroy(&attr);
    const auto low = reinterpret_cast<std::uintptr_t>(own);
    std::printf("a caller's stack: the thread's locals were %s it\n", at >= low && at < low + own_size ? "in" : "not in");
    munmap(own, own_size);

    // A CPU set of one: the first CPU this process may use.
    cpu_set_t mine, inside;
    check_zero(sched_getaffinity(0, sizeof mine, &mine) == 0 ? 0 : errno, "sched_getaffinity");
    int first = 0;
    while (!CPU_ISSET(first, &mine)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    pthread_attr_init(&attr);
    check_zero(pthread_attr_setaffinity_np(&attr, sizeof one, &one), "pthread_attr_setaffinity_np");
    check_zero(pthread_create(&t, &attr, own_affinity, &inside), "pthread_create with a CPU set");
    check_zero(pthread_join(t, nullptr), "pthread_join");
    pthread_attr_destroy(&attr);
    std::printf("a CPU set of one: the thread ran on %d CPU(s), %s\n", CPU_COUNT(&inside),
                CPU_EQUAL(&inside, &one) ? "the one asked for" : "not the one asked for");
    // No CPU set: the creator's.
    check_zero(pthread_create(&t, nullptr, own_affinity, &inside), "pthread_create");
    check_zero(pthread_join(t, nullptr), "pthread_join");
    std::printf("no CPU set: the thread %s its creator's\n", CPU_EQUAL(&inside, &mine) ? "has" : "does not have");

    // A signal mask.
    sigset_t blocked, seen_mask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    pthread_attr_init(&attr);
    check_zero(pthread_attr_setsigmask_np(&attr, &blocked), "pthread_attr_setsigmask_np");
    check_zero(pthread_create(&t, &attr, own_sigmask, &seen_mask), "pthread_create with a signal mask");
    check_zero(pthread_join(t, nullptr), "pthread_join");
    pthread_attr_destroy(&attr);
    std::printf("a signal mask of SIGUSR1: SIGUSR1 %s, SIGUSR2 %s in the thread\n",
                sigismember(&seen_mask, SIGUSR1) ? "blocked" : "not blocked",
                sigismember(&seen_mask, SIGUSR2) ? "blocked" : "not blocked");

    // Explicit scheduling: SCHED_OTHER is always allowed; SCHED_FIFO needs
    // CAP_SYS_NICE (or an RLIMIT_RTPRIO), and pthread_create says so.
    for (int policy : {SCHED_OTHER, SCHED_FIFO}) {
        sched_param param{};
        param.sched_priority = policy == SCHED_FIFO ? 1 : 0;
        pthread_attr_init(&attr);
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, policy);
        pthread_attr_setschedparam(&attr, &param);
        int observed = -1;
        const int err = pthread_create(&t, &attr, own_policy, &observed);
        if (err == 0) pthread_join(t, nullptr);
        pthread_attr_destroy(&attr);
        std::printf("explicit %s: %s%s\n", policy_name(policy), err == 0 ? "the thread ran with " : std::strerror(err),
                    err == 0 ? policy_name(observed) : "");
    }

    // Detached: it runs, and cannot be joined.
    sem_init(&detached_ran, 0, 0);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < 20; ++i) check_zero(pthread_create(&t, &attr, posts, nullptr), "pthread_create detached");
    pthread_attr_destroy(&attr);
    for (int i = 0; i < 20; ++i) sem_wait(&detached_ran);
    std::printf("20 detached threads ran\n");

    // pthread_exit, pthread_cancel, pthread_tryjoin_np, pthread_detach.
    check_zero(pthread_create(&t, nullptr, exits_early, nullptr), "pthread_create");
    check_zero(pthread_join(t, &result), "pthread_join");
    std::printf("pthread_exit(42): joined with %ld\n", static_cast<long>(reinterpret_cast<std::intptr_t>(result)));
    check_zero(pthread_create(&t, nullptr, waits_to_be_cancelled, nullptr), "pthread_create");
    const int busy = pthread_tryjoin_np(t, nullptr);
    check_zero(pthread_cancel(t), "pthread_cancel");
    check_zero(pthread_join(t, &result), "pthread_join");
    std::printf("pthread_tryjoin_np on a running thread: %s; pthread_cancel: joined with %s\n",
                busy == EBUSY ? "EBUSY" : std::strerror(busy), result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "another value");
    check_zero(pthread_create(&t, nullptr, waits_to_be_cancelled, nullptr), "pthread_create");
    check_zero(pthread_detach(t), "pthread_detach");
    std::printf("pthread_detach on a running thread: 0; joining it now: %s\n",
                pthread_join(t, nullptr) == EINVAL ? "EINVAL" : "something else");

    // pthread_key destructors.
    check_zero(pthread_key_create(&key, [](void *) { key_destructors.fetch_add(1); }), "pthread_key_create");
    for (int i = 0; i < 3; ++i) {
        check_zero(pthread_create(&t, nullptr, sets_key, nullptr), "pthread_create");
        check_zero(pthread_join(t, nullptr), "pthread_join");
    }
    std::printf("pthread_key destructors: %d for 3 threads\n", key_destructors.load());
}

// Many threads one after another (each ended thread's stack is reused), and
// many at once.
void many_threads() {
    std::atomic<long> ran{0};
    for (int i = 0; i < 300; ++i) std::thread([&ran] { ran.fetch_add(1); }).join();
    std::vector<std::thread> at_once;
    for (int i = 0; i < 64; ++i) at_once.emplace_back([&ran] { ran.fetch_add(1); });
    for (auto &t : at_once) t.join();
    std::printf("364 threads ran: %ld\n", ran.load());
}

// Threads glibc makes for itself, with its internal pthread_create, which no
// preload reaches: a SIGEV_THREAD timer's helper and notification threads
// (sysdeps/unix/sysv/linux/timer_routines.c) and POSIX AIO's workers
// (sysdeps/unix/sysv/linux/aio_misc.h, __aio_create_helper_thread). They
// work, and are not counted as clonert's.
sem_t timer_fired;
void on_timer(sigval) { sem_post(&timer_fired); }

void glibc_internal_threads() {
    sem_init(&timer_fired, 0, 0);
    sigevent ev{};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_timer;
    timer_t timer;
    check(timer_create(CLOCK_MONOTONIC, &ev, &timer) == 0, "timer_create");
    itimerspec in_a_millisecond{};
    in_a_millisecond.it_value.tv_nsec = 1000 * 1000;
    check(timer_settime(timer, 0, &in_a_millisecond, nullptr) == 0, "timer_settime");
    sem_wait(&timer_fired);
    timer_delete(timer);
    std::printf("a SIGEV_THREAD timer ran its function\n");

    const int fd = open("/proc/self/exe", O_RDONLY);
    check(fd >= 0, "open");
    char magic[4] = {};
    aiocb request{};
    request.aio_fildes = fd;
    request.aio_buf = magic;
    request.aio_nbytes = sizeof magic;
    check(aio_read(&request) == 0, "aio_read");
    const aiocb *list[1] = {&request};
    while (aio_error(&request) == EINPROGRESS) aio_suspend(list, 1, nullptr);
    std::printf("aio_read: %zd bytes, %s\n", aio_return(&request),
                std::memcmp(magic, "\177ELF", 4) == 0 ? "an ELF header" : "something else");
    close(fd);
}

}  // namespace

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std_thread();
    std_async();
    std_jthread();
    pthread_attributes();
    many_threads();
    glibc_internal_threads();
    std::printf("done\n");
    return 0;
}
