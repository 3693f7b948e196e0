// clonert::thread, jthread and thread::id have the standard's shape, as
// libstdc++ gives it (issue 16): what compiles with std's compiles with
// clonert's, and does the same.
//
//   - thread::id's comparisons and stream output are namespace-scope
//     functions ([thread.thread.id]), so a type that converts to the id
//     compares after `using namespace clonert;` as after `using namespace std;`;
//   - jthread takes every construction libstdc++'s takes, including its
//     extension for pointers to member functions whose first parameter is a
//     std::stop_token (GCC PR 100612; outside strict ISO mode);
//   - a thread object is its native handle and nothing more.
//
// Built twice (tests/meson.build): with -std=gnu++20, where libstdc++'s
// extension is on, and with -std=c++20 (__STRICT_ANSI__), where it is off
// and only the standard's forms are tried. Most checks are compile-time: the
// program does not build if one fails; the rest run each construction on
// std's type and on clonert's and compare what the threads saw.

#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <clonert/thread.hpp>

#include "catch.hpp"

// --- One handle, nothing more ------------------------------------------------------

static_assert(sizeof(std::thread) == sizeof(std::thread::native_handle_type));
static_assert(sizeof(clonert::thread) == sizeof(clonert::thread::native_handle_type));
static_assert(alignof(clonert::thread) == alignof(clonert::thread::native_handle_type));
static_assert(std::is_same_v<clonert::thread::native_handle_type, std::thread::native_handle_type>);
static_assert(sizeof(clonert::jthread) == sizeof(std::jthread));
static_assert(sizeof(clonert::thread::id) == sizeof(std::thread::id));
static_assert(std::is_trivially_copyable_v<clonert::thread::id> == std::is_trivially_copyable_v<std::thread::id>);
static_assert(std::is_nothrow_default_constructible_v<clonert::thread> &&
              std::is_nothrow_move_constructible_v<clonert::thread> &&
              std::is_nothrow_move_assignable_v<clonert::thread> &&
              !std::is_copy_constructible_v<clonert::thread>);

// --- thread::id's operators, found by ordinary lookup --------------------------------

// A type of the user's that converts to the id, in a namespace of its own:
// argument-dependent lookup of the user's type finds nothing, so only a
// namespace-scope operator brought in by the using-directive can serve.
template <class Id>
struct converts_to {
    Id id;
    operator Id() const { return id; }
};

namespace with_std {
using namespace std;
using converting = converts_to<thread::id>;
template <class T>
concept comparable = requires(T a, T b, std::ostringstream &out) {
    { a == b } -> std::same_as<bool>;
    { a != b } -> std::same_as<bool>;
    { a < b } -> std::same_as<bool>;
    { a >= b } -> std::same_as<bool>;
    { a <=> b } -> std::same_as<std::strong_ordering>;
    out << a;
};
static_assert(comparable<converting>);
inline bool less(converting a, converting b) { return a < b; }
inline std::string printed(converting a) {
    std::ostringstream out;
    out << a;
    return out.str();
}
}  // namespace with_std

namespace with_clonert {
using namespace clonert;
using converting = converts_to<thread::id>;
template <class T>
concept comparable = requires(T a, T b, std::ostringstream &out) {
    { a == b } -> std::same_as<bool>;
    { a != b } -> std::same_as<bool>;
    { a < b } -> std::same_as<bool>;
    { a >= b } -> std::same_as<bool>;
    { a <=> b } -> std::same_as<std::strong_ordering>;
    out << a;
};
static_assert(comparable<converting>);
inline bool less(converting a, converting b) { return a < b; }
inline std::string printed(converting a) {
    std::ostringstream out;
    out << a;
    return out.str();
}
}  // namespace with_clonert

// The same operators, declared at namespace scope in each library.
static_assert(std::is_same_v<decltype(std::operator==(std::thread::id(), std::thread::id())), bool>);
static_assert(std::is_same_v<decltype(clonert::operator==(clonert::thread::id(), clonert::thread::id())), bool>);
static_assert(std::is_same_v<decltype(clonert::operator<=>(clonert::thread::id(), clonert::thread::id())),
                             std::strong_ordering>);

TEST_CASE("a type converting to thread::id compares and prints after using namespace, as std's does") {
    std::thread s1([] {}), s2([] {});
    clonert::thread c1([] {}), c2([] {});
    // The same two threads' order and text under both ids: clonert's id of a
    // thread is its pthread_t, as libstdc++'s is.
    const with_std::converting sa{s1.get_id()}, sb{s2.get_id()};
    const with_clonert::converting ca{clonert::thread::id(s1.native_handle())},
        cb{clonert::thread::id(s2.native_handle())};
    CHECK(with_std::less(sa, sb) == with_clonert::less(ca, cb));
    CHECK(with_std::less(sb, sa) == with_clonert::less(cb, ca));
    CHECK(with_std::printed(sa) == with_clonert::printed(ca));
    CHECK(with_std::printed(with_std::converting{}) == with_clonert::printed(with_clonert::converting{}));
    // And clonert's own threads.
    const with_clonert::converting c1id{c1.get_id()}, c2id{c2.get_id()};
    CHECK(with_clonert::less(c1id, c2id) != with_clonert::less(c2id, c1id));
    s1.join();
    s2.join();
    c1.join();
    c2.join();
}

// --- jthread's constructions -----------------------------------------------------------

namespace {

// What each thread saw, in order; one list for std's run and one for clonert's.
std::mutex seen_lock;
std::vector<std::string> seen;

void saw(std::string what) {
    const std::lock_guard hold(seen_lock);
    seen.push_back(std::move(what));
}

std::string token_state(const std::stop_token &t) {
    return t.stop_possible() ? "token" : "no-token";
}

struct worker {
    int base = 40;
    void plain() { saw("plain " + std::to_string(base)); }
    void plain_args(int n, std::string s) { saw("plain_args " + std::to_string(base + n) + s); }
    void with_token(std::stop_token t) { saw("with_token " + token_state(t) + std::to_string(base)); }
    void with_token_args(std::stop_token t, int n) {
        saw("with_token_args " + token_state(t) + std::to_string(base + n));
    }
    void with_token_ref(const std::stop_token &t) const { saw("with_token_ref " + token_state(t)); }
    void rvalue_only(std::stop_token t) && { saw("rvalue_only " + token_state(t)); }
    static void static_with_token(std::stop_token t, int n) {
        saw("static_with_token " + token_state(t) + std::to_string(n));
    }
};

void free_with_token(std::stop_token t, int n) { saw("free_with_token " + token_state(t) + std::to_string(n)); }
void free_plain(int n) { saw("free_plain " + std::to_string(n)); }

struct move_only_callable {
    std::unique_ptr<int> value = std::make_unique<int>(7);
    void operator()(std::stop_token t, std::unique_ptr<int> arg) const {
        saw("move_only " + token_state(t) + std::to_string(*value + *arg));
    }
};

// Every construction, on one jthread type; the threads are joined one by one
// so that `seen` has one order.
template <class JThread>
std::vector<std::string> run_constructions() {
    seen.clear();
    worker w;
    const worker cw;
    { JThread t([] { saw("lambda"); }); }
    { JThread t([](std::stop_token tok) { saw("lambda token " + token_state(tok)); }); }
    { JThread t([](std::stop_token tok, int n, std::string s) { saw("lambda args " + token_state(tok) + std::to_string(n) + s); }, 1, "x"); }
    { JThread t([](int n) { saw("lambda int " + std::to_string(n)); }, 2); }
    { JThread t(free_with_token, 3); }
    { JThread t(&free_with_token, 4); }
    { JThread t(free_plain, 5); }
    { JThread t(&worker::static_with_token, 6); }
    { JThread t(&worker::plain, &w); }
    { JThread t(&worker::plain_args, &w, 2, std::string("y")); }
    { JThread t(&worker::plain, w); }  // the object decay-copied
    { JThread t(&worker::plain, std::ref(w)); }
    { JThread t(move_only_callable{}, std::make_unique<int>(1)); }
    { JThread t(&worker::base, &w); }  // a pointer to data member: invoke reads it
#ifndef __STRICT_ANSI__
    // libstdc++'s extension: the token after the object.
    { JThread t(&worker::with_token, &w); }
    { JThread t(&worker::with_token_args, &w, 1); }
    { JThread t(&worker::with_token, w); }
    { JThread t(&worker::with_token, std::ref(w)); }
    { JThread t(&worker::with_token, std::make_unique<worker>()); }
    { JThread t(&worker::with_token, std::make_shared<worker>()); }
    { JThread t(&worker::with_token_ref, &cw); }
    { JThread t(&worker::with_token_ref, std::cref(cw)); }
    { JThread t(&worker::rvalue_only, worker{}); }
#endif
    return seen;
}

}  // namespace

TEST_CASE("clonert::jthread takes every construction std::jthread takes, and runs the same call") {
    const std::vector<std::string> with_std = run_constructions<std::jthread>();
    const std::vector<std::string> with_clonert = run_constructions<clonert::jthread>();
#ifndef __STRICT_ANSI__
    REQUIRE(with_std.size() == 22);  // every form above ran (the data member one records nothing)
#else
    REQUIRE(with_std.size() == 13);
#endif
    CHECK(with_clonert == with_std);
}

TEST_CASE("clonert::jthread with thread_options takes the same constructions") {
    // The options come first; what follows is a jthread construction as above.
    clonert::thread_options options;
    options.name = "shape";
    seen.clear();
    worker w;
    { clonert::jthread t(options, [](std::stop_token tok) { saw("lambda token " + token_state(tok)); }); }
    { clonert::jthread t(options, &worker::plain_args, &w, 1, std::string("z")); }
#ifndef __STRICT_ANSI__
    { clonert::jthread t(options, &worker::with_token_args, &w, 2); }
#endif
    std::vector<std::string> expected = {"lambda token token", "plain_args 41z"};
#ifndef __STRICT_ANSI__
    expected.push_back("with_token_args token42");
#endif
    CHECK(seen == expected);
}
