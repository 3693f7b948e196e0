#include "processes.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <spawn.h>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <clonert/clone.h>

#include "bench_config.h"
#include "raw.hpp"
#include "stats.hpp"

extern char **environ;

namespace bench {
namespace {

constexpr const char *true_path = "/bin/true";
char true_name[] = "true";
char *const true_argv[] = {true_name, nullptr};

// --- What the preload costs a process that makes no thread (issue 23) ------------

std::string directory_of_this_program() {
    char path[4096];
    const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return ".";
    const std::string self(path, static_cast<std::size_t>(n));
    return self.substr(0, self.rfind('/'));
}

// The first of `candidates` that exists, or "".
std::string first_existing(std::initializer_list<std::string> candidates) {
    for (const std::string &c : candidates)
        if (!c.empty() && access(c.c_str(), R_OK) == 0) return c;
    return {};
}

// The library clonert-run preloads: CLONERT_PRELOAD_LIBRARY (as clonert-run
// reads it), this build's, or the installed one.
const std::string &preload_library() {
    static const std::string path = [] {
        const char *named = std::getenv("CLONERT_PRELOAD_LIBRARY");
        return first_existing({named != nullptr ? named : "",
                               directory_of_this_program() + "/../runtime/preload/libclonert-preload.so",
                               CLONERT_BENCH_PRELOAD_INSTALLED});
    }();
    return path;
}

// A C program that makes no thread and returns 0 (empty_program.c), beside
// this program in a build directory, or installed.
const std::string &empty_program() {
    static const std::string path = first_existing(
        {directory_of_this_program() + "/clonert-bench-empty-program", CLONERT_BENCH_EMPTY_PROGRAM_INSTALLED});
    return path;
}

// The environment of the spawned programs: this one's without LD_PRELOAD,
// and with LD_PRELOAD naming the preload library alone.
struct child_environment {
    std::vector<std::string> strings;
    std::vector<char *> pointers;
    explicit child_environment(const std::string &preload) {
        for (char **e = environ; *e != nullptr; ++e)
            if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) strings.emplace_back(*e);
        if (!preload.empty()) strings.push_back("LD_PRELOAD=" + preload);
        for (std::string &s : strings) pointers.push_back(s.data());
        pointers.push_back(nullptr);
    }
};

char *const *without_preload() {
    static child_environment e("");
    return e.pointers.data();
}

char *const *with_preload() {
    static child_environment e(preload_library());
    return e.pointers.data();
}

// 0 if the child exited with status 0; otherwise a description.
std::string reap(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return std::string("waitpid: ") + std::strerror(errno);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    return "the child ended with wait status " + std::to_string(status);
}

std::string fork_wait() {
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0) return std::string("fork: ") + std::strerror(errno);
    return reap(pid);
}

std::string vfork_exit() {
    // vfork(2): the parent sleeps until the child calls _exit; the child
    // borrows the parent's memory and must do nothing else.
    const pid_t pid = vfork();
    if (pid == 0) _exit(0);
    if (pid < 0) return std::string("vfork: ") + std::strerror(errno);
    return reap(pid);
}

// Spawns `path` with no arguments and waits; "" or a description.
std::string spawn_and_wait(const char *path, char *const *env) {
    pid_t pid = 0;
    char *const argv[] = {true_name, nullptr};  // argv[0] only: neither program reads it
    const int err = posix_spawn(&pid, path, nullptr, nullptr, argv, env);
    if (err != 0) return std::string("posix_spawn: ") + std::strerror(err);
    return reap(pid);
}

std::string spawn_true() { return spawn_and_wait(true_path, without_preload()); }
std::string spawn_true_preloaded() { return spawn_and_wait(true_path, with_preload()); }
std::string spawn_empty() { return spawn_and_wait(empty_program().c_str(), without_preload()); }
std::string spawn_empty_preloaded() { return spawn_and_wait(empty_program().c_str(), with_preload()); }

// The child of clone(CLONE_VM|CLONE_VFORK) shares the parent's memory and
// its thread pointer (no CLONE_SETTLS), so it execs with a raw system call
// (raw.hpp) and, should that fail, leaves through clonert's raw exit with 127.
int exec_true(void *) {
    raw::syscall4(SYS_execve, reinterpret_cast<long>(true_path),
                  reinterpret_cast<long>(true_argv), reinterpret_cast<long>(environ));
    return 127;
}

alignas(16) char exec_stack[64 * 1024];

std::string clone_vfork_exec() {
    const int pid = clonert_clone(exec_true, exec_stack + sizeof exec_stack,
                                  CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
    if (pid < 0) return std::string("clonert_clone: ") + std::strerror(errno);
    return reap(pid);
}

struct process_way {
    const char *id;
    const char *label;
    std::string (*once)();
};

const process_way ways[] = {
    {"fork_wait", "fork + waitpid", fork_wait},
    {"vfork_exit", "vfork + _exit + waitpid", vfork_exit},
    {"posix_spawn", "posix_spawn /bin/true + waitpid", spawn_true},
    {"posix_spawn_preloaded", "  the same, LD_PRELOAD=clonert", spawn_true_preloaded},
    {"posix_spawn_empty", "posix_spawn empty C program + waitpid", spawn_empty},
    {"posix_spawn_empty_preloaded", "  the same, LD_PRELOAD=clonert", spawn_empty_preloaded},
    {"clone_vfork_exec", "clone(VM|VFORK) + execve /bin/true", clone_vfork_exec},
};
constexpr int way_count = sizeof ways / sizeof ways[0];

// Consecutive runs of one way before the next way's turn.
int block_for(int iterations) { return std::min(iterations, 10); }

// Why this way cannot be measured here, or "" if it can.
std::string unusable(const process_way &w, bool under_qemu) {
    const bool preloads = w.once == spawn_true_preloaded || w.once == spawn_empty_preloaded;
    const bool empty = w.once == spawn_empty || w.once == spawn_empty_preloaded;
    const bool execs = w.once != fork_wait && w.once != vfork_exit;
    if (execs && under_qemu)
        return "not measured under qemu-user: the exec'd program would run natively (or not at all), "
               "not as an emulated process";
    if (execs && access(true_path, X_OK) != 0)
        return std::string(true_path) + " is not executable: " + std::strerror(errno);
    if (preloads && preload_library().empty())
        return "not measured: no libclonert-preload.so (none in a pthread-backend build; "
               "CLONERT_PRELOAD_LIBRARY names one)";
    if (empty && empty_program().empty()) return "not measured: clonert-bench-empty-program not found";
    const std::string failure = w.once();
    return failure.empty() ? "" : "failed: " + failure;
}

}  // namespace

long process_work(int iterations) {
    const int block = block_for(iterations);
    return way_count * ((iterations + block - 1) / block);
}

std::vector<process_result> measure_processes(int iterations, bool under_qemu, progress &p) {
    std::vector<process_result> results;
    std::vector<std::vector<double>> samples(way_count);
    for (const process_way &w : ways) {
        process_result r;
        r.id = w.id;
        r.label = w.label;
        r.note = unusable(w, under_qemu);
        r.measured = r.note.empty();
        results.push_back(r);
    }
    // Rotating blocks, as for threads: each way sees the others' leftovers.
    const int block = block_for(iterations);
    const int rounds = (iterations + block - 1) / block;
    for (int round = 0; round < rounds; ++round) {
        for (int k = 0; k < way_count; ++k) {
            const int i = (round + k) % way_count;
            p.advance("process creation");
            if (!results[i].measured) continue;
            for (int n = 0; n < block; ++n) {
                const std::uint64_t t0 = raw::ticks();
                const std::string failure = ways[i].once();
                const std::uint64_t t1 = raw::ticks();
                if (!failure.empty()) {
                    results[i].measured = false;
                    results[i].note = "failed: " + failure;
                    break;
                }
                samples[i].push_back(ns(t1 - t0));
            }
        }
    }
    for (int i = 0; i < way_count; ++i)
        if (results[i].measured) results[i].latency = summarize(samples[i]);
    return results;
}

}  // namespace bench
