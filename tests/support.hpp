// Helpers shared by the test programs.
#pragma once

#include <clonert/clonert.h>

#include <csignal>
#include <cstdint>
#include <malloc.h>
#include <new>
#include <sys/mman.h>
#include <dirent.h>
#include <cerrno>
#include <fcntl.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <string>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catch.hpp"  // Catch2 2 or 3, chosen by tests/meson.build

namespace clonert_test {

// The test runner sets CLONERT_UNDER_QEMU=1 for cross-built tests run under
// qemu-user (see tests/meson.build), whose clone emulation only accepts
// thread-like flag sets (checked by tests/test_clone_flags.cpp; docs/clone-flags.md).
// A small stack every architecture accepts: 64 KiB, or CLONERT_STACK_MIN
// where that is larger (aarch64: 128 KiB, glibc's PTHREAD_STACK_MIN there,
// which allows for 64 KiB pages), and its size in words for test names.
inline constexpr std::size_t small_stack_size = CLONERT_STACK_MIN > 64 * 1024 ? CLONERT_STACK_MIN : 64 * 1024;
inline const std::string small_stack_name = std::to_string(small_stack_size / 1024) + " KiB";

inline bool under_qemu() {
    const char *v = std::getenv("CLONERT_UNDER_QEMU");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

// The entries of a /proc directory (tasks, fds), not counting . and ..
inline std::size_t count_entries(const char *dir) {
    std::size_t n = 0;
    if (DIR *d = opendir(dir)) {
        while (dirent *e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
    }
    return n;
}

// The tasks of the process that are not the runtime's own helpers (the stack
// cache's trimmer, which a burst starts: clonert.h, CLONERT_TRIMMER_NAME).
inline std::size_t count_tasks_but_trimmer() {
    std::size_t n = 0;
    if (DIR *d = opendir("/proc/self/task")) {
        while (const dirent *e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            char path[300], name[32] = "";
            std::snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
            if (FILE *f = std::fopen(path, "r")) {
                if (std::fgets(name, sizeof name, f) == nullptr) name[0] = '\0';
                std::fclose(f);
            }
            name[std::strcspn(name, "\n")] = '\0';
            if (std::strcmp(name, CLONERT_TRIMMER_NAME) != 0) ++n;
        }
        closedir(d);
    }
    return n;
}

// Lines of /proc/self/maps: one per mapping (a mapping whose permissions
// differ in parts, like a guard below a stack, counts once per part).
inline std::size_t count_mappings() {
    std::ifstream maps("/proc/self/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(maps, line);) ++n;
    return n;
}

// True if the kernel refuses to read the byte at `p` -- an unmapped page, a
// PROT_NONE guard, or a guard region (MADV_GUARD_INSTALL) inside a readable
// mapping: write(2) from it into a pipe fails with EFAULT. Lets a test check
// a guard without dying of it.
inline bool kernel_cannot_read(const void *p) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    const bool refused = write(fds[1], p, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    return refused;
}

// Whether guard regions work here (madvise(MADV_GUARD_INSTALL), Linux 6.13;
// qemu-user 7.2 answers 0 and installs nothing, hence the read). Where they
// do, clonert guards a thread's stack inside its one mapping, as glibc 2.43
// does: one /proc/self/maps line per thread instead of two, and the guard
// shows as part of an "rw-p" line.
inline bool guard_regions_here() {
    static const bool works = [] {
        const long page = sysconf(_SC_PAGESIZE);
        void *p = mmap(nullptr, static_cast<std::size_t>(page), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return false;
        const bool ok = madvise(p, static_cast<std::size_t>(page), 102 /* MADV_GUARD_INSTALL */) == 0 &&
                        kernel_cannot_read(p);
        munmap(p, static_cast<std::size_t>(page));
        return ok;
    }();
    return works;
}
inline std::size_t mappings_per_thread() { return guard_regions_here() ? 1 : 2; }

// The tasks of the process before any test ran: main, and under qemu-user
// qemu's own helper thread.
inline const std::size_t tasks_at_load = count_entries("/proc/self/task");

// Waits (up to 10 s) until /proc/self/task lists no more than `tasks` tasks,
// for counts that must not see the threads of an earlier step: a joined
// thread's task lingers a little after the kernel clears its join word, and a
// detached one may still be ending. Also returns once the count has not
// moved for 100 ms: a tool may have started a thread of its own since
// `tasks` was counted (TSan starts its background thread with the first
// thread the program makes).
inline void wait_for_tasks(std::size_t tasks = tasks_at_load) {
    std::size_t last = 0;
    for (int i = 0, still = 0; i < 10000; ++i) {
        const std::size_t now = count_entries("/proc/self/task");
        if (now <= tasks) return;
        still = now == last ? still + 1 : 0;
        if (still >= 100) return;
        last = now;
        usleep(1000);
    }
}

// Runs body() in a forked child and returns how the child ended: its exit
// status (body's return value, at most 100, so that a count of failures
// cannot wrap round to 0; 101 if it threw), or 128 + the signal that killed
// it. A crash may be
// what a test expects: the child writes no core file.
inline int in_child(const std::function<int()> &body) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Die of a crash as it is: Catch2's handlers would report it as this
        // process's failure, in a copy of its state.
        for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTERM, SIGINT})
            std::signal(sig, SIG_DFL);
        const rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        // An exception must not return into Catch2 in the child, which
        // would then run the rest of the suite a second time: say what it
        // was and end with 101.
        int code = 101;
        try {
            code = body();
        } catch (const std::exception &e) {
            std::fprintf(stderr, "in_child: the body threw: %s\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "in_child: the body threw\n");
        }
        std::fflush(nullptr);
        _exit(code < 0 || code > 101 ? 100 : code);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Memory for a raw child's stack: clone(2) takes its top, clone3(2) its base
// and size (stacks grow down on x86_64 and aarch64).
class child_stack {
public:
    static constexpr std::size_t size = 256 * 1024;
    child_stack()
        : base_(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                     -1, 0)) {
        REQUIRE(base_ != MAP_FAILED);
    }
    ~child_stack() { munmap(base_, size); }
    child_stack(const child_stack &) = delete;
    child_stack &operator=(const child_stack &) = delete;
    void *top() const { return static_cast<char *>(base_) + size; }
    std::uint64_t base() const { return reinterpret_cast<std::uintptr_t>(base_); }

private:
    void *base_;
};

// A T both sides of a clone see even without CLONE_VM: a MAP_SHARED mapping
// survives the copy of the address space a fork-like child gets, so such a
// child can report what it saw.
template <class T>
class shared_page {
public:
    shared_page()
        : base_(mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
        REQUIRE(base_ != MAP_FAILED);
        value_ = new (base_) T{};
    }
    ~shared_page() { munmap(base_, sizeof(T)); }
    shared_page(const shared_page &) = delete;
    shared_page &operator=(const shared_page &) = delete;
    T *operator->() const { return value_; }
    T *get() const { return value_; }

private:
    void *base_;
    T *value_;
};

// Runs `body` in a forked child and returns its wait status. The child ends
// with _exit: it must not flush the parent's buffered output a second time.
template <class F>
int status_of_child(F body) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        alarm(60);  // a child that hangs dies (SIGALRM) instead of stalling the test
        body();
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    return status;
}

// What a process holds that a thread's life could leak.
struct footprint {
    long heap_in_use;  // mallinfo2().uordblks: allocated bytes in every arena
    long mappings;     // lines of /proc/self/maps
    long fds;          // entries of /proc/self/fd
    long tasks;        // entries of /proc/self/task

    static footprint now() {
        footprint f{};
        f.heap_in_use = static_cast<long>(mallinfo2().uordblks);
        f.mappings = static_cast<long>(count_mappings());
        f.fds = static_cast<long>(count_entries("/proc/self/fd"));
        f.tasks = static_cast<long>(count_entries("/proc/self/task"));
        return f;
    }
};

}  // namespace clonert_test

// Ends the current test case early with a line the test script counts as a
// skip. Use only for what the environment cannot do, always with the reason.
#define CLONERT_SKIP(reason)                                                          \
    do {                                                                              \
        std::printf("SKIPPED: %s: %s\n",                                              \
                    Catch::getResultCapture().getCurrentTestName().c_str(), reason); \
        std::fflush(stdout);                                                          \
        return;                                                                       \
    } while (0)

#define CLONERT_SKIP_UNDER_QEMU(reason)                        \
    do {                                                       \
        if (clonert_test::under_qemu()) CLONERT_SKIP(reason);  \
    } while (0)
