// Another thread library in a process of its own: clonert-bench-musl-peer
// (musl_peer.c, musl's pthread_create in a static program), started once
// and driven block by block through a pipe, so that its blocks take their
// turn in the same rotation as the thread variants of this process.
#pragma once

#include <cstdio>
#include <string>
#include <sys/types.h>

#include "results.hpp"
#include "threads.hpp"

namespace bench {

class musl_peer {
public:
    // Starts the peer found next to `self` (the build directory) or where it
    // is installed; if it was not built or will not start, note() says why.
    musl_peer(const std::string &self, bool under_qemu);
    ~musl_peer();
    musl_peer(const musl_peer &) = delete;
    musl_peer &operator=(const musl_peer &) = delete;

    bool running() const { return pid_ > 0; }
    const std::string &note() const { return note_; }
    // musl's defaults, as the peer reported them.
    std::string what() const;

    // `warmup` untimed lifecycles, then `iterations` timed ones into `out`,
    // pinned to `cpu` (-1: the CPUs the peer started with). False, with
    // note() set and the peer stopped, if it failed.
    bool latency_block(latency_samples &out, int iterations, int warmup, int cpu);

private:
    void stop(const std::string &why);
    pid_t pid_ = -1;
    std::FILE *to_ = nullptr;
    std::FILE *from_ = nullptr;
    std::string note_;
    std::size_t stack_ = 0, guard_ = 0;
};

}  // namespace bench
