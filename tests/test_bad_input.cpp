// Bad input to every layer: impossible clone flag sets, attributes that
// cannot work, sizes near SIZE_MAX, misuse of join and detach, functions that
// are null or cannot be called. Each must give an error the caller can act
// on -- -1 with errno for the raw layer, an error number for the C API,
// std::system_error for C++ -- never a crash or a hang, and nothing may be
// started or leaked. C++ errors must also say what was being done: their
// what() is checked for the words that name it.
//
// Every row also prints "bad_input: <input> -> <what happened>": the table in
// docs/reliability.md is that output.
#include <clonert/clone.h>
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>  // sigabbrev_np
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::size_t size_max = SIZE_MAX;

void show(const std::string &input, const std::string &seen) {
    std::printf("bad_input: %-58s -> %s\n", input.c_str(), seen.c_str());
    std::fflush(stdout);
}

std::string errno_name(int e) {
    switch (e) {
    case 0: return "0 (accepted)";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ENOSYS: return "ENOSYS";
    case ERANGE: return "ERANGE";
    case EDEADLK: return "EDEADLK";
    case EAGAIN: return "EAGAIN";
    default: return std::to_string(e);
    }
}

using clonert_test::count_mappings;

// Called before counting mappings, to let the threads an earlier case
// detached finish ending: a std::thread that ends frees its state, and
// glibc's malloc may then make that thread an arena (two new mappings) --
// seen once in twelve runs under load, counted as a leak.
using clonert_test::wait_for_tasks;

using clonert_test::in_child;

std::string fate_name(int fate) {
    if (fate < 128) return "exit status " + std::to_string(fate);
    const char *abbreviation = sigabbrev_np(fate - 128);
    return abbreviation ? std::string("killed by SIG") + abbreviation
                        : "killed by signal " + std::to_string(fate - 128);
}

// --- The raw layer: clonert_clone, clonert_clone3, clonert_clone_fork --------------

// A stack for a raw child that does nothing (it has no TLS of its own).
alignas(64) char raw_stack[64 * 1024];
int return_zero(void *) { return 0; }

// clonert_clone with these flags: errno, or 0 if a child was made (then it
// has been waited for, so the stack is free again).
int clone_errno(int flags, bool with_fn = true, bool with_stack = true) {
    pid_t word = 0;
    errno = 0;
    const int tid = clonert_clone(with_fn ? return_zero : nullptr,
                                  with_stack ? raw_stack + sizeof raw_stack : nullptr, flags,
                                  nullptr, &word, nullptr, &word);
    if (tid < 0) return errno;
    if (flags & CLONE_THREAD) {
        // CLONE_CHILD_CLEARTID: the kernel clears the word, with a shared
        // futex wake, once the thread is gone.
        for (pid_t seen; (seen = __atomic_load_n(&word, __ATOMIC_ACQUIRE)) != 0;)
            syscall(SYS_futex, &word, FUTEX_WAIT, seen, nullptr);
    } else {
        waitpid(tid, nullptr, __WALL);
    }
    return 0;
}

// Every flag glibc's own threads use that qemu-user 7.2 also accepts
// (docs/pitfalls.md), without CLONE_SETTLS: the child has no TLS and touches none.
constexpr int thread_flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                             CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

struct flag_case {
    const char *input;
    int flags;
    bool with_fn, with_stack;
};

TEST_CASE("bad input: impossible clone flag sets and null arguments give -1 with EINVAL") {
    // kernel/fork.c, copy_process, refuses each of these before it copies
    // anything (and clone(2), ERRORS, lists them); glibc's clone() refuses a
    // null fn or stack itself, and so does clonert_clone. qemu-user refuses
    // every one too, with the same EINVAL.
    const flag_case cases[] = {
        {"clonert_clone(fn = NULL)", thread_flags, false, true},
        {"clonert_clone(stack = NULL)", thread_flags, true, false},
        {"CLONE_SIGHAND without CLONE_VM", CLONE_SIGHAND | SIGCHLD, true, true},
        {"CLONE_THREAD without CLONE_SIGHAND", thread_flags & ~CLONE_SIGHAND, true, true},
        {"CLONE_FS | CLONE_NEWNS", CLONE_FS | CLONE_NEWNS | SIGCHLD, true, true},
        {"CLONE_FS | CLONE_NEWUSER", CLONE_FS | CLONE_NEWUSER | SIGCHLD, true, true},
        {"CLONE_THREAD | CLONE_NEWPID", thread_flags | CLONE_NEWPID, true, true},
        {"CLONE_THREAD | CLONE_NEWUSER", thread_flags | CLONE_NEWUSER, true, true},
    };
    for (const flag_case &c : cases) {
        const int err = clone_errno(c.flags, c.with_fn, c.with_stack);
        show(c.input, "-1, errno " + errno_name(err));
        CHECK(err == EINVAL);
    }
    // The control: the same stack and function with a possible flag set work.
    CHECK(clone_errno(thread_flags) == 0);
}

TEST_CASE("bad input: clonert_clone3 and clonert_clone_fork refuse what cannot work") {
    clone_args args{};
    errno = 0;
    CHECK(clonert_clone3(nullptr, sizeof args, return_zero, nullptr) == -1);
    CHECK(errno == EFAULT);
    show("clonert_clone3(args = NULL)", "-1, errno " + errno_name(errno));

    // A fork-like clone3 (no function) that shares memory would run parent
    // and child on one stack.
    args.flags = CLONE_VM;
    errno = 0;
    CHECK(clonert_clone3(&args, sizeof args, nullptr, nullptr) == -1);
    CHECK(errno == EINVAL);
    show("clonert_clone3(fn = NULL, CLONE_VM)", "-1, errno " + errno_name(errno));

    errno = 0;
    CHECK(clonert_clone_fork(CLONE_VM | SIGCHLD, nullptr, nullptr, nullptr) == -1);
    CHECK(errno == EINVAL);
    show("clonert_clone_fork(CLONE_VM)", "-1, errno " + errno_name(errno));

    // A size below the first version of struct clone_args (64 bytes): the
    // kernel says EINVAL (kernel/fork.c, copy_clone_args_from_user); qemu-user
    // 7.2 has no clone3 at all and says ENOSYS.
    const int expected = clonert_test::under_qemu() ? ENOSYS : EINVAL;
    for (std::size_t size : {std::size_t{0}, std::size_t{8}, std::size_t{CLONE_ARGS_SIZE_VER0 - 8}}) {
        args = {};
        args.flags = thread_flags & ~(CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID);
        args.stack = reinterpret_cast<std::uintptr_t>(raw_stack);
        args.stack_size = sizeof raw_stack;
        errno = 0;
        CHECK(clonert_clone3(&args, size, return_zero, nullptr) == -1);
        CHECK(errno == expected);
        show("clonert_clone3(size = " + std::to_string(size) + ")", "-1, errno " + errno_name(errno));
    }
}

// --- The C API's attributes --------------------------------------------------------

void *return_one(void *) { return reinterpret_cast<void *>(1); }

// clonert_create with these attributes: its result; a thread it made has
// been joined and must have returned 1.
int create_with(const clonert_attr_t *attr) {
    clonert_t t;
    const int err = clonert_create(&t, attr, return_one, nullptr);
    if (err == 0) {
        void *result = nullptr;
        REQUIRE(clonert_join(t, &result) == 0);
        CHECK(result == reinterpret_cast<void *>(1));
    }
    return err;
}

TEST_CASE("bad input: attribute setters refuse impossible values as pthreads do") {
    clonert_attr_t attr;
    CHECK(clonert_attr_init(nullptr) == EINVAL);
    REQUIRE(clonert_attr_init(&attr) == 0);
    struct row {
        const char *input;
        int seen, expected;
    };
    alignas(64) static char stack[256 * 1024];
    cpu_set_t none;
    CPU_ZERO(&none);
    const row rows[] = {
        {"clonert_attr_setstacksize(0)", clonert_attr_setstacksize(&attr, 0), EINVAL},
        {"clonert_attr_setstacksize(CLONERT_STACK_MIN - 1)",
         clonert_attr_setstacksize(&attr, CLONERT_STACK_MIN - 1), EINVAL},
        {"clonert_attr_setstacksize(attr = NULL)", clonert_attr_setstacksize(nullptr, 1 << 20), EINVAL},
        {"clonert_attr_setstack(NULL, 256 KiB)", clonert_attr_setstack(&attr, nullptr, sizeof stack), EINVAL},
        {"clonert_attr_setstack(misaligned by 8)",
         clonert_attr_setstack(&attr, stack + 8, sizeof stack - 8), EINVAL},
        {"clonert_attr_setstack(CLONERT_STACK_MIN - 1 bytes)",
         clonert_attr_setstack(&attr, stack, CLONERT_STACK_MIN - 1), EINVAL},
        {"clonert_attr_setdetachstate(2)", clonert_attr_setdetachstate(&attr, 2), EINVAL},
        {"clonert_attr_setname(16 bytes)", clonert_attr_setname(&attr, "sixteen-bytes-xx"), ERANGE},
        {"clonert_attr_setname(NULL)", clonert_attr_setname(&attr, nullptr), EINVAL},
        {"clonert_attr_setaffinity(empty set)", clonert_attr_setaffinity(&attr, sizeof none, &none), EINVAL},
        {"clonert_attr_setaffinity(size 0)", clonert_attr_setaffinity(&attr, 0, &none), EINVAL},
        {"clonert_attr_setaffinity(size > cpu_set_t)",
         clonert_attr_setaffinity(&attr, sizeof none + 8, &none), EINVAL},
    };
    for (const row &r : rows) {
        show(r.input, errno_name(r.seen));
        CHECK(r.seen == r.expected);
    }
    // None of the refused values was stored: the attributes still make a thread.
    CHECK(create_with(&attr) == 0);
    // pthreads agree on the stack size floor.
    pthread_attr_t pattr;
    pthread_attr_init(&pattr);
    CHECK(pthread_attr_setstacksize(&pattr, PTHREAD_STACK_MIN - 1) == EINVAL);
    pthread_attr_destroy(&pattr);
}

TEST_CASE("bad input: clonert_create refuses null arguments and sizes no memory can hold") {
    clonert_t t;
    CHECK(clonert_create(nullptr, nullptr, return_one, nullptr) == EINVAL);
    show("clonert_create(thread = NULL)", "EINVAL");
    CHECK(clonert_create(&t, nullptr, nullptr, nullptr) == EINVAL);
    show("clonert_create(start_routine = NULL)", "EINVAL");

    // Sizes the setters accept (as pthread_attr_setstacksize does: it checks
    // only the floor) but no address space can hold: refused at creation
    // with EINVAL, before any mmap.
    struct named_size {
        std::size_t value;
        const char *name;
    };
    const named_size huge[] = {{size_max, "SIZE_MAX"},
                               {size_max - 4095, "SIZE_MAX - 4095"},
                               {size_max / 2, "SIZE_MAX / 2"},
                               {(std::size_t{1} << 47) + 1, "2^47 + 1"}};
    for (const named_size &size : huge) {
        clonert_attr_t attr;
        clonert_attr_init(&attr);
        REQUIRE(clonert_attr_setstacksize(&attr, size.value) == 0);
        const int err = create_with(&attr);
        show(std::string("clonert_attr_setstacksize(") + size.name + ")", "clonert_create: " + errno_name(err));
        CHECK(err == EINVAL);
    }
    for (const named_size &guard : {named_size{size_max - 1, "SIZE_MAX - 1"}, named_size{size_max / 2, "SIZE_MAX / 2"}}) {
        clonert_attr_t attr;
        clonert_attr_init(&attr);
        REQUIRE(clonert_attr_setguardsize(&attr, guard.value) == 0);
        const int err = create_with(&attr);
        show(std::string("clonert_attr_setguardsize(") + guard.name + ")", "clonert_create: " + errno_name(err));
        CHECK(err == EINVAL);
    }
    clonert_attr_t attr;
    clonert_attr_init(&attr);
    REQUIRE(clonert_attr_setstacksize(&attr, clonert_test::small_stack_size) == 0);
    REQUIRE(clonert_attr_setguardsize(&attr, 1 << 20) == 0);
    const int err = create_with(&attr);
    show("guard 1 MiB on a " + clonert_test::small_stack_name + " stack", "clonert_create: " + errno_name(err));
    CHECK(err == EINVAL);
    // The fields are private, so the bytes a caller could scribble on are
    // those of an attr never initialised, or destroyed: refused, not read.
    std::memset(&attr, 0xa5, sizeof attr);
    CHECK(create_with(&attr) == EINVAL);
    show("an attr never initialised (every byte 0xa5)", "clonert_create: EINVAL");
    clonert_attr_init(&attr);
    clonert_attr_destroy(&attr);
    CHECK(create_with(&attr) == EINVAL);
    show("an attr after clonert_attr_destroy", "clonert_create: EINVAL");
}

TEST_CASE("bad input: a caller's stack whose length runs past the end of memory is refused") {
    // base + length would wrap around the address space: the TLS area, put at
    // the stack's top, would land below the buffer. In a child, in case it
    // is not refused.
    const int fate = in_child([] {
        alignas(64) static char stack[256 * 1024];
        clonert_attr_t attr;
        clonert_attr_init(&attr);
        if (clonert_attr_setstack(&attr, stack, size_max - 64) != 0) return 1;
        clonert_t t;
        return clonert_create(&t, &attr, return_one, nullptr) == EINVAL ? 0 : 2;
    });
    show("caller's stack of SIZE_MAX - 64 bytes", fate == 0 ? "clonert_create: EINVAL" : fate_name(fate));
    CHECK(fate == 0);
}

// --- Join and detach misuse in the C API ----------------------------------------------

TEST_CASE("bad input: join and detach misuse in the C API give pthread's error numbers") {
    CHECK(clonert_join(nullptr, nullptr) == EINVAL);
    show("clonert_join(NULL)", "EINVAL");
    CHECK(clonert_detach(nullptr) == EINVAL);
    show("clonert_detach(NULL)", "EINVAL");
    // The main thread is no clonert thread: its handle is a stand-in.
    CHECK(clonert_detach(clonert_self()) == EINVAL);
    show("clonert_detach(main's clonert_self())", "EINVAL");
    CHECK(clonert_join(clonert_self(), nullptr) == EDEADLK);
    show("clonert_join(clonert_self()) in main", "EDEADLK");

    // A running thread, detached: joining it and detaching it again fail,
    // while its memory is certainly still there (it waits for `release`).
    static std::atomic<bool> release{false};
    static std::atomic<int> self_join{-1};
    static std::atomic<bool> finished{false};
    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr, [](void *) -> void * {
                self_join = clonert_join(clonert_self(), nullptr);
                while (!release) std::this_thread::sleep_for(1ms);
                finished = true;
                return nullptr;
            }, nullptr) == 0);
    REQUIRE(clonert_detach(t) == 0);
    const int join_after_detach = clonert_join(t, nullptr);
    const int detach_twice = clonert_detach(t);
    while (self_join == -1) std::this_thread::sleep_for(1ms);
    release = true;
    while (!finished) std::this_thread::sleep_for(1ms);
    show("clonert_join of a detached thread", errno_name(join_after_detach));
    show("clonert_detach twice", errno_name(detach_twice));
    show("clonert_join(clonert_self()) in a clonert thread", errno_name(self_join));
    CHECK(join_after_detach == EINVAL);
    CHECK(detach_twice == EINVAL);
    CHECK(self_join == EDEADLK);
}

// --- C++: what clonert::thread throws, compared with std::thread -----------------------

struct thrown {
    std::error_code code;
    std::string what;
};

template <class F>
thrown thrown_by(F f) {
    try {
        f();
    } catch (const std::system_error &e) {
        return {e.code(), e.what()};
    }
    return {};
}

std::string describe(const thrown &t) {
    if (!t.code) return "no error";
    return "system_error(" + t.code.message() + "): \"" + t.what + "\"";
}

bool mentions(const std::string &text, const char *word) { return text.find(word) != std::string::npos; }

// Misuse of a thread object, done once with std::thread and once with
// clonert::thread: both must throw the same error code.
template <class Thread>
thrown misuse(const char *how) {
    Thread t([] {});
    const std::string h = how;
    if (h == "join twice") {
        t.join();
        return thrown_by([&] { t.join(); });
    }
    if (h == "detach twice") {
        t.detach();
        return thrown_by([&] { t.detach(); });
    }
    if (h == "join after detach") {
        t.detach();
        return thrown_by([&] { t.join(); });
    }
    if (h == "detach after join") {
        t.join();
        return thrown_by([&] { t.detach(); });
    }
    t.join();
    Thread none;  // "join a default-constructed thread"
    return thrown_by([&] { none.join(); });
}

TEST_CASE("bad input: join and detach misuse throws what std::thread throws, naming the call") {
    struct row {
        const char *how, *word;
    };
    const row rows[] = {{"join twice", "join"},
                        {"detach twice", "detach"},
                        {"join after detach", "join"},
                        {"detach after join", "detach"},
                        {"join a default-constructed thread", "join"}};
    for (const row &r : rows) {
        const thrown ours = misuse<clonert::thread>(r.how);
        const thrown standard = misuse<std::thread>(r.how);
        show(std::string("clonert::thread: ") + r.how, describe(ours));
        CHECK(ours.code == std::errc::invalid_argument);
        CHECK(ours.code == standard.code);
        CHECK(mentions(ours.what, r.word));
    }
    // A thread joining itself.
    thrown self;
    clonert::thread *me = nullptr;
    std::atomic<bool> ready{false};
    clonert::thread t([&] {
        while (!ready) std::this_thread::yield();
        self = thrown_by([&] { me->join(); });
    });
    me = &t;
    ready = true;
    // Wait for the attempt before joining, through the thread's own end.
    t.join();
    show("clonert::thread joining itself", describe(self));
    CHECK(self.code == std::errc::resource_deadlock_would_occur);
    CHECK(mentions(self.what, "join"));
}

// Constructs a clonert::thread with these options and joins it; what it threw.
thrown start_with(const clonert::thread_options &o, std::atomic<int> &ran) {
    return thrown_by([&] {
        clonert::thread t(o, [&ran] { ++ran; });
        t.join();
    });
}

TEST_CASE("bad input: impossible thread_options throw invalid_argument naming what is wrong") {
    alignas(64) static char stack[256 * 1024];
    struct row {
        std::string input;
        clonert::thread_options options;
        const char *word;  // what the message must name
    };
    std::vector<row> rows;
    auto add = [&rows](std::string input, const char *word, auto set) {
        clonert::thread_options o;
        set(o);
        rows.push_back({std::move(input), std::move(o), word});
    };
    add("stack_size = 1024", "stack", [](auto &o) { o.stack_size = 1024; });
    add("stack_size = CLONERT_STACK_MIN - 1", "stack",
        [](auto &o) { o.stack_size = CLONERT_STACK_MIN - 1; });
    add("stack_size = 0", "stack", [](auto &o) { o.stack_size = 0; });
    add("stack_size = SIZE_MAX", "stack", [](auto &o) { o.stack_size = size_max; });
    add("stack_size = SIZE_MAX - 4095", "stack", [](auto &o) { o.stack_size = size_max - 4095; });
    add("stack_size = 2^47 + 1", "stack", [](auto &o) { o.stack_size = (std::size_t{1} << 47) + 1; });
    add("guard_size = 1 MiB, stack_size = " + clonert_test::small_stack_name, "guard", [](auto &o) {
        o.stack_size = clonert_test::small_stack_size;
        o.guard_size = 1 << 20;
    });
    add("guard_size = SIZE_MAX - 1", "guard", [](auto &o) { o.guard_size = size_max - 1; });
    add("guard_size = SIZE_MAX", "guard", [](auto &o) { o.guard_size = size_max; });
    add("stack without stack_length", "stack", [](auto &o) { o.stack = stack; });
    add("stack misaligned by 8", "aligned", [](auto &o) {
        o.stack = stack + 8;
        o.stack_length = sizeof stack - 8;
    });
    add("stack of 4 KiB", "stack", [](auto &o) {
        o.stack = stack;
        o.stack_length = 4096;
    });
    add("stack_length = SIZE_MAX - 64", "stack", [](auto &o) {
        o.stack = stack;
        o.stack_length = size_max - 64;
    });
    add("name of 16 bytes", "name", [](auto &o) { o.name = "sixteen-bytes-xx"; });
    add("cpus = {-1}", "CPU", [](auto &o) { o.cpus = {-1}; });
    add("cpus = {CPU_SETSIZE}", "CPU", [](auto &o) { o.cpus = {CPU_SETSIZE}; });

    std::atomic<int> ran{0};
    // Once before counting: the first refusals' messages and exceptions may
    // make an allocator map a new region of its own (ASan's does, for a size
    // it had not served yet: seen as one mapping more, under load).
    for (const row &r : rows) (void)start_with(r.options, ran);
    wait_for_tasks();
    const std::size_t maps_before = count_mappings();
    for (const row &r : rows) {
        const thrown t = start_with(r.options, ran);
        show("thread_options: " + r.input, describe(t));
        CHECK(t.code == std::errc::invalid_argument);
        INFO(r.input << ": " << t.what);
        CHECK(mentions(t.what, r.word));
        CHECK(mentions(t.what, "clonert"));
    }
    CHECK(ran == 0);                       // nothing started
    CHECK(count_mappings() == maps_before);  // and nothing mapped was left behind
}

TEST_CASE("bad input: arguments too large for the stack are refused before anything runs") {
    clonert::thread_options small;
    small.stack_size = clonert_test::small_stack_size;
    auto big = std::make_unique<std::array<char, 256 * 1024>>();
    std::atomic<int> ran{0};
    const thrown t = thrown_by([&] {
        clonert::thread th(small, [&ran](const std::array<char, 256 * 1024> &) { ++ran; }, *big);
        th.join();
    });
    show("256 KiB of arguments on a " + clonert_test::small_stack_name + " stack", describe(t));
    CHECK(t.code == std::errc::invalid_argument);
    CHECK(mentions(t.what, "arguments"));
    CHECK(ran == 0);
}

// An argument whose copy throws: the exception reaches the caller, as with
// std::thread, and the thread's reserved memory is given back.
struct throws_when_copied {
    throws_when_copied() = default;
    throws_when_copied(const throws_when_copied &) { throw std::runtime_error("copy refused"); }
};

TEST_CASE("bad input: an argument whose copy throws starts nothing and leaks nothing") {
    std::atomic<int> ran{0};
    auto attempt = [&ran] {
        const throws_when_copied arg;
        try {
            clonert::thread t([&ran](const throws_when_copied &) { ++ran; }, arg);
            t.join();
            return std::string("no exception");
        } catch (const std::runtime_error &e) {
            return std::string(e.what());
        }
    };
    clonert_set_stack_cache_size(0);  // so that a mapping kept would show
    attempt();                        // the first throw sets up the unwinder's state
    wait_for_tasks();
    const std::size_t before = count_mappings();
    std::string seen;
    for (int i = 0; i < 100; ++i) seen = attempt();
    const std::size_t after = count_mappings();
    clonert_set_stack_cache_size(64u << 20);
    show("an argument whose copy constructor throws (x100)", "the copy's exception: \"" + seen + "\"");
    CHECK(seen == "copy refused");
    CHECK(ran == 0);
    CHECK(after == before);
}

// --- Functions that cannot be called ------------------------------------------------

// std::thread invokes whatever it is given ([thread.thread.constr]: the
// callable must be invocable; a null function pointer is undefined
// behaviour). Both crash the same way; clonert is no worse.

// How a child process ends that starts a Thread on `f` and joins it.
template <class Thread, class F>
int fate_of_thread_on(F f) {
    return in_child([f] {
        Thread t(f);
        t.join();
        return 0;
    });
}

TEST_CASE("bad input: a null function pointer crashes the thread exactly as with std::thread") {
    void (*nothing)() = nullptr;
    const int ours = fate_of_thread_on<clonert::thread>(nothing);
    const int standard = fate_of_thread_on<std::thread>(nothing);
    show("clonert::thread(null function pointer)", fate_name(ours) + " (std::thread: " + fate_name(standard) + ")");
    CHECK(ours == 128 + SIGSEGV);
    CHECK(ours == standard);
}

// An empty std::function throws std::bad_function_call when called; escaping
// a thread's function, any exception calls std::terminate.
TEST_CASE("bad input: an empty std::function terminates the process exactly as with std::thread") {
    const std::function<void()> empty;
    const int ours = fate_of_thread_on<clonert::thread>(empty);
    const int standard = fate_of_thread_on<std::thread>(empty);
    show("clonert::thread(empty std::function)", fate_name(ours) + " (std::thread: " + fate_name(standard) + ")");
    CHECK(ours == 128 + SIGABRT);
    CHECK(ours == standard);
}

}  // namespace
