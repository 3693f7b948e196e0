#include "run.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clonert/clonert.h>

#include "after_burst.hpp"
#include "child_process.hpp"
#include "fork_alive.hpp"
#include "peer.hpp"
#include "process_memory.hpp"
#include "processes.hpp"
#include "raw.hpp"
#include "stats.hpp"
#include "syscalls.hpp"
#include "threads.hpp"

namespace bench {

plan plan_for(const std::string &mode) {
    if (mode == "smoke")  // a few of everything: the test suite's check, also under qemu
        return {.mode = "smoke", .pinned_iterations = 20, .unpinned_iterations = 20,
                .block = 10, .warmup = 1, .bursts = {{1, 2}, {10, 2}}, .memory_threads = 10,
                .memory_repetitions = 1, .strace_lifecycles = 5, .process_iterations = 3,
                .fork_threads = 20, .fork_processes = 1, .forks_per_process = 3,
                .kept_burst_threads = 20, .kept_singles = 20, .kept_idle_ms = 50,
                .kept_repetitions = 1, .scaled = ""};
    // --quick makes 2,000 threads, not the target's 10,000, for fork: a
    // fork's child pays a copy-on-write fault per live thread (see
    // fork_alive.hpp), which a virtual machine can make cost 70 us, so that
    // one fork with 10,000 threads alive takes a second. The after-burst
    // experiment forks nothing and keeps the targets' 10,000, once.
    if (mode == "quick")  // 10-20 s natively on 2 CPUs
        return {.mode = "quick", .pinned_iterations = 3000, .unpinned_iterations = 2000,
                .block = 100, .warmup = 2,
                .bursts = {{1, 50}, {10, 20}, {100, 10}, {1000, 3}, {10000, 1}},
                .memory_threads = 1000, .memory_repetitions = 1, .strace_lifecycles = 100,
                .process_iterations = 50, .fork_threads = 2000, .fork_processes = 1,
                .forks_per_process = 5, .kept_burst_threads = 10000, .kept_singles = 400,
                .kept_idle_ms = 300, .kept_repetitions = 1, .scaled = ""};
    // 40-55 s natively on 2 CPUs
    return {.mode = "default", .pinned_iterations = 30000, .unpinned_iterations = 20000,
            .block = 100, .warmup = 2,
            .bursts = {{1, 200}, {10, 100}, {100, 30}, {1000, 10}, {10000, 5}},
            .memory_threads = 1000, .memory_repetitions = 3, .strace_lifecycles = 100,
            .process_iterations = 300, .fork_threads = 10000, .fork_processes = 2,
            .forks_per_process = 5, .kept_burst_threads = 10000, .kept_singles = 400,
            .kept_idle_ms = 300, .kept_repetitions = 3, .scaled = ""};
}

void scale_for_qemu(plan &p) {
    constexpr int most = 200;
    std::vector<burst_size> bursts;  // sizes capped, each size once
    for (const burst_size &b : p.bursts)
        if (bursts.empty() || bursts.back().threads < most)
            bursts.push_back({std::min(b.threads, most), b.repetitions});
    p.bursts = bursts;
    p.memory_threads = std::min(p.memory_threads, most / 2);  // two batches alive at once
    p.fork_threads = std::min(p.fork_threads, most);
    p.kept_burst_threads = std::min(p.kept_burst_threads, most);
    p.scaled = "under qemu-user (CLONERT_UNDER_QEMU=1) no experiment makes more than " +
               std::to_string(most) + " threads at once: qemu keeps about 280 KB for every "
               "thread a process ever made";
}

std::vector<std::size_t> rotation(int round, std::size_t n) {
    std::vector<std::size_t> order(n);
    const std::size_t start = static_cast<std::size_t>(round) % n;
    const bool backwards = (static_cast<std::size_t>(round) / n) % 2 == 1;
    for (std::size_t k = 0; k < n; ++k) order[k] = backwards ? (start + n - k) % n : (start + k) % n;
    return order;
}

namespace {

std::string cpu_model() {
    std::ifstream info("/proc/cpuinfo");
    for (std::string line; std::getline(info, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        if (line.rfind("model name", 0) == 0 || line.rfind("CPU part", 0) == 0)
            return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
    return "?";
}

std::size_t pthread_default_stack() {
    pthread_attr_t attr;
    std::size_t size = 0;
    if (pthread_getattr_default_np(&attr) == 0) {
        pthread_attr_getstacksize(&attr, &size);
        pthread_attr_destroy(&attr);
    }
    return size;
}

machine_info describe_machine(const run_options &o) {
    machine_info m;
    utsname u{};
    uname(&u);
    m.arch = u.machine;
    m.kernel = u.release;
    m.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    m.cpu_model = cpu_model();
    m.glibc = gnu_get_libc_version();
    m.under_qemu = o.under_qemu;
    m.ticks_per_us = ticks_per_us();
    m.tick_read_ns = tick_read_cost();
    m.default_stack = pthread_default_stack();
    m.guard_regions = guard_regions();
    return m;
}

// Pins the calling thread, and so every thread it creates after (clone(2)
// children inherit the CPU affinity mask), to one CPU.
class pinning {
public:
    explicit pinning(int cpu) {
        sched_getaffinity(0, sizeof original_, &original_);
        cpu_ = cpu;
        if (cpu_ < 0)
            for (int c = 0; c < CPU_SETSIZE; ++c)
                if (CPU_ISSET(c, &original_)) cpu_ = c;  // the last allowed one
    }
    void pin() {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu_, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0)
            throw bench_error("cannot pin to CPU " + std::to_string(cpu_) + ": " +
                              std::strerror(errno));
    }
    void unpin() { sched_setaffinity(0, sizeof original_, &original_); }
    int cpu() const { return cpu_; }

private:
    cpu_set_t original_;
    int cpu_ = -1;
};

// The musl peer, when it runs, takes its turn in the rotation as one more
// variant, pinned as this process is (`cpu`, or -1 when unpinned).
struct peer_turn {
    musl_peer &peer;
    latency_samples &samples;
    int cpu;
};

void latency_rounds(std::vector<latency_samples> &samples, int iterations, const plan &p,
                    peer_turn peer, progress &prog, const char *phase) {
    const auto &variants = thread_variants();
    for (latency_samples &s : samples) s.reserve(static_cast<std::size_t>(iterations));
    const std::size_t turns = variants.size() + (peer.peer.running() ? 1 : 0);
    for (int round = 0, done = 0; done < iterations; ++round, done += p.block) {
        const int n = std::min(p.block, iterations - done);
        for (const std::size_t i : rotation(round, turns)) {
            if (i == variants.size()) {
                if (peer.peer.running() &&
                    !peer.peer.latency_block(peer.samples, n, p.warmup, peer.cpu))
                    prog.say("musl peer: " + peer.peer.note());
            } else {
                variants[i].enter();
                variants[i].latency_block(samples[i], n, p.warmup);
                variants[i].leave();
            }
            prog.advance(phase);
        }
    }
}

latency_result summarize_latency(latency_samples &s) {
    latency_result r;
    r.create_join = summarize(s.create_join);
    r.create_call = summarize(s.create_call);
    r.start = summarize(s.start);
    r.join = summarize(s.join);
    const double lifecycles = static_cast<double>(std::max(s.lifecycles, 1L));
    r.minor_faults = static_cast<double>(s.minor_faults) / lifecycles;
    r.context_switches = static_cast<double>(s.context_switches) / lifecycles;
    r.clock_disorder = s.clock_disorder;
    return r;
}

std::string burst_failure(const thread_variant &v, int threads, const burst_sample &b) {
    return std::string(v.label) + ": burst of " + std::to_string(threads) +
           " threads: create failed at thread " + std::to_string(b.created + 1) + ": " +
           std::strerror(b.error) + ". Limits here: " + thread_limits();
}

// The variants of one burst group in repetition `rep`, rotating. Variants
// whose enter() empties clonert's stack cache form a group of their own,
// measured after the others: interleaved, they would hand the cached clonert
// variants an empty cache (in a burst, unlike one thread at a time, a warm-up
// lifecycle cannot refill it).
std::vector<std::size_t> burst_order(int rep, bool cache_emptying) {
    const auto &variants = thread_variants();
    std::vector<std::size_t> order;
    for (const std::size_t i : rotation(rep, variants.size()))
        if (variants[i].empties_cache == cache_emptying) order.push_back(i);
    return order;
}

// One untimed burst of the largest size per variant: the first time a
// process holds that many threads the kernel grows its caches (task and VMA
// slabs, page tables, pid structures), and whichever variant ran first would
// pay for it.
void warm_up_bursts(const plan &p, bool cache_emptying, progress &prog) {
    if (p.bursts.empty()) return;
    for (const std::size_t i : burst_order(0, cache_emptying)) {
        const thread_variant &v = thread_variants()[i];
        v.enter();
        v.burst(p.bursts.back().threads);  // a failure shows again, and is reported, below
        v.leave();
        prog.advance("bursts");
    }
}

// The samples of one burst size.
struct burst_tally {
    std::vector<double> create, join, total;
    std::string failure;
};

void one_burst(std::size_t i, int threads, burst_tally &tally, progress &prog) {
    const thread_variant &v = thread_variants()[i];
    prog.advance("bursts");
    if (!tally.failure.empty()) return;  // it failed once: do not insist
    v.enter();
    const burst_sample b = v.burst(threads);
    v.leave();
    if (b.created < threads) {
        tally.failure = burst_failure(v, threads, b);
        prog.say(tally.failure);
        return;
    }
    tally.create.push_back(b.create_all);
    tally.join.push_back(b.join_all);
    tally.total.push_back(b.create_all + b.join_all);
}

burst_result summarize_bursts(int threads, burst_tally &tally) {
    burst_result r;
    r.threads = threads;
    r.repetitions = static_cast<int>(tally.total.size());
    r.create_all = median(tally.create);
    r.join_all = median(tally.join);
    r.total = median(tally.total);
    r.failure = tally.failure;
    return r;
}

void burst_rounds(std::vector<variant_result> &results, const plan &p, progress &prog) {
    const std::size_t n = thread_variants().size();
    std::vector<std::vector<burst_tally>> tallies(p.bursts.size(), std::vector<burst_tally>(n));
    for (const bool cache_emptying : {false, true}) {
        warm_up_bursts(p, cache_emptying, prog);
        for (std::size_t s = 0; s < p.bursts.size(); ++s)
            for (int rep = 0; rep < p.bursts[s].repetitions; ++rep)
                for (const std::size_t i : burst_order(rep, cache_emptying))
                    one_burst(i, p.bursts[s].threads, tallies[s][i], prog);
    }
    for (std::size_t s = 0; s < p.bursts.size(); ++s)
        for (std::size_t i = 0; i < n; ++i)
            results[i].bursts.push_back(summarize_bursts(p.bursts[s].threads, tallies[s][i]));
}

// One variant's memory, measured in a fresh process (--memory mode): in this
// one, whatever earlier experiments left in the heap and the stack caches
// would decide where the next threads' allocations land.
memory_sample memory_in_fresh_process(const run_options &o, const thread_variant &v, int threads,
                                      int cpu) {
    temp_file output("memory");
    const int status = run_program({o.self, "--memory", v.id, std::to_string(threads), "--cpu",
                                     std::to_string(cpu)},
                                    output);
    const std::string text = output.contents();
    memory_sample m;
    int timed_out = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        std::sscanf(text.c_str(), "%lf %lf %d %d %d", &m.rss_bytes, &m.mappings, &m.created,
                    &m.error, &timed_out) != 5)
        throw bench_error(std::string("the memory probe for ") + v.id + " failed (wait status " +
                          std::to_string(status) + "): " + text);
    m.timed_out = timed_out != 0;
    return m;
}

// Under qemu-user the benchmark cannot start itself (the kernel cannot run
// an aarch64 program without the emulator): it measures in this process.
memory_sample memory_of(const run_options &o, const thread_variant &v, int threads, int cpu) {
    if (!o.under_qemu) return memory_in_fresh_process(o, v, threads, cpu);
    v.enter();
    const memory_sample m = v.idle_memory(threads);
    v.leave();
    return m;
}

void memory_rounds(std::vector<variant_result> &results, const plan &p, const run_options &o,
                   int cpu, progress &prog) {
    const auto &variants = thread_variants();
    std::vector<std::vector<double>> rss(variants.size()), maps(variants.size());
    for (int rep = 0; rep < p.memory_repetitions; ++rep) {
        for (const std::size_t i : rotation(rep, variants.size())) {
            prog.advance("memory");
            const memory_sample m = memory_of(o, variants[i], p.memory_threads, cpu);
            if (m.created < p.memory_threads || m.timed_out) {
                results[i].memory.failure =
                    m.timed_out ? "the threads did not all start within 10 s"
                                : std::string("create failed: ") + std::strerror(m.error);
                continue;
            }
            rss[i].push_back(m.rss_bytes);
            maps[i].push_back(m.mappings);
        }
    }
    for (std::size_t i = 0; i < variants.size(); ++i) {
        results[i].memory.threads = p.memory_threads;
        results[i].memory.rss_bytes = median(rss[i]);
        results[i].memory.mappings = median(maps[i]);
    }
}

void syscall_counts(std::vector<variant_result> &results, const plan &p, const run_options &o,
                    int cpu, progress &prog) {
    const std::string unavailable = strace_unavailable(o.under_qemu);
    if (!unavailable.empty()) prog.say("system calls: " + unavailable);
    const auto &variants = thread_variants();
    for (std::size_t i = 0; i < variants.size(); ++i) {
        prog.advance("system calls (strace)");
        if (!unavailable.empty()) {
            results[i].syscalls.note = unavailable;
            continue;
        }
        results[i].syscalls =
            count_syscalls(o.self, variants[i].id, p.strace_lifecycles, cpu);
        if (!results[i].syscalls.measured)
            prog.say(std::string("system calls: ") + variants[i].id + ": " +
                     results[i].syscalls.note);
    }
}

long planned_work(const plan &p, std::size_t variant_count, bool peer) {
    const auto blocks = [&](int iterations) { return (iterations + p.block - 1) / p.block; };
    const long latency_units = blocks(p.pinned_iterations) + blocks(p.unpinned_iterations);
    long units = latency_units;
    for (const burst_size &b : p.bursts) units += b.repetitions;
    units += p.memory_repetitions + 2;  // + 2: the bursts' warm-up, system calls
    return units * static_cast<long>(variant_count) + (peer ? latency_units : 0) +
           process_work(p.process_iterations) + fork_work(p) + after_burst_work(p);
}

// The most threads alive at once: the memory measurement keeps two batches.
int most_threads(const plan &p) {
    int most = 2 * p.memory_threads;
    for (const burst_size &b : p.bursts) most = std::max(most, b.threads);
    return most;
}

// One untimed block of each variant: the first clonert thread checks glibc's
// layout (creating a pthread), the first of each kind faults in code and data.
void warm_up(const plan &p, musl_peer &peer) {
    latency_samples discard;
    for (const thread_variant &v : thread_variants()) {
        v.enter();
        v.latency_block(discard, p.block, p.warmup);
        v.leave();
    }
    peer.latency_block(discard, p.block, p.warmup, -1);
}

peer_result describe_peer(const musl_peer &peer) {
    peer_result r;
    r.id = "musl_static";
    r.label = "musl pthread_create (static)";
    r.what = peer.what();
    return r;
}

}  // namespace

run_result run_benchmark(const plan &p, const run_options &o, progress &prog) {
    if (const char *why = clonert_refusal()) throw bench_error(why);
    const std::uint64_t began = raw::ticks();
    run_result r;
    r.settings = p;
    r.machine = describe_machine(o);
    if (!p.scaled.empty()) prog.say(p.scaled);
    const auto &variants = thread_variants();
    for (const thread_variant &v : variants) {
        variant_result vr;
        vr.id = v.id;
        vr.label = v.label;
        vr.what = v.what;
        r.variants.push_back(vr);
    }
    // Started before anything is pinned: it inherits every allowed CPU.
    musl_peer peer(o.self, o.under_qemu);
    r.peers.push_back(describe_peer(peer));
    reserve_floor_stacks(1);
    prog.add_work(planned_work(p, variants.size(), peer.running()));
    warm_up(p, peer);

    pinning cpu(o.cpu);
    r.machine.pinned_cpu = cpu.cpu();
    std::vector<latency_samples> pinned(variants.size()), unpinned(variants.size());
    latency_samples peer_pinned, peer_unpinned;
    cpu.pin();
    latency_rounds(pinned, p.pinned_iterations, p, {peer, peer_pinned, cpu.cpu()}, prog,
                   "create+join, pinned");
    // Before the bursts: fork's cost grows with the memory the process holds.
    r.processes = measure_processes(p.process_iterations, o.under_qemu, prog);
    cpu.unpin();
    latency_rounds(unpinned, p.unpinned_iterations, p, {peer, peer_unpinned, -1}, prog,
                   "create+join, unpinned");
    cpu.pin();
    reserve_floor_stacks(most_threads(p));
    burst_rounds(r.variants, p, prog);
    memory_rounds(r.variants, p, o, cpu.cpu(), prog);
    release_floor_stacks();
    r.forks = fork_rounds(p, o, cpu.cpu(), prog);
    r.kept = after_burst_rounds(p, o, cpu.cpu(), prog);
    cpu.unpin();
    syscall_counts(r.variants, p, o, cpu.cpu(), prog);

    for (std::size_t i = 0; i < variants.size(); ++i) {
        r.variants[i].pinned = summarize_latency(pinned[i]);
        r.variants[i].unpinned = summarize_latency(unpinned[i]);
    }
    peer_result &pr = r.peers.front();
    pr.measured = peer.running();
    pr.note = peer.note();
    if (pr.measured) {
        pr.pinned = summarize_latency(peer_pinned);
        pr.unpinned = summarize_latency(peer_unpinned);
    }
    r.seconds = ns(raw::ticks() - began) / 1e9;
    return r;
}

void pin_this_thread(int cpu) { pinning(cpu).pin(); }

int run_memory_probe(const std::string &variant_id, int threads, int cpu) {
    const thread_variant *v = find_variant(variant_id);
    if (v == nullptr) throw bench_error("no variant called " + variant_id);
    if (cpu >= 0) pin_this_thread(cpu);
    reserve_floor_stacks(2 * threads);
    v->enter();
    const memory_sample m = v->idle_memory(threads);
    v->leave();
    std::printf("%.17g %.17g %d %d %d\n", m.rss_bytes, m.mappings, m.created, m.error,
                m.timed_out ? 1 : 0);
    return 0;
}

int run_lifecycles(const std::string &variant_id, int count, int cpu) {
    const thread_variant *v = find_variant(variant_id);
    if (v == nullptr) throw bench_error("no variant called " + variant_id);
    // Pinned, as the latency figures are: the parent then nearly always
    // reaches its join before the child has run, so the join waits (one futex
    // call) for every variant alike, whatever strace's stops do to timing.
    if (cpu >= 0) pin_this_thread(cpu);
    reserve_floor_stacks(1);
    v->enter();
    v->lifecycles(3);  // the first threads set things up once (layout checks, caches)
    mark_lifecycles_begin();
    v->lifecycles(count);
    mark_lifecycles_end();
    v->leave();
    return 0;
}

}  // namespace bench
