// A C++ program with a C++ runtime of its own (libstdc++, or libc++ when
// built with clang++ -stdlib=libc++), run with and without
// libclonert-preload.so, which carries a second, hidden, copy of libstdc++
// and of the unwinder (runtime/preload/meson.build). Each line it prints must
// be the same both ways (run_program_test.py, case cxx_runtime / libcxx):
//
//   - the program's exceptions, thrown and caught by its own runtime, in
//     main and in threads, and carried from a thread to main by
//     std::exception_ptr (std::async);
//   - iostream, from main and from threads;
//   - thread_local destructors;
//   - pthread_exit and pthread_cancel unwinding the program's frames, its
//     destructors run and abi::__forced_unwind seen (glibc's forced unwind,
//     through libgcc_s.so.1, which glibc loads itself: nptl/unwind.c);
//   - a pthread_create that fails inside clonert (a stack no mmap can give):
//     clonert's own exception stays inside the preload and the program sees
//     pthread_create's error number, and std::thread its std::system_error.
//
// It makes exactly 10 threads with libstdc++, 8 with libc++; one creation
// fails, both ways.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <future>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>
#if defined(__GLIBCXX__)
#include <cxxabi.h>  // abi::__forced_unwind: libstdc++ only
#endif

namespace {

struct program_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void throw_and_catch_in_main() {
    try {
        throw program_error("thrown in main");
    } catch (const std::runtime_error &e) {
        std::cout << "main caught: " << e.what() << '\n';
    }
}

void throw_and_catch_in_threads() {
    std::vector<std::thread> threads;
    std::vector<std::string> caught(4);
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([i, &caught] {
            try {
                throw std::out_of_range("thread " + std::to_string(i));
            } catch (const std::logic_error &e) {
                caught[i] = e.what();
            }
        });
    }
    for (auto &t : threads) t.join();
    for (const auto &c : caught) std::cout << "thread caught: " << c << '\n';
}

void exception_carried_to_main() {
    auto result = std::async(std::launch::async, []() -> int { throw program_error("carried by std::async"); });
    try {
        result.get();
    } catch (const program_error &e) {
        std::cout << "main caught from a thread: " << e.what() << '\n';
    }
}

void iostream_from_threads() {
    std::ostringstream line;
    std::thread t([&line] { line << "formatted in a thread: " << 42 << ' ' << 2.5; });
    t.join();
    std::cout << line.str() << std::endl;
    std::thread([] { std::cout << "std::cout from a thread" << std::endl; }).join();
}

std::atomic<int> tls_destroyed{0};
struct counted_tls {
    int value = 1;
    ~counted_tls() { tls_destroyed.fetch_add(value); }
};
thread_local counted_tls tls;

void thread_local_destructors() {
    std::thread([] { tls.value = 10; }).join();
    std::cout << "thread_local destructors ran: " << tls_destroyed.load() << '\n';
}

// --- forced unwinding of the program's frames ------------------------------------

std::atomic<int> destructors_run{0};
std::atomic<int> forced_unwinds_seen{0};
struct on_unwind {
    ~on_unwind() { destructors_run.fetch_add(1); }
};

void *exits(void *) {
    on_unwind guard;
    try {
        pthread_exit(reinterpret_cast<void *>(7));
#if defined(__GLIBCXX__)
    } catch (abi::__forced_unwind &) {
        forced_unwinds_seen.fetch_add(1);
        throw;  // must be rethrown (cxxabi.h)
#endif
    } catch (...) {
        forced_unwinds_seen.fetch_add(1);
        throw;
    }
    return nullptr;
}

std::atomic<bool> cancel_ready{false};
void *waits_to_be_cancelled(void *) {
    on_unwind guard;
    cancel_ready = true;
    for (;;) pause();  // a cancellation point (pthreads(7))
}

void forced_unwinding() {
#if defined(_LIBCPP_VERSION)
    // Debian's libc++ unwinds with LLVM's libunwind.so.1, glibc's
    // pthread_exit and pthread_cancel with libgcc_s.so.1: the program's own
    // personality routine then hands libgcc_s's context to libunwind, and the
    // program crashes with or without the preload (seen with clang 14).
    std::cout << "forced unwinding: not tried (libc++'s libunwind.so.1 is not glibc's libgcc_s.so.1)\n";
    return;
#endif
    pthread_t t;
    void *value = nullptr;
    pthread_create(&t, nullptr, exits, nullptr);
    pthread_join(t, &value);
    std::cout << "pthread_exit: value " << reinterpret_cast<long>(value) << '\n';
    pthread_create(&t, nullptr, waits_to_be_cancelled, nullptr);
    while (!cancel_ready) sched_yield();
    pthread_cancel(t);
    pthread_join(t, &value);
    std::cout << "pthread_cancel: " << (value == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "another value") << '\n';
    std::cout << "destructors run by the unwinding: " << destructors_run.load()
              << ", forced unwinds seen: " << forced_unwinds_seen.load() << '\n';
}

// --- a creation that fails inside clonert ---------------------------------------

void creation_that_fails() {
    // 128 TiB: more than any mmap gives (the x86_64 and aarch64 user address
    // spaces are 128 and 256 TiB with 4-level tables, and the kernel leaves
    // less free): glibc and clonert both answer EAGAIN. clonert's own
    // std::system_error is thrown and caught inside the preload.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, std::size_t{1} << 47);
    pthread_t t;
    const int err = pthread_create(&t, &attr, [](void *) -> void * { return nullptr; }, nullptr);
    pthread_attr_destroy(&attr);
    std::cout << "pthread_create of a 128 TiB stack: " << (err == EAGAIN ? "EAGAIN" : std::strerror(err)) << '\n';
    std::cout << "uncaught exceptions in the program: " << std::uncaught_exceptions() << '\n';
    std::cout << "current exception in the program: " << (std::current_exception() ? "one" : "none") << '\n';
}

}  // namespace

int main() {
    std::set_terminate([] {
        std::fputs("terminate called\n", stderr);
        std::_Exit(3);
    });
    throw_and_catch_in_main();        // no thread
    throw_and_catch_in_threads();     // 4 threads
    exception_carried_to_main();      // 1
    iostream_from_threads();          // 2
    thread_local_destructors();       // 1
    forced_unwinding();               // 2 (none with libc++)
    creation_that_fails();            // 0 made
    std::cout << "done" << std::endl;
    return 0;
}
