// The standard's thread identity and jthread's choice of call (issue 12),
// each rule run with the standard's types and with clonert's:
//   [thread.thread.id]     an id is unique among threads that are joinable
//                          or still running; the default id is "no thread";
//                          ==, <=> and std::hash agree; operator<< prints as
//                          std::thread::id does
//   [thread.thread.this]   this_thread::get_id() is the calling thread's id
//   [thread.jthread.cons]  invoke(f, get_stop_token(), args...) when that is
//                          well-formed, else invoke(f, args...): std::invoke's
//                          rules, pointers to members included
//
// Catch2 is not thread-safe: threads only record what they see; the main
// thread makes every assertion.
#include <clonert/thread.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <functional>
#include <iomanip>
#include <memory>
#include <sched.h>
#include <set>
#include <sstream>
#include <stop_token>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

template <class Thread>
constexpr bool is_std = std::is_same_v<Thread, std::thread> || std::is_same_v<Thread, std::jthread>;

// this_thread::get_id() of the library Thread belongs to.
template <class Thread>
typename Thread::id current_id() {
    if constexpr (is_std<Thread>) return std::this_thread::get_id();
    else return clonert::this_thread::get_id();
}

// Blocks until `flag` is set (a futex wait, not a spin).
void wait_for(const std::atomic<bool> &flag) {
    while (!flag.load()) flag.wait(false);
}
void raise_flag(std::atomic<bool> &flag) {
    flag = true;
    flag.notify_all();
}

template <class Id>
std::string printed(Id id) {
    std::ostringstream out;
    out << id;
    return out.str();
}

bool task_listed(pid_t tid) {
    return access(("/proc/self/task/" + std::to_string(tid)).c_str(), F_OK) == 0;
}

}  // namespace

// --- The default id ------------------------------------------------------------------

TEMPLATE_TEST_CASE("the default id is no thread: a thread's id until it is joined or detached",
                   "[id]", std::thread, clonert::thread) {
    using id = typename TestType::id;
    TestType none;
    CHECK(none.get_id() == id());
    std::atomic<bool> release{false};
    TestType joined([&] { wait_for(release); });
    TestType detached([] {});
    CHECK(joined.get_id() != id());
    CHECK(detached.get_id() != id());
    detached.detach();
    CHECK(detached.get_id() == id());
    raise_flag(release);
    joined.join();
    CHECK(joined.get_id() == id());
    CHECK(current_id<TestType>() != id());  // main is a thread
}

// --- this_thread::get_id -----------------------------------------------------------

TEMPLATE_TEST_CASE("this_thread::get_id inside a thread is its object's get_id, not its creator's",
                   "[id]", std::thread, clonert::thread) {
    using id = typename TestType::id;
    id inside;
    TestType t([&] { inside = current_id<TestType>(); });
    const id outside = t.get_id();
    t.join();
    CHECK(inside == outside);
    CHECK(inside != current_id<TestType>());
    CHECK(current_id<TestType>() == current_id<TestType>());
}

TEST_CASE("clonert::this_thread::get_id in main and in a std::thread names that thread") {
    // For a thread clonert did not make, its id is its pthread_t's, as a
    // clonert::thread::id is made from a native handle.
    CHECK(clonert::this_thread::get_id() == clonert::thread::id(pthread_self()));
    clonert::thread::id inside, twice;
    std::thread t([&] {
        inside = clonert::this_thread::get_id();
        twice = clonert::this_thread::get_id();
    });
    const clonert::thread::id of_object(t.native_handle());
    t.join();
    CHECK(inside == of_object);
    CHECK(inside == twice);
    CHECK(inside != clonert::this_thread::get_id());
}

// --- Unique among joinable and running threads --------------------------------------

TEMPLATE_TEST_CASE("ids are unique among finished-but-unjoined, new and detached running threads",
                   "[id]", std::thread, clonert::thread) {
    using id = typename TestType::id;
    constexpr int n = 48;
    // Batch 1 ends at once and stays unjoined.
    // Atomics: batch 1 is read before it is joined.
    std::vector<std::atomic<pid_t>> finished_tids(n);
    std::vector<std::atomic<id>> ids_inside(3 * n);
    std::vector<TestType> finished;
    for (int i = 0; i < n; ++i)
        finished.emplace_back([&, i] {
            finished_tids[i] = gettid();
            ids_inside[i] = current_id<TestType>();
        });
    clonert_test::wait_for_tasks();
    // The premise: the kernel has already freed the TIDs of the unjoined
    // threads (kernel/exit.c, release_task), so a TID cannot be the id.
    int still_listed = 0;
    for (const auto &tid : finished_tids) still_listed += task_listed(tid) ? 1 : 0;
    CHECK(still_listed == 0);

    // Batch 2 runs while batch 1 is unjoined; batch 3 runs detached.
    auto release = std::make_shared<std::atomic<bool>>(false);
    auto detached_done = std::make_shared<std::atomic<int>>(0);
    std::atomic<int> recorded{0};
    std::vector<TestType> running;
    for (int i = n; i < 2 * n; ++i)
        running.emplace_back([&, i, release] {
            ids_inside[i] = current_id<TestType>();
            ++recorded;
            wait_for(*release);
        });
    for (int i = 2 * n; i < 3 * n; ++i) {
        TestType([&, i, release, detached_done] {
            ids_inside[i] = current_id<TestType>();
            ++recorded;
            wait_for(*release);
            ++*detached_done;
        }).detach();
    }
    while (recorded.load() < 2 * n) std::this_thread::sleep_for(1ms);

    std::set<id> distinct;
    for (const auto &i : ids_inside) distinct.insert(i.load());
    CHECK(distinct.size() == 3 * n);
    CHECK(distinct.count(id()) == 0);
    CHECK(distinct.count(current_id<TestType>()) == 0);
    int objects_agree = 0;
    for (int i = 0; i < n; ++i) {
        objects_agree += finished[i].get_id() == ids_inside[i].load() ? 1 : 0;
        objects_agree += running[i].get_id() == ids_inside[n + i].load() ? 1 : 0;
    }
    CHECK(objects_agree == 2 * n);

    raise_flag(*release);
    for (auto &t : finished) t.join();
    for (auto &t : running) t.join();
    while (detached_done->load() < n) std::this_thread::sleep_for(1ms);
    clonert_test::wait_for_tasks();  // the detached ones are past their last instruction
}

namespace {

// In a new PID namespace, where this process may choose the next TID
// (ns_last_pid, pid_namespaces(7)): a thread ends unjoined, a new thread is
// given the same TID, and the two ids must still differ. Returns 0 if so, 1
// if the ids are equal, 2 if the TID could not be reused, 3 if no PID
// namespace could be made (from the middle process).
template <class Thread>
int ids_of_two_threads_with_one_tid() {
    if (unshare(CLONE_NEWPID) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0) return 3;
    const pid_t pid = fork();  // the first child is the namespace's init, PID 1
    if (pid < 0) return 3;
    if (pid == 0) {
        alarm(60);
        std::atomic<pid_t> first_tid{0};
        Thread first([&] { first_tid = gettid(); });
        while (first_tid.load() == 0) std::this_thread::sleep_for(1ms);
        // Until its TID is free: ask the kernel for it, next.
        for (int attempt = 0; attempt < 10000; ++attempt) {
            const int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
            if (fd < 0) _exit(2);
            const std::string last = std::to_string(first_tid.load() - 1);
            const bool written = write(fd, last.data(), last.size()) ==
                                 static_cast<ssize_t>(last.size());
            close(fd);
            if (!written) _exit(2);
            std::atomic<pid_t> second_tid{0};
            std::atomic<bool> release{false};
            Thread second([&] {
                second_tid = gettid();
                wait_for(release);
            });
            while (second_tid.load() == 0) std::this_thread::sleep_for(1ms);
            if (second_tid.load() == first_tid.load()) {
                const bool differ = first.get_id() != second.get_id();
                raise_flag(release);
                second.join();
                first.join();
                _exit(differ ? 0 : 1);
            }
            raise_flag(release);
            second.join();
            usleep(1000);
        }
        _exit(2);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return 3;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEMPLATE_TEST_CASE("a new thread given an unjoined thread's TID has a different id", "[id]",
                   std::thread, clonert::thread) {
    const int outcome =
        clonert_test::in_child([] { return ids_of_two_threads_with_one_tid<TestType>(); });
    if (outcome == 3)
        CLONERT_SKIP("no PID namespace: unshare(CLONE_NEWPID) refused, also with CLONE_NEWUSER");
    INFO("0: ids differ, 1: ids equal, 2: the TID was not reused; else 128 + signal");
    CHECK(outcome == 0);
}

// --- ==, <=>, hash ---------------------------------------------------------------------

TEMPLATE_TEST_CASE("==, <, <=> and hash agree on the ids of several threads, main and none",
                   "[id]", std::thread, clonert::thread) {
    using id = typename TestType::id;
    constexpr int n = 8;
    std::atomic<bool> release{false};
    std::vector<TestType> threads;
    for (int i = 0; i < n; ++i) threads.emplace_back([&] { wait_for(release); });
    std::vector<id> ids{id(), current_id<TestType>()};
    for (auto &t : threads) ids.push_back(t.get_id());
    ids.push_back(threads[0].get_id());  // one id twice, and the default twice
    ids.push_back(id());
    const std::hash<id> hash;
    int disagreements = 0;
    for (const id a : ids)
        for (const id b : ids) {
            const bool equal = a == b;
            disagreements += equal == (a != b);
            disagreements += equal != (!(a < b) && !(b < a));   // a total order
            disagreements += equal != ((a <=> b) == 0);
            disagreements += (a < b) != ((a <=> b) < 0);
            disagreements += (a < b) != (b > a);
            disagreements += (a <= b) != !(b < a);
            disagreements += (a >= b) != !(a < b);
            disagreements += equal && hash(a) != hash(b);
        }
    CHECK(disagreements == 0);
    std::unordered_set<id> in_hash_set(ids.begin(), ids.end());
    CHECK(in_hash_set.size() == n + 2);
    std::vector<id> sorted(ids.begin(), ids.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    CHECK(sorted.size() == n + 2);
    raise_flag(release);
    for (auto &t : threads) t.join();
}

// --- operator<< ------------------------------------------------------------------------

TEMPLATE_TEST_CASE("operator<<: the default id prints as std::thread::id's does, others as numbers",
                   "[id]", std::thread, clonert::thread) {
    using id = typename TestType::id;
    CHECK(printed(id()) == printed(std::thread::id()));
    std::wostringstream wide, std_wide;  // any character type, as std's
    wide << id();
    std_wide << std::thread::id();
    CHECK((wide.str() == std_wide.str()));
    std::ostringstream padded, std_padded;  // the stream's width applies, as to std's
    padded << std::setw(60) << std::left << id() << '|';
    std_padded << std::setw(60) << std::left << std::thread::id() << '|';
    CHECK(padded.str() == std_padded.str());

    std::atomic<bool> release{false};
    TestType a([&] { wait_for(release); }), b([&] { wait_for(release); });
    const std::string pa = printed(a.get_id()), pb = printed(b.get_id());
    CHECK(pa != pb);
    CHECK(pa != printed(id()));
    CHECK_FALSE(pa.empty());
    CHECK(pa.find_first_not_of("0123456789") == std::string::npos);
    raise_flag(release);
    a.join();
    b.join();
}

TEMPLATE_TEST_CASE("operator<<: a thread's clonert id prints as its std::thread::id", "[id]",
                   std::thread, clonert::thread) {
    // libstdc++ and libc++ both print a std::thread::id as its pthread_t.
    std::string as_std, as_clonert;
    TestType t([&] {
        as_std = printed(std::this_thread::get_id());
        as_clonert = printed(clonert::this_thread::get_id());
    });
    t.join();
    CHECK(as_clonert == as_std);
    CHECK(printed(clonert::this_thread::get_id()) == printed(std::this_thread::get_id()));
}

// --- jthread: with get_stop_token() first, or without --------------------------------

namespace {

struct counter {
    std::atomic<int> total{0};
    void add(int n) { total += n; }
};

struct box {
    int value = 7;
};

// A pointer-like object: std::invoke reaches a member through operator*
// ([func.require]), which counts that it was called.
struct counting_pointer {
    box *target;
    std::atomic<int> *dereferences;
    box &operator*() const {
        ++*dereferences;
        return *target;
    }
};

// Both calls are well-formed; [thread.jthread.cons] picks the token's.
struct both_calls {
    std::atomic<int> *which;
    void operator()(std::stop_token, int n) const { *which = 100 + n; }
    void operator()(int n) const { *which = n; }
};

struct worker_with_token {
    std::atomic<bool> *saw_token;
    void run(std::stop_token token) { *saw_token = token.stop_possible(); }
};

}  // namespace

TEMPLATE_TEST_CASE("jthread: a lambda taking (std::stop_token, int) gets the jthread's token",
                   "[jthread]", std::jthread, clonert::jthread) {
    std::atomic<int> got{0};
    std::atomic<bool> stop_seen{false}, possible{false};
    TestType j(
        [&](std::stop_token token, int n) {
            got = n;
            possible = token.stop_possible();
            while (!token.stop_requested()) std::this_thread::sleep_for(1ms);
            stop_seen = true;
        },
        41);
    j.request_stop();
    j.join();
    CHECK(got == 41);
    CHECK(possible);
    CHECK(stop_seen);
}

TEMPLATE_TEST_CASE("jthread: a callable that takes the token either way gets it", "[jthread]",
                   std::jthread, clonert::jthread) {
    std::atomic<int> arguments{0}, which{0};
    TestType([&](auto &&...a) { arguments = sizeof...(a); }, 1, 2).join();
    CHECK(arguments == 3);  // the token, 1, 2
    TestType(both_calls{&which}, 5).join();
    CHECK(which == 105);
    TestType([&](int n) { which = n; }, 6).join();  // not callable with it: without
    CHECK(which == 6);
}

TEMPLATE_TEST_CASE("jthread: a pointer to a member function taking stop_token gets it as its object",
                   "[jthread]", std::jthread, clonert::jthread) {
    // The token goes where std::invoke puts the object, so a member function
    // gets it only as a member of std::stop_token: swap(stop_token&) swaps
    // the thread's token into `mine`, which then shares the jthread's state.
    std::stop_token mine;
    REQUIRE_FALSE(mine.stop_possible());
    TestType j(&std::stop_token::swap, std::ref(mine));
    j.join();
    CHECK(mine.stop_possible());
    CHECK_FALSE(mine.stop_requested());
    j.request_stop();
    CHECK(mine.stop_requested());

    // A member of another class cannot take the token as its first parameter:
    // std::jthread rejects (&worker::run, &w); std::bind_front is the way.
    static_assert(!std::is_invocable_v<decltype(&worker_with_token::run), std::stop_token,
                                       worker_with_token *>);
    std::atomic<bool> saw_token{false};
    worker_with_token w{&saw_token};
    TestType(std::bind_front(&worker_with_token::run, &w)).join();
    CHECK(saw_token);
}

TEMPLATE_TEST_CASE("jthread: a pointer to a member function not taking stop_token runs without it",
                   "[jthread]", std::jthread, clonert::jthread) {
    counter c;
    TestType(&counter::add, &c, 5).join();
    TestType(&counter::add, std::ref(c), 6).join();
    CHECK(c.total == 11);
}

TEMPLATE_TEST_CASE("jthread: a pointer to a data member is invoked on its object, without the token",
                   "[jthread]", std::jthread, clonert::jthread) {
    box b;
    std::atomic<int> dereferences{0};
    TestType(&box::value, counting_pointer{&b, &dereferences}).join();
    CHECK(dereferences == 1);
    TestType(&box::value, &b).join();  // through a plain pointer: compiles and runs
}
