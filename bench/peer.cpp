#include "peer.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_config.h"
#include "stats.hpp"

extern char **environ;

namespace bench {
#ifndef CLONERT_BENCH_NO_MUSL_PEER
namespace {

constexpr const char *peer_name = "clonert-bench-musl-peer";

// Beside this program (the build directory), or where `ninja install` put it.
std::string find_peer(const std::string &self) {
    const std::string beside = self.substr(0, self.rfind('/') + 1) + peer_name;
    if (access(beside.c_str(), X_OK) == 0) return beside;
#ifdef CLONERT_BENCH_MUSL_PEER_INSTALLED
    if (access(CLONERT_BENCH_MUSL_PEER_INSTALLED, X_OK) == 0) return CLONERT_BENCH_MUSL_PEER_INSTALLED;
#endif
    return {};
}

}  // namespace
#endif

musl_peer::musl_peer(const std::string &self, bool under_qemu) {
#ifdef CLONERT_BENCH_NO_MUSL_PEER
    (void)self;
    (void)under_qemu;
    note_ = CLONERT_BENCH_NO_MUSL_PEER;
    return;
#else
    if (under_qemu) {
        note_ = "not measured under qemu-user: the peer is a program for the build machine";
        return;
    }
    const std::string path = find_peer(self);
    if (path.empty()) {
        note_ = std::string("not measured: ") + peer_name + " was built but is not beside " +
                self + " nor installed";
        return;
    }
    // A write to a peer that died would otherwise kill this process (pipe(7));
    // ignored, the write fails with EPIPE and the peer's row says why.
    signal(SIGPIPE, SIG_IGN);
    int down[2], up[2];  // to the peer's stdin, from its stdout
    if (pipe2(down, O_CLOEXEC) != 0) throw bench_error(std::string("pipe2: ") + std::strerror(errno));
    if (pipe2(up, O_CLOEXEC) != 0) throw bench_error(std::string("pipe2: ") + std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears O_CLOEXEC on the copy: the peer keeps only these two.
    posix_spawn_file_actions_adddup2(&actions, down[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, up[1], STDOUT_FILENO);
    char *argv[] = {const_cast<char *>(path.c_str()), nullptr};
    const int err = posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(down[0]);
    close(up[1]);
    if (err != 0) {
        pid_ = -1;
        close(down[1]);
        close(up[0]);
        note_ = "not measured: cannot run " + path + ": " + std::strerror(err);
        return;
    }
    to_ = fdopen(down[1], "w");
    from_ = fdopen(up[0], "r");
    if (to_ == nullptr || from_ == nullptr ||
        std::fscanf(from_, " ready %zu %zu", &stack_, &guard_) != 2)
        stop("it did not start");
#endif
}

musl_peer::~musl_peer() {
    if (running()) {
        std::fputs("quit\n", to_);
        std::fflush(to_);
    }
    stop(note_);
}

void musl_peer::stop(const std::string &why) {
    if (to_ != nullptr) std::fclose(to_);
    if (from_ != nullptr) std::fclose(from_);
    to_ = from_ = nullptr;
    if (pid_ > 0) {
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    pid_ = -1;
    if (note_.empty()) note_ = "not measured: the peer failed: " + why;
}

std::string musl_peer::what() const {
    const std::string what = "pthread_create + pthread_join in a statically linked musl program, "
                             "a separate process";
    if (stack_ == 0) return what;  // it never started
    return what + "; musl's defaults: " + std::to_string(stack_ / 1024) + " KiB stack, " +
           std::to_string(guard_ / 1024) + " KiB guard, no stack cache";
}

bool musl_peer::latency_block(latency_samples &out, int iterations, int warmup, int cpu) {
    if (!running()) return false;
    std::fprintf(to_, "block %d %d %d\n", iterations, warmup, cpu);
    if (std::fflush(to_) != 0) {
        stop("it stopped reading");
        return false;
    }
    for (int i = 0; i < iterations; ++i) {
        unsigned long long create = 0, total = 0;
        long long start = 0, join = 0;
        if (std::fscanf(from_, " %llu %lld %lld %llu", &create, &start, &join, &total) != 4) {
            char why[256] = "";
            if (std::fgets(why, sizeof why, from_) == nullptr) std::strcpy(why, "no answer");
            why[std::strcspn(why, "\n")] = '\0';
            stop(why);
            return false;
        }
        out.create_join.push_back(ns(total));
        out.create_call.push_back(ns(create));
        // As in the thread variants: never a negative latency, but counted.
        out.clock_disorder += start < 0 || join < 0;
        out.start.push_back(start < 0 ? 0.0 : ns(static_cast<std::uint64_t>(start)));
        out.join.push_back(join < 0 ? 0.0 : ns(static_cast<std::uint64_t>(join)));
    }
    long faults = 0, switches = 0;
    if (std::fscanf(from_, " done %ld %ld", &faults, &switches) != 2) {
        stop("its block did not end");
        return false;
    }
    out.minor_faults += faults;
    out.context_switches += switches;
    out.lifecycles += iterations;
    return true;
}

}  // namespace bench
