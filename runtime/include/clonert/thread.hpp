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
// Extra: a constructor taking clonert::thread_options first (stack size,
// guard size, a caller-provided stack, a name, CPU affinity).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <new>
#include <optional>
#include <ostream>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

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
clonert_thread *reserve(const thread_options *options, std::size_t payload_size,
                        std::size_t payload_align);
void *payload(clonert_thread *thread) noexcept;
void start(clonert_thread *thread, void (*run)(void *), void (*destroy)(void *));
void abandon(clonert_thread *thread) noexcept;
void join(clonert_thread *thread);
void detach(clonert_thread *thread);
pid_t tid(const clonert_thread *thread) noexcept;
pid_t current_tid() noexcept;

template <class Tuple>
void run(void *payload) noexcept {  // noexcept: an escaping exception terminates
    auto *copies = static_cast<Tuple *>(payload);
    std::apply([](auto &&...a) { std::invoke(std::forward<decltype(a)>(a)...); },
               std::move(*copies));
    copies->~Tuple();
}

template <class Tuple>
void destroy(void *payload) noexcept {
    static_cast<Tuple *>(payload)->~Tuple();
}

}  // namespace detail

class thread {
public:
    class id {
    public:
        id() noexcept = default;
        explicit id(pid_t tid) noexcept : tid_(tid) {}
        friend bool operator==(id a, id b) noexcept = default;
        friend auto operator<=>(id a, id b) noexcept = default;
        friend std::ostream &operator<<(std::ostream &out, id i) { return out << i.tid_; }
        pid_t tid() const noexcept { return tid_; }

    private:
        pid_t tid_ = 0;  // 0: not a thread
    };
    using native_handle_type = pid_t;  // the kernel's TID

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

    bool joinable() const noexcept { return handle_ != nullptr; }
    id get_id() const noexcept { return id(tid_); }
    native_handle_type native_handle() const noexcept { return tid_; }
    void swap(thread &other) noexcept {
        std::swap(handle_, other.handle_);
        std::swap(tid_, other.tid_);
    }
    void join() {
        detail::join(handle_);  // checks joinable and self-join, throws as std::thread
        handle_ = nullptr;
        tid_ = 0;
    }
    void detach() {
        detail::detach(handle_);
        handle_ = nullptr;
        tid_ = 0;
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
        clonert_thread *t = detail::reserve(options, sizeof(copies), alignof(copies));
        try {
            // The decay-copies are made here, in the creating thread, directly
            // in the new thread's memory.
            ::new (detail::payload(t)) copies(std::forward<F>(f), std::forward<Args>(args)...);
        } catch (...) {
            detail::abandon(t);
            throw;
        }
        detail::start(t, &detail::run<copies>, &detail::destroy<copies>);
        handle_ = t;
        tid_ = detail::tid(t);
    }

    clonert_thread *handle_ = nullptr;
    pid_t tid_ = 0;
};

inline void swap(thread &a, thread &b) noexcept { a.swap(b); }

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
    void swap(jthread &other) noexcept {
        std::swap(stop_, other.stop_);
        thread_.swap(other.thread_);
    }
    std::stop_source get_stop_source() noexcept { return stop_; }
    std::stop_token get_stop_token() const noexcept { return stop_.get_token(); }
    bool request_stop() noexcept { return stop_.request_stop(); }
    static unsigned int hardware_concurrency() noexcept { return thread::hardware_concurrency(); }

private:
    template <class F, class... Args>
    thread make(const thread_options *options, F &&f, Args &&...args) {
        // As std::jthread: pass a stop_token first when the callable takes one.
        if constexpr (std::is_invocable_v<std::decay_t<F>, std::stop_token,
                                          std::decay_t<Args>...>) {
            return options ? thread(*options, std::forward<F>(f), stop_.get_token(),
                                    std::forward<Args>(args)...)
                           : thread(std::forward<F>(f), stop_.get_token(),
                                    std::forward<Args>(args)...);
        } else {
            return options ? thread(*options, std::forward<F>(f), std::forward<Args>(args)...)
                           : thread(std::forward<F>(f), std::forward<Args>(args)...);
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

inline thread::id get_id() noexcept { return thread::id(detail::current_tid()); }
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
        return std::hash<pid_t>()(i.tid());
    }
};
