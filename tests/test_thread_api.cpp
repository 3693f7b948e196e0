// clonert::thread and clonert::jthread against the standard's contract for
// std::thread and std::jthread ([thread.thread.class], [thread.jthread.class]):
// how the callable and its arguments are copied, the members, thread::id,
// this_thread, the errors, and the two situations that must call
// std::terminate. The last cases run one body with both the standard types
// and clonert's to show that one may replace the other.
//
// Catch2 is not thread-safe: threads only record what they see; the main
// thread makes every assertion after joining them.
#include <clonert/thread.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <pthread.h>
#include <sstream>
#include <stop_token>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

// Counts its copies and moves, and remembers which thread made the last copy.
struct counted {
    static inline std::atomic<int> copies{0};
    static inline std::atomic<int> moves{0};
    static inline std::atomic<pid_t> copied_in{0};
    int value = 0;

    explicit counted(int v) : value(v) {}
    counted(const counted &o) : value(o.value) {
        ++copies;
        copied_in = gettid();
    }
    counted(counted &&o) noexcept : value(o.value) { ++moves; }
    counted &operator=(const counted &) = delete;
    counted &operator=(counted &&) = delete;

    static void reset() {
        copies = 0;
        moves = 0;
        copied_in = 0;
    }
};

struct accumulator {
    int total = 0;
    void add(int n, int times) { total += n * times; }
};

using clonert_test::status_of_child;

constexpr int terminated_exit_code = 42;

[[noreturn]] void exit_on_terminate() { _exit(terminated_exit_code); }

bool exited_with(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

template <class F>
std::errc error_of(F f) {
    try {
        f();
    } catch (const std::system_error &e) {
        for (auto c : {std::errc::invalid_argument, std::errc::resource_deadlock_would_occur,
                       std::errc::no_such_process})
            if (e.code() == c) return c;
        return std::errc::io_error;  // some other error: fails every check below
    }
    return std::errc{};  // nothing thrown
}

}  // namespace

// --- The callable and its arguments ----------------------------------------

TEST_CASE("arguments are decay-copied in the creating thread and moved into the call") {
    counted::reset();
    counted arg(7);
    std::atomic<int> seen{0};
    clonert::thread t([&seen](counted c) { seen = c.value; }, arg);
    const pid_t creator = gettid();
    t.join();
    CHECK(seen == 7);
    CHECK(counted::copies == 1);            // the decay-copy...
    CHECK(counted::copied_in == creator);   // ...made by the creating thread
    CHECK(counted::moves == 1);             // invoked as an rvalue: moved into the parameter
}

TEST_CASE("a later change to the original does not reach the thread's copy") {
    int value = 1;
    std::atomic<bool> changed{false};
    std::atomic<int> seen{0};
    clonert::thread t(
        [&](int copy) {
            while (!changed) clonert::this_thread::yield();
            seen = copy;
        },
        value);
    value = 2;
    changed = true;
    t.join();
    CHECK(seen == 1);
}

TEST_CASE("std::ref passes a reference") {
    int target = 0;
    clonert::thread t([](int &r) { r = 99; }, std::ref(target));
    t.join();
    CHECK(target == 99);
}

TEST_CASE("move-only arguments are moved into the thread") {
    auto owned = std::make_unique<int>(42);
    std::atomic<int> seen{0};
    clonert::thread t([&seen](std::unique_ptr<int> p) { seen = *p; }, std::move(owned));
    t.join();
    CHECK(seen == 42);
    CHECK(owned == nullptr);
}

TEST_CASE("a member function pointer is called on the object passed next") {
    accumulator acc;
    clonert::thread by_pointer(&accumulator::add, &acc, 5, 3);
    by_pointer.join();
    CHECK(acc.total == 15);
    clonert::thread by_reference(&accumulator::add, std::ref(acc), 1, 2);
    by_reference.join();
    CHECK(acc.total == 17);
}

TEST_CASE("the callable's return value is ignored") {
    std::atomic<bool> ran{false};
    clonert::thread t([&ran] {
        ran = true;
        return std::string("discarded");
    });
    t.join();
    CHECK(ran);
}

// --- Members -----------------------------------------------------------------

TEST_CASE("a default-constructed thread is not a thread") {
    clonert::thread t;
    CHECK_FALSE(t.joinable());
    CHECK(t.get_id() == clonert::thread::id{});
}

TEST_CASE("joinable until joined or detached") {
    std::atomic<bool> release{false};
    clonert::thread a([&] {
        while (!release) clonert::this_thread::sleep_for(1ms);
    });
    clonert::thread b([] {});
    CHECK(a.joinable());
    CHECK(b.joinable());
    b.detach();
    CHECK_FALSE(b.joinable());
    CHECK(b.get_id() == clonert::thread::id{});
    release = true;
    a.join();
    CHECK_FALSE(a.joinable());
    CHECK(a.get_id() == clonert::thread::id{});
}

TEST_CASE("native_handle is the thread's pthread_self, tid its TID; get_id matches this_thread::get_id") {
    std::atomic<pid_t> tid_inside{0};
    pthread_t self_inside{};
    clonert::thread::id id_inside;
    std::atomic<bool> recorded{false};
    clonert::thread t([&] {
        tid_inside = gettid();
        self_inside = pthread_self();
        id_inside = clonert::this_thread::get_id();
        recorded = true;
    });
    const pthread_t handle = t.native_handle();
    const pid_t tid = t.tid();
    const clonert::thread::id id = t.get_id();
    t.join();
    REQUIRE(recorded);
    CHECK(pthread_equal(handle, self_inside));
    CHECK_FALSE(pthread_equal(handle, pthread_self()));
    CHECK(tid == tid_inside);
    CHECK(tid != gettid());
    CHECK(id == id_inside);
    CHECK(id != clonert::this_thread::get_id());
    CHECK(clonert::this_thread::get_id() == clonert::thread::id(pthread_self()));
    CHECK(clonert::this_thread::get_tid() == gettid());
}

TEST_CASE("swap, move construction and move assignment carry the thread") {
    std::atomic<bool> release{false};
    auto wait = [&] {
        while (!release) clonert::this_thread::sleep_for(1ms);
    };
    clonert::thread a(wait), b;
    const auto id = a.get_id();
    a.swap(b);
    CHECK_FALSE(a.joinable());
    CHECK(b.get_id() == id);
    swap(a, b);  // the free function
    CHECK(a.get_id() == id);

    clonert::thread moved(std::move(a));
    CHECK(moved.get_id() == id);
    CHECK_FALSE(a.joinable());  // NOLINT(bugprone-use-after-move): the standard says so
    clonert::thread assigned;
    assigned = std::move(moved);
    CHECK(assigned.get_id() == id);
    CHECK_FALSE(moved.joinable());
    release = true;
    assigned.join();
}

TEST_CASE("thread::id is ordered, hashable and streamable") {
    constexpr int n = 8;
    std::atomic<bool> release{false};
    std::vector<clonert::thread> threads;
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&] {
            while (!release) clonert::this_thread::sleep_for(1ms);
        });
    std::unordered_set<clonert::thread::id> ids;
    std::unordered_set<std::string> printed;
    for (auto &t : threads) {
        ids.insert(t.get_id());
        std::ostringstream out;
        out << t.get_id();
        printed.insert(out.str());
        CHECK(out.str() == std::to_string(t.native_handle()));
    }
    CHECK(ids.size() == n);      // all distinct, and the hash accepts them
    CHECK(printed.size() == n);
    const auto a = threads[0].get_id(), b = threads[1].get_id();
    CHECK((a < b) != (b < a));   // a strict order between distinct ids
    CHECK((a <=> a) == std::strong_ordering::equal);
    CHECK(clonert::thread::id{} < a);  // "not a thread" orders first: a null pthread_t
    release = true;
    for (auto &t : threads) t.join();
}

// --- this_thread and hardware_concurrency -------------------------------------

TEST_CASE("sleep_for and sleep_until wait at least as long as asked, inside a thread") {
    using clock = std::chrono::steady_clock;
    clock::duration slept_for{}, slept_until{};
    clock::time_point deadline, woke;
    clonert::thread t([&] {
        auto start = clock::now();
        clonert::this_thread::sleep_for(30ms);
        slept_for = clock::now() - start;
        deadline = clock::now() + 20ms;
        clonert::this_thread::sleep_until(deadline);
        woke = clock::now();
    });
    t.join();
    CHECK(slept_for >= 30ms);
    CHECK(woke >= deadline);
}

TEST_CASE("yield lets a spinning thread see another thread's progress") {
    std::atomic<int> turn{0};
    constexpr int rounds = 200;
    // Each thread waits, yielding, for its turn: both finish only if each
    // yield gives the other thread a chance to run.
    auto player = [&](int me) {
        for (int i = 0; i < rounds; ++i) {
            while (turn % 2 != me) clonert::this_thread::yield();
            ++turn;
        }
    };
    clonert::thread a(player, 0), b(player, 1);
    a.join();
    b.join();
    CHECK(turn == 2 * rounds);
}

TEST_CASE("hardware_concurrency is the standard's") {
    CHECK(clonert::thread::hardware_concurrency() > 0);
    CHECK(clonert::thread::hardware_concurrency() == std::thread::hardware_concurrency());
    CHECK(clonert::jthread::hardware_concurrency() == std::thread::hardware_concurrency());
}

// --- Errors --------------------------------------------------------------------

TEST_CASE("join or detach of a non-joinable thread throws invalid_argument") {
    clonert::thread empty;
    CHECK(error_of([&] { empty.join(); }) == std::errc::invalid_argument);
    CHECK(error_of([&] { empty.detach(); }) == std::errc::invalid_argument);

    clonert::thread t([] {});
    t.join();
    CHECK(error_of([&] { t.join(); }) == std::errc::invalid_argument);

    clonert::thread d([] {});
    d.detach();
    CHECK(error_of([&] { d.detach(); }) == std::errc::invalid_argument);
    CHECK(error_of([&] { d.join(); }) == std::errc::invalid_argument);
}

TEST_CASE("a thread joining itself gets resource_deadlock_would_occur") {
    clonert::thread t;
    std::atomic<bool> constructed{false};
    std::atomic<int> error{-1};
    t = clonert::thread([&] {
        while (!constructed) clonert::this_thread::yield();
        error = static_cast<int>(error_of([&] { t.join(); }));
    });
    constructed = true;
    // The thread reads `t` only after this point, and the failed self-join
    // must leave it joinable for us.
    while (error == -1) clonert::this_thread::sleep_for(1ms);
    REQUIRE(t.joinable());
    t.join();
    CHECK(error == static_cast<int>(std::errc::resource_deadlock_would_occur));
}

TEST_CASE("destroying a joinable thread calls std::terminate") {
    const int status = status_of_child([] {
        std::set_terminate(exit_on_terminate);
        clonert::thread t([] { clonert::this_thread::sleep_for(1s); });
    });
    CHECK(exited_with(status, terminated_exit_code));
}

TEST_CASE("move-assigning over a joinable thread calls std::terminate") {
    const int status = status_of_child([] {
        std::set_terminate(exit_on_terminate);
        clonert::thread a([] { clonert::this_thread::sleep_for(1s); });
        clonert::thread b([] {});
        a = std::move(b);
    });
    CHECK(exited_with(status, terminated_exit_code));
}

TEST_CASE("an exception escaping the thread function calls std::terminate") {
    const int status = status_of_child([] {
        std::set_terminate(exit_on_terminate);
        clonert::thread t([] { throw std::runtime_error("escapes"); });
        t.join();
    });
    CHECK(exited_with(status, terminated_exit_code));
}

TEST_CASE("the fork-based checks can fail: a child that does not terminate exits 0") {
    // The control for the three cases above: without a terminating action the
    // child reaches _exit(0), so exit code 42 above really comes from terminate.
    const int status = status_of_child([] {
        std::set_terminate(exit_on_terminate);
        clonert::thread t([] {});
        t.join();
    });
    CHECK(exited_with(status, 0));
}

// --- jthread -----------------------------------------------------------------

TEST_CASE("jthread joins on destruction") {
    std::atomic<bool> finished{false};
    {
        clonert::jthread j([&] {
            clonert::this_thread::sleep_for(50ms);
            finished = true;
        });
    }
    CHECK(finished);
}

TEST_CASE("jthread passes a stop_token first when the callable takes one") {
    std::atomic<bool> stop_seen{false};
    std::atomic<int> extra{0};
    clonert::jthread j(
        [&](std::stop_token st, int x) {
            extra = x;
            while (!st.stop_requested()) clonert::this_thread::sleep_for(1ms);
            stop_seen = true;
        },
        5);
    clonert::this_thread::sleep_for(10ms);
    CHECK_FALSE(stop_seen);
    CHECK(j.request_stop());
    j.join();
    CHECK(stop_seen);
    CHECK(extra == 5);
}

TEST_CASE("jthread's destructor requests stop before joining") {
    std::atomic<bool> stop_seen{false};
    {
        clonert::jthread j([&](std::stop_token st) {
            while (!st.stop_requested()) clonert::this_thread::sleep_for(1ms);
            stop_seen = true;
        });
    }  // would hang (and time out) if the destructor only joined
    CHECK(stop_seen);
}

TEST_CASE("jthread's stop source is shared with the thread's token") {
    std::atomic<bool> callback_ran{false};
    std::atomic<bool> registered{false};
    clonert::jthread j([&](std::stop_token st) {
        std::stop_callback cb(st, [&] { callback_ran = true; });
        registered = true;
        while (!st.stop_requested()) clonert::this_thread::sleep_for(1ms);
    });
    while (!registered) clonert::this_thread::sleep_for(1ms);
    std::stop_source source = j.get_stop_source();
    CHECK(source.stop_possible());
    CHECK(j.get_stop_token().stop_possible());
    source.request_stop();
    j.join();
    CHECK(callback_ran);
    CHECK(j.get_stop_token().stop_requested());
}

TEST_CASE("a default-constructed jthread has no stop state and no thread") {
    clonert::jthread j;
    CHECK_FALSE(j.joinable());
    CHECK(j.get_id() == clonert::jthread::id{});
    CHECK_FALSE(j.get_stop_source().stop_possible());
}

// --- One body, the standard's types and clonert's ------------------------------

namespace {

template <class Thread>
std::vector<long> partial_sums(const std::vector<int> &values, int parts) {
    std::vector<long> sums(parts, 0);
    std::vector<Thread> threads;
    const std::size_t chunk = values.size() / parts;
    for (int p = 0; p < parts; ++p)
        threads.emplace_back(
            [&values, &sums](int part, std::size_t from, std::size_t to) {
                sums[part] = std::accumulate(values.begin() + from, values.begin() + to, 0L);
            },
            p, p * chunk, p + 1 == parts ? values.size() : (p + 1) * chunk);
    for (auto &t : threads) t.join();
    return sums;
}

}  // namespace

TEMPLATE_TEST_CASE("drop-in: the same code with std::thread and clonert::thread", "[dropin]",
                   std::thread, clonert::thread) {
    std::vector<int> values(100000);
    std::iota(values.begin(), values.end(), 1);
    const auto sums = partial_sums<TestType>(values, 4);
    CHECK(std::accumulate(sums.begin(), sums.end(), 0L) == 100000L * 100001 / 2);

    TestType empty;
    CHECK_FALSE(empty.joinable());
    CHECK(empty.get_id() == typename TestType::id{});

    counted::reset();
    counted arg(3);
    TestType t([](counted, int &out) { out = 1; }, arg, std::ref(values[0]));
    TestType moved(std::move(t));
    CHECK_FALSE(t.joinable());  // NOLINT(bugprone-use-after-move)
    CHECK(moved.joinable());
    moved.join();
    CHECK(values[0] == 1);
    CHECK(counted::copies == 1);
    CHECK(counted::moves == 1);

    try {
        moved.join();
        FAIL("join of a joined thread did not throw");
    } catch (const std::system_error &e) {
        CHECK(e.code() == std::errc::invalid_argument);
    }
}

TEMPLATE_TEST_CASE("drop-in: the same code with std::jthread and clonert::jthread", "[dropin]",
                   std::jthread, clonert::jthread) {
    std::atomic<int> iterations{0};
    {
        TestType j([&](std::stop_token st) {
            while (!st.stop_requested()) {
                ++iterations;
                std::this_thread::sleep_for(1ms);
            }
        });
        while (iterations < 3) std::this_thread::sleep_for(1ms);
    }
    CHECK(iterations >= 3);
}
