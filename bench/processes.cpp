#include "processes.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <clonert/clone.h>

#include "raw.hpp"
#include "stats.hpp"

extern char **environ;

namespace bench {
namespace {

constexpr const char *true_path = "/bin/true";
char true_name[] = "true";
char *const true_argv[] = {true_name, nullptr};

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

std::string spawn_true() {
    pid_t pid = 0;
    const int err = posix_spawn(&pid, true_path, nullptr, nullptr, true_argv, environ);
    if (err != 0) return std::string("posix_spawn: ") + std::strerror(err);
    return reap(pid);
}

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
    {"clone_vfork_exec", "clone(VM|VFORK) + execve /bin/true", clone_vfork_exec},
};
constexpr int way_count = sizeof ways / sizeof ways[0];

// Consecutive runs of one way before the next way's turn.
int block_for(int iterations) { return std::min(iterations, 10); }

// Why this way cannot be measured here, or "" if it can.
std::string unusable(const process_way &w, bool under_qemu) {
    const bool execs = w.once == spawn_true || w.once == clone_vfork_exec;
    if (execs && under_qemu)
        return "not measured under qemu-user: the exec'd /bin/true would be this host's own "
               "binary, run natively, not an emulated process";
    if (execs && access(true_path, X_OK) != 0)
        return std::string(true_path) + " is not executable: " + std::strerror(errno);
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
