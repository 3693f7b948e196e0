#include "fork_alive.hpp"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.hpp"
#include "gated.hpp"
#include "stats.hpp"

namespace bench {
namespace {

struct fork_sample {
    gated_start start;
    std::vector<std::uint64_t> ticks;  // one per timed fork
    std::string failure;               // of a fork, or empty
};

// One fork whose child leaves at once; `elapsed` gets the ticks from the
// call to waitpid's return. "" or what went wrong.
std::string fork_once(std::uint64_t &elapsed) {
    const std::uint64_t t0 = raw::ticks();
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0) return std::string("fork: ") + std::strerror(errno);
    int status = 0;
    pid_t reaped;
    while ((reaped = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    elapsed = raw::ticks() - t0;
    if (reaped != pid) return std::string("waitpid: ") + std::strerror(errno);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return "the child ended with wait status " + std::to_string(status);
    return {};
}

template <template <body_fn> class V>
fork_sample fork_alive(int threads, int forks) {
    using T = V<gate_body>;
    std::vector<typename T::handle> handles(static_cast<std::size_t>(threads));
    gate g;
    fork_sample s;
    if (create_idle<T>(handles, g, s.start)) {
        // One untimed: the first fork meets cold kernel caches (its slabs,
        // this code) that every later one finds warm.
        std::uint64_t elapsed = 0;
        s.failure = fork_once(elapsed);
        for (int i = 0; i < forks && s.failure.empty(); ++i) {
            s.failure = fork_once(elapsed);
            if (s.failure.empty()) s.ticks.push_back(elapsed);
        }
    }
    release_and_join<T>(handles, g, s.start.created);
    return s;
}

struct fork_variant {
    std::string id;
    fork_sample (*run)(int threads, int forks);
};

// clonert's C API and pthread_create, which the target compares, and the
// floor: the kernel's threads alone, in one mapping of small stacks.
const std::vector<fork_variant> &fork_variants() {
    static const std::vector<fork_variant> variants{
        {"clonert_c", &fork_alive<clonert_c>},
        {"pthread", &fork_alive<pthread_c>},
        {"floor", &fork_alive<bare_clone>},
    };
    return variants;
}

fork_sample run_variant(const std::string &id, int threads, int forks) {
    for (const fork_variant &f : fork_variants()) {
        if (f.id != id) continue;
        // Only for the floor: touched pages are what fork copies.
        if (id == "floor") reserve_floor_stacks(threads);
        const thread_variant &v = *find_variant(id);
        v.enter();
        fork_sample s = f.run(threads, forks);
        v.leave();
        return s;
    }
    throw bench_error("no fork experiment for variant " + id);
}

// The --fork-alive line: created error timed_out failed count ticks... [failure text]
fork_sample in_fresh_process(const run_options &o, const std::string &id, int threads, int forks,
                             int cpu) {
    temp_file output("fork");
    const int status = run_program({o.self, "--fork-alive", id, std::to_string(threads),
                                    std::to_string(forks), "--cpu", std::to_string(cpu)},
                                   output);
    const std::string text = output.contents();
    std::istringstream in(text);
    fork_sample s;
    int timed_out = 0, failed = 0;
    std::size_t count = 0;
    in >> s.start.created >> s.start.error >> timed_out >> failed >> count;
    s.start.timed_out = timed_out != 0;
    for (std::size_t i = 0; in && i < count; ++i) {
        std::uint64_t t = 0;
        if (in >> t) s.ticks.push_back(t);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !in || s.ticks.size() != count)
        throw bench_error("the fork probe for " + id + " failed (wait status " +
                          std::to_string(status) + "): " + text);
    if (failed) std::getline(in >> std::ws, s.failure);
    return s;
}

std::string failure_of(const fork_sample &s, int threads) {
    if (s.start.created < threads)
        return "create failed at thread " + std::to_string(s.start.created + 1) + ": " +
               std::strerror(s.start.error) + ". Limits here: " + thread_limits();
    if (s.start.timed_out) return "the threads did not all start within 10 s";
    return s.failure;
}

}  // namespace

const std::vector<std::string> &fork_variant_ids() {
    static const std::vector<std::string> ids = [] {
        std::vector<std::string> v;
        for (const fork_variant &f : fork_variants()) v.push_back(f.id);
        return v;
    }();
    return ids;
}

long fork_work(const plan &p) {
    return static_cast<long>(p.fork_processes) * static_cast<long>(fork_variants().size());
}

std::vector<fork_result> fork_rounds(const plan &p, const run_options &o, int cpu,
                                     progress &prog) {
    const auto &ids = fork_variant_ids();
    std::vector<fork_result> results(ids.size());
    std::vector<std::vector<double>> samples(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        results[i].id = ids[i];
        results[i].label = find_variant(ids[i])->label;
        results[i].threads = p.fork_threads;
    }
    for (int rep = 0; rep < p.fork_processes; ++rep) {
        for (const std::size_t i : rotation(rep, ids.size())) {
            prog.advance("fork with threads alive");
            if (!results[i].failure.empty()) continue;  // it failed once: do not insist
            // Under qemu-user the benchmark cannot start itself (see run.cpp):
            // the forks are timed in this process, informative only.
            const fork_sample s =
                o.under_qemu ? run_variant(ids[i], p.fork_threads, p.forks_per_process)
                             : in_fresh_process(o, ids[i], p.fork_threads, p.forks_per_process, cpu);
            results[i].failure = failure_of(s, p.fork_threads);
            if (!results[i].failure.empty()) {
                prog.say(results[i].label + ": fork with threads alive: " + results[i].failure);
                continue;
            }
            for (const std::uint64_t t : s.ticks) samples[i].push_back(ns(t));
        }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) results[i].latency = summarize(samples[i]);
    return results;
}

int run_fork_probe(const std::string &variant_id, int threads, int forks, int cpu) {
    if (find_variant(variant_id) == nullptr) throw bench_error("no variant called " + variant_id);
    if (cpu >= 0) pin_this_thread(cpu);
    const fork_sample s = run_variant(variant_id, threads, forks);
    std::printf("%d %d %d %d %zu", s.start.created, s.start.error, s.start.timed_out ? 1 : 0,
                s.failure.empty() ? 0 : 1, s.ticks.size());
    for (const std::uint64_t t : s.ticks) std::printf(" %" PRIu64, t);
    std::printf("\n%s\n", s.failure.c_str());
    return 0;
}

}  // namespace bench
