// Helpers shared by the test programs.
#pragma once

#include <csignal>
#include <dirent.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace clonert_test {

// The test runner sets CLONERT_UNDER_QEMU=1 for cross-built tests run under
// qemu-user (see tests/meson.build), whose clone emulation only accepts
// thread-like flag sets (shared/NOTES.md, "qemu-user").
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

// Lines of /proc/self/maps: one per mapping (a mapping whose permissions
// differ in parts, like a guard below a stack, counts once per part).
inline std::size_t count_mappings() {
    std::ifstream maps("/proc/self/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(maps, line);) ++n;
    return n;
}

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
// cannot wrap round to 0), or 128 + the signal that killed it. A crash may be
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
        const int code = body();
        std::fflush(nullptr);
        _exit(code < 0 || code > 100 ? 100 : code);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

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
