// clonert/thread.hpp: clonert::thread and clonert::jthread, drop-ins for
// std::thread and std::jthread, and clonert::this_thread.
//
// Same interface and semantics as the standard types: the callable and its
// arguments are decay-copied in the creating thread and invoked as rvalues in
// the new one; an exception escaping the thread function calls
// std::terminate, and so does destroying a joinable thread. Errors are the
// standard's: std::system_error with resource_unavailable_try_again,
// invalid_argument or resource_deadlock_would_occur.
//
// native_handle() is the thread's pthread_t, as std::thread's is, so glibc's
// functions that take a thread work on it (pthread_kill, pthread_sigqueue,
// pthread_setaffinity_np, pthread_setname_np, pthread_getattr_np,
// pthread_setschedparam, pthread_getcpuclockid, ...). Join and detach
// through the object, which owns the thread's memory.
//
// Extra: a constructor taking clonert::thread_options first (stack size,
// guard size, a caller-provided stack, a name, CPU affinity), and the kernel's
// TID: thread::tid(), jthread::tid(), this_thread::get_tid().
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <functional>
#include <new>
#include <optional>
#include <ostream>
#include <pthread.h>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <clonert/bits/thread_payload.hpp>
#include <clonert/clonert.h>

namespace clonert {

struct thread_options {
    std::optional<std::size_t> stack_size;  // default: RLIMIT_STACK, as pthreads
    std::optional<std::size_t> guard_size;  // default: one page
    void *stack = nullptr;                  // a caller's stack (lowest address)...
    std::size_t stack_length = 0;           // ...and its length; it must outlive the thread
    std::string name;                       // at most 15 bytes: /proc/self/task/TID/comm
    std::vector<int> cpus;                  // CPU affinity; empty: the creator's
};

namespace detail {

// The non-template part, in the library (runtime/api/thread.cpp).
// A thread object holds only the thread's pthread_t, as std::thread does; the
// library finds clonert's record of the thread from it.
// Creates a joinable thread through the library's one create path
// (bits/thread_payload.hpp); returns its pthread_t.
pthread_t create(const thread_options *options, const thread_payload &payload, void *context);
void join(pthread_t thread);
void detach(pthread_t thread);
pid_t tid(pthread_t thread) noexcept;
pid_t this_thread_tid() noexcept;

// Makes the decay-copies, in the creating thread, directly in the new
// thread's memory: `context` is a tuple of references to the constructor's
// arguments (std::forward_as_tuple), each passed on as it was given.
template <class Copies, class References>
void construct(void *at, clonert_thread *, void *context) {
    std::apply([at](auto &&...a) { ::new (at) Copies(std::forward<decltype(a)>(a)...); },
               std::move(*static_cast<References *>(context)));
}

// Runs the thread's function on its decay-copied arguments, then destroys
// them. Not noexcept, and no handler: pthread_exit() and cancellation unwind
// the stack with a "forced unwind" that must pass through here (destroying
// the copies on the way) to clonert's thread entry, as it passes through
// libstdc++'s own thread routine; an ordinary exception finds no handler
// before the end of the thread's stack (clone.S marks it), and the unwinder
// calls std::terminate, as the standard requires of std::thread.
template <class Tuple>
void run(void *payload) {
    auto *copies = static_cast<Tuple *>(payload);
    struct destroy_copies {
        Tuple *copies;
        ~destroy_copies() { copies->~Tuple(); }
    } destroy_at_end{copies};
    std::apply([](auto &&...a) { std::invoke(std::forward<decltype(a)>(a)...); }, std::move(*copies));
}

template <class Tuple>
void destroy(void *payload) noexcept {
    static_cast<Tuple *>(payload)->~Tuple();
}

template <class Copies, class References>
inline constexpr thread_payload payload_for{sizeof(Copies), alignof(Copies), construct<Copies, References>,
                                            run<Copies>, destroy<Copies>};

// libstdc++'s extension to jthread (GCC PR 100612, libstdc++ 12 and later,
// outside strict ISO mode): a pointer to a member function that takes a
// std::stop_token after its object, jthread(&X::f, obj, args...), runs
// (obj.*f)(token, args...). The standard's rule alone would try
// invoke(f, token, obj, ...), which names no such call.
template <class F, class... Args>
inline constexpr bool member_expects_stop_token = false;
template <class F, class Obj, class... Args>
inline constexpr bool member_expects_stop_token<F, Obj, Args...> =
    std::is_member_function_pointer_v<std::remove_reference_t<F>> &&
    std::is_invocable_v<F, Obj, std::stop_token, Args...>;

}  // namespace detail

class thread {
public:
    // [thread.thread.id]. Not the TID: the kernel frees a TID when the thread
    // exits (kernel/exit.c, release_task), not when it is joined, so a
    // finished but unjoined thread's TID can already name a new thread. The
    // thread's struct pthread lives in the thread's memory, which clonert
    // (like glibc) gives back only at join, or at exit for a detached thread:
    // its address is unique among joinable and running threads.
    //
    // Its comparisons and stream output are functions at namespace scope,
    // declared as [thread.thread.id] declares std's (and libstdc++ defines
    // them): ordinary lookup finds them, so a type that converts to thread::id
    // compares after `using namespace clonert;`, as with std's.
    class id {
    public:
        id() noexcept = default;  // no thread
        // The id of the thread whose pthread_t is `thread` (any thread of the
        // process: clonert's, glibc's, main).
        explicit id(pthread_t thread) noexcept : thread_(thread) {}

    private:
        friend struct std::hash<id>;
        friend bool operator==(id a, id b) noexcept;
        friend std::strong_ordering operator<=>(id a, id b) noexcept;
        template <class CharT, class Traits>
        friend std::basic_ostream<CharT, Traits> &operator<<(std::basic_ostream<CharT, Traits> &out, id i);

        pthread_t thread_ = 0;  // 0: no thread (a pthread_t is an address)
    };
    using native_handle_type = pthread_t;  // the thread's struct pthread, as glibc's

    thread() noexcept = default;

    template <class F, class... Args>
        requires(!std::is_same_v<std::remove_cvref_t<F>, thread> &&
                 !std::is_same_v<std::remove_cvref_t<F>, thread_options>)
    explicit thread(F &&f, Args &&...args) {
        launch(nullptr, std::forward<F>(f), std::forward<Args>(args)...);
    }

    template <class F, class... Args>
    thread(const thread_options &options, F &&f, Args &&...args) {
        launch(&options, std::forward<F>(f), std::forward<Args>(args)...);
    }

    thread(const thread &) = delete;
    thread &operator=(const thread &) = delete;
    thread(thread &&other) noexcept { swap(other); }
    thread &operator=(thread &&other) noexcept {
        if (joinable()) std::terminate();
        swap(other);
        return *this;
    }
    ~thread() {
        if (joinable()) std::terminate();
    }

    bool joinable() const noexcept { return handle_ != native_handle_type{}; }
    id get_id() const noexcept { return id(handle_); }
    // Valid while joinable (its memory is the thread's, given back at join).
    native_handle_type native_handle() const noexcept { return handle_; }
    // The kernel's TID, 0 if not joinable. Once the thread has ended (even
    // unjoined) the kernel may give the number to a new thread.
    pid_t tid() const noexcept { return joinable() ? detail::tid(handle_) : 0; }
    void swap(thread &other) noexcept { std::swap(handle_, other.handle_); }
    void join() {
        detail::join(handle_);  // checks joinable and self-join, throws as std::thread
        handle_ = native_handle_type{};
    }
    void detach() {
        detail::detach(handle_);
        handle_ = native_handle_type{};
    }
    static unsigned int hardware_concurrency() noexcept {
        return std::thread::hardware_concurrency();
    }

private:
    template <class F, class... Args>
    void launch(const thread_options *options, F &&f, Args &&...args) {
        using copies = std::tuple<std::decay_t<F>, std::decay_t<Args>...>;
        static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                      "clonert::thread arguments must be invocable after decay-copying");
        auto references = std::forward_as_tuple(std::forward<F>(f), std::forward<Args>(args)...);
        handle_ = detail::create(options, detail::payload_for<copies, decltype(references)>, &references);
    }

    // The thread's own struct pthread, as std::thread's: the object is this
    // handle and nothing more. 0 (never an address): no thread.
    native_handle_type handle_{};
};

static_assert(sizeof(thread) == sizeof(thread::native_handle_type) &&
              alignof(thread) == alignof(thread::native_handle_type));

inline void swap(thread &a, thread &b) noexcept { a.swap(b); }

inline bool operator==(thread::id a, thread::id b) noexcept { return a.thread_ == b.thread_; }
inline std::strong_ordering operator<=>(thread::id a, thread::id b) noexcept {
    return a.thread_ <=> b.thread_;
}
// As std::thread::id: the default id prints what std's prints; any other, the
// pthread_t's value, which is what libstdc++ and libc++ print for the same
// thread's std::thread::id.
template <class CharT, class Traits>
std::basic_ostream<CharT, Traits> &operator<<(std::basic_ostream<CharT, Traits> &out, thread::id i) {
    if (i == thread::id()) return out << std::thread::id();
    return out << i.thread_;
}

class jthread {
public:
    using id = thread::id;
    using native_handle_type = thread::native_handle_type;

    jthread() noexcept : stop_(std::nostopstate) {}

    template <class F, class... Args>
        requires(!std::is_same_v<std::remove_cvref_t<F>, jthread> &&
                 !std::is_same_v<std::remove_cvref_t<F>, thread_options>)
    explicit jthread(F &&f, Args &&...args)
        : thread_(make(nullptr, std::forward<F>(f), std::forward<Args>(args)...)) {}

    template <class F, class... Args>
    jthread(const thread_options &options, F &&f, Args &&...args)
        : thread_(make(&options, std::forward<F>(f), std::forward<Args>(args)...)) {}

    jthread(const jthread &) = delete;
    jthread &operator=(const jthread &) = delete;
    jthread(jthread &&other) noexcept : stop_(std::nostopstate) { swap(other); }
    jthread &operator=(jthread &&other) noexcept {
        if (this != &other) {
            stop_and_join();
            stop_ = std::stop_source(std::nostopstate);
            swap(other);
        }
        return *this;
    }
    ~jthread() { stop_and_join(); }

    bool joinable() const noexcept { return thread_.joinable(); }
    void join() { thread_.join(); }
    void detach() { thread_.detach(); }
    id get_id() const noexcept { return thread_.get_id(); }
    native_handle_type native_handle() const noexcept { return thread_.native_handle(); }
    pid_t tid() const noexcept { return thread_.tid(); }
    void swap(jthread &other) noexcept {
        std::swap(stop_, other.stop_);
        thread_.swap(other.thread_);
    }
    std::stop_source get_stop_source() noexcept { return stop_; }
    std::stop_token get_stop_token() const noexcept { return stop_.get_token(); }
    bool request_stop() noexcept { return stop_.request_stop(); }
    static unsigned int hardware_concurrency() noexcept { return thread::hardware_concurrency(); }

private:
    // A thread with the options given, if any.
    template <class... A>
    static thread start(const thread_options *options, A &&...a) {
        return options ? thread(*options, std::forward<A>(a)...) : thread(std::forward<A>(a)...);
    }

    template <class F, class Obj, class... Args>
    thread make_with_token_after_object(const thread_options *options, F &&f, Obj &&obj, Args &&...args) {
        return start(options, std::forward<F>(f), std::forward<Obj>(obj), stop_.get_token(),
                     std::forward<Args>(args)...);
    }

    template <class F, class... Args>
    thread make(const thread_options *options, F &&f, Args &&...args) {
#ifndef __STRICT_ANSI__
        if constexpr (detail::member_expects_stop_token<F, Args...>)
            return make_with_token_after_object(options, std::forward<F>(f), std::forward<Args>(args)...);
        else
#endif
        // [thread.jthread.cons]: the thread runs invoke(f, get_stop_token(),
        // args...) if that is well-formed, else invoke(f, args...), all
        // decay-copied. std::invoke's rules apply, so for a pointer to member
        // the token comes first, where the object goes.
        if constexpr (std::is_invocable_v<std::decay_t<F>, std::stop_token,
                                          std::decay_t<Args>...>) {
            return start(options, std::forward<F>(f), stop_.get_token(), std::forward<Args>(args)...);
        } else {
            return start(options, std::forward<F>(f), std::forward<Args>(args)...);
        }
    }
    void stop_and_join() {
        if (thread_.joinable()) {
            request_stop();
            thread_.join();
        }
    }

    std::stop_source stop_;  // declared first: make() uses it
    thread thread_;
};

inline void swap(jthread &a, jthread &b) noexcept { a.swap(b); }

namespace this_thread {

// Inside a clonert thread pthread_self() is the thread's own struct pthread
// (the one thread::get_id() names); in any other thread, glibc's.
inline thread::id get_id() noexcept { return thread::id(pthread_self()); }
// The calling thread's TID, as gettid(2).
inline pid_t get_tid() noexcept { return detail::this_thread_tid(); }
inline void yield() noexcept { std::this_thread::yield(); }
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period> &d) {
    std::this_thread::sleep_for(d);
}
template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration> &t) {
    std::this_thread::sleep_until(t);
}

}  // namespace this_thread
}  // namespace clonert

template <>
struct std::hash<clonert::thread::id> {
    std::size_t operator()(clonert::thread::id i) const noexcept {
        return std::hash<pthread_t>()(i.thread_);  // equal ids, equal pthread_t
    }
};
