// clonert-bench: what a thread costs, clonert against pthread_create, down to
// the kernel's floor. See docs/benchmark.md, or run with --help.

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "after_burst.hpp"
#include "fork_alive.hpp"
#include "json.hpp"
#include "report.hpp"
#include "run.hpp"
#include "stats.hpp"
#include "threads.hpp"

namespace {

constexpr const char *usage_text = R"(Usage: clonert-bench [--quick | --smoke] [--json | --csv] [--out FILE] [--cpu N]

What a thread costs: clonert's C API and clonert::thread against pthread_create,
std::thread, the floor (a bare clone(2) whose child only exits, joined by a
futex wait) and the parity floor (the same whose child also registers its
robust list and rseq area, as any glibc-compatible thread), all in one process, interleaved in rotating blocks so that every
figure can be read as a ratio from the same run. Measures create+join latency
(pinned to one CPU and unpinned; musl's pthread_create too, in a static
program of its own, if musl-gcc was installed at build time), start and join
latency, bursts of N live threads, memory and mappings per idle thread,
fork() with 10,000 threads alive, the memory a burst of 10,000 leaves behind
and what single create+join cost after it (against a process with no burst),
system calls per lifecycle (under strace, if installed) and, for comparison,
the cost of a process. Ends with the project's target checks (PASS/MISS).

  --quick       a shorter run (about 10-20 s on 2 CPUs)
  --smoke       a few of everything, checked for completeness (the test suite's
                check, also under qemu-user); exits 1 if anything is missing
  (default)     the full run, under a minute on 2 CPUs
  --json        print the results as JSON (scripts/bench-plot reads it)
  --csv         print the results as CSV (section,variant,condition,metric,value,unit)
  --out FILE    write the JSON or CSV to FILE and the table to stdout; without
                --out, JSON or CSV goes to stdout and the table to stderr
  --cpu N       the CPU the pinned measurements use (default: the last allowed)
  --help        this text

Internal modes, in which the benchmark runs itself: --lifecycles VARIANT COUNT
makes COUNT threads of one variant between two marker system calls (under
strace -f); --memory VARIANT N prints the memory N more idle threads add to a
fresh process; --fork-alive VARIANT N FORKS times FORKS forks with N idle
threads alive; --after-burst VARIANT N SINGLES IDLE_MS makes a burst of N (none
if 0), idles IDLE_MS, times SINGLES single create+join and prints the memory
kept at once, after the idle and after the singles, and their times. All take
--cpu N.

Environment: CLONERT_UNDER_QEMU=1 (set by the test suite under qemu-user)
keeps every experiment to a few hundred threads and the rest in this process.
)";

struct options {
    std::string mode = "default";
    std::string format;  // "", "json" or "csv"
    std::string out;
    int cpu = -1;
    std::string lifecycles_variant;
    int lifecycles = 0;
    std::string memory_variant;
    int memory_threads = 0;
    std::string fork_variant;
    int fork_threads = 0;
    int forks = 0;
    std::string after_burst_variant;
    int after_burst_threads = 0;
    int after_burst_singles = 0;
    int after_burst_idle_ms = 0;
};

[[noreturn]] void usage_error(const std::string &message) {
    std::fprintf(stderr, "clonert-bench: %s\n(clonert-bench --help explains the options)\n",
                 message.c_str());
    std::exit(2);
}

int to_int(const char *text, const char *option) {
    char *end = nullptr;
    errno = 0;
    const long v = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 1'000'000)
        usage_error(std::string(option) + " needs a number from 0 to 1000000, not '" + text + "'");
    return static_cast<int>(v);
}

options parse(int argc, char **argv) {
    options o;
    const auto next = [&](int &i, const char *option) -> const char * {
        if (i + 1 >= argc) usage_error(std::string(option) + " needs an argument");
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(usage_text, stdout);
            std::exit(0);
        } else if (a == "--quick" || a == "--smoke") {
            o.mode = a.substr(2);
        } else if (a == "--json" || a == "--csv") {
            if (!o.format.empty() && o.format != a.substr(2))
                usage_error("--json and --csv exclude each other");
            o.format = a.substr(2);
        } else if (a == "--out") {
            o.out = next(i, "--out");
        } else if (a == "--cpu") {
            o.cpu = to_int(next(i, "--cpu"), "--cpu");
        } else if (a == "--memory") {
            o.memory_variant = next(i, "--memory");
            o.memory_threads = to_int(next(i, "--memory"), "--memory");
        } else if (a == "--fork-alive") {
            o.fork_variant = next(i, "--fork-alive");
            o.fork_threads = to_int(next(i, "--fork-alive"), "--fork-alive");
            o.forks = to_int(next(i, "--fork-alive"), "--fork-alive");
        } else if (a == "--after-burst") {
            o.after_burst_variant = next(i, "--after-burst");
            o.after_burst_threads = to_int(next(i, "--after-burst"), "--after-burst");
            o.after_burst_singles = to_int(next(i, "--after-burst"), "--after-burst");
            o.after_burst_idle_ms = to_int(next(i, "--after-burst"), "--after-burst");
        } else if (a == "--lifecycles") {
            o.lifecycles_variant = next(i, "--lifecycles");
            o.lifecycles = to_int(next(i, "--lifecycles"), "--lifecycles");
        } else {
            usage_error("unknown option '" + a + "'");
        }
    }
    if (!o.out.empty() && o.format.empty()) usage_error("--out needs --json or --csv");
    return o;
}

bool under_qemu() {
    const char *v = std::getenv("CLONERT_UNDER_QEMU");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

std::string self_path() {
    std::vector<char> path(4096);
    const ssize_t n = readlink("/proc/self/exe", path.data(), path.size() - 1);
    if (n <= 0) throw bench::bench_error("cannot read /proc/self/exe");
    return std::string(path.data(), static_cast<std::size_t>(n));
}

void write_file(const std::string &path, const std::string &text) {
    std::FILE *f = std::fopen(path.c_str(), "w");
    if (f == nullptr || std::fputs(text.c_str(), f) < 0 || std::fclose(f) != 0)
        throw bench::bench_error("cannot write " + path + ": " + std::strerror(errno));
}

// --- The --smoke self-check: everything planned was measured ---------------------

struct checker {
    std::vector<std::string> failures;
    int checks = 0;
    void expect(bool ok, const std::string &what) {
        ++checks;
        if (!ok) failures.push_back(what);
    }
};

void check_latency(checker &c, const std::string &id, const bench::latency_result &l,
                   int planned, const char *condition) {
    const std::string where = id + " " + condition + ": ";
    c.expect(l.create_join.samples == static_cast<std::size_t>(planned),
             where + "create+join samples " + std::to_string(l.create_join.samples) + " of " +
                 std::to_string(planned));
    c.expect(l.create_join.p50 > 0, where + "create+join p50 is not positive");
    c.expect(l.start.samples == l.create_join.samples && l.join.samples == l.create_join.samples,
             where + "start/join latency samples missing");
    c.expect(l.create_join.p50 >= l.create_call.p50, where + "create+join below the create call");
}

void check_syscalls(checker &c, const bench::variant_result &v) {
    if (!v.syscalls.measured) {
        c.expect(!v.syscalls.note.empty(), v.id + ": system calls neither counted nor explained");
        return;
    }
    // Every lifecycle is one clone (clone or clone3) and one exit, whatever else it makes.
    double clones = 0, exits = 0;
    for (const auto &[name, count] : v.syscalls.by_name) {
        if (name == "clone" || name == "clone3") clones += count;
        if (name == "exit") exits += count;
    }
    c.expect(clones == 1.0, v.id + ": " + std::to_string(clones) + " clones per lifecycle, not 1");
    c.expect(exits == 1.0, v.id + ": " + std::to_string(exits) + " exits per lifecycle, not 1");
}

void check_peer(checker &c, const bench::run_result &r, const bench::peer_result &p) {
    if (!p.measured) {
        c.expect(!p.note.empty(), p.id + ": neither measured nor explained");
        return;
    }
    check_latency(c, p.id, p.pinned, r.settings.pinned_iterations, "pinned");
    check_latency(c, p.id, p.unpinned, r.settings.unpinned_iterations, "unpinned");
}

void check_forks(checker &c, const bench::run_result &r) {
    c.expect(r.forks.size() == bench::fork_variant_ids().size(),
             "fork with threads alive: a variant is missing");
    const auto planned =
        static_cast<std::size_t>(r.settings.fork_processes * r.settings.forks_per_process);
    for (const bench::fork_result &f : r.forks)
        c.expect(f.failure.empty() && f.threads == r.settings.fork_threads &&
                     f.latency.samples == planned && f.latency.p50 > 0,
                 f.id + ": fork with threads alive: " + std::to_string(f.latency.samples) + " of " +
                     std::to_string(planned) + " forks " + f.failure);
}

void check_kept(checker &c, const bench::run_result &r) {
    c.expect(r.kept.size() == bench::after_burst_variant_ids().size(),
             "after a burst: a variant is missing");
    const int planned = r.settings.kept_repetitions;
    for (const bench::kept_result &k : r.kept) {
        c.expect(k.failure.empty() && k.threads == r.settings.kept_burst_threads &&
                     k.repetitions == planned,
                 k.id + ": memory kept after a burst: " + std::to_string(k.repetitions) + " of " +
                     std::to_string(planned) + " " + k.failure);
        for (const bench::singles_result *s : {&k.after_burst, &k.no_burst})
            c.expect(s->processes == planned && s->p50 > 0 && s->max >= s->p99 &&
                         s->p99 >= s->p50 && s->mean > 0,
                     k.id + ": single create+join after a burst or without: " +
                         std::to_string(s->processes) + " of " + std::to_string(planned) +
                         " processes, or a statistic out of order");
    }
}

int smoke_check(const bench::run_result &r, const std::string &json) {
    checker c;
    const std::string json_problem = bench::json_error(json);
    c.expect(json_problem.empty(), "the JSON output is not valid JSON: " + json_problem);
    for (const char *key : {"\"variants\"", "\"peers\"", "\"processes\"",
                            "\"fork_with_threads_alive\"", "\"memory_after_burst\"",
                            "\"after_idle\"", "\"singles_after_burst\"", "\"singles_no_burst\"",
                            "\"guard_regions\"", "\"targets\""})
        c.expect(json.find(key) != std::string::npos, std::string("the JSON has no ") + key);
    c.expect(r.variants.size() == 8, "eight thread variants");
    c.expect(r.peers.size() == 1, "the musl peer's row");
    for (const bench::peer_result &p : r.peers) check_peer(c, r, p);
    check_forks(c, r);
    check_kept(c, r);
    c.expect(!r.machine.guard_regions.empty(), "guard regions neither probed nor explained");
    for (const bench::variant_result &v : r.variants) {
        check_latency(c, v.id, v.pinned, r.settings.pinned_iterations, "pinned");
        check_latency(c, v.id, v.unpinned, r.settings.unpinned_iterations, "unpinned");
        c.expect(v.bursts.size() == r.settings.bursts.size(), v.id + ": a burst size is missing");
        for (std::size_t i = 0; i < v.bursts.size() && i < r.settings.bursts.size(); ++i)
            c.expect(v.bursts[i].repetitions == r.settings.bursts[i].repetitions &&
                         v.bursts[i].total > 0,
                     v.id + ": burst of " + std::to_string(v.bursts[i].threads) + " incomplete " +
                         v.bursts[i].failure);
        c.expect(v.memory.failure.empty() && v.memory.threads == r.settings.memory_threads,
                 v.id + ": memory not measured " + v.memory.failure);
        check_syscalls(c, v);
    }
    for (const bench::process_result &p : r.processes)
        c.expect(p.measured ? p.latency.p50 > 0 : !p.note.empty(),
                 p.id + ": neither measured nor explained");
    c.expect(r.targets.size() == bench::target_count, std::to_string(bench::target_count) +
                                                          " target checks");
    for (const std::string &f : c.failures) std::fprintf(stderr, "smoke: FAILED: %s\n", f.c_str());
    std::fprintf(stderr, "smoke: %d checks, %zu failed\n", c.checks, c.failures.size());
    return c.failures.empty() ? 0 : 1;
}

int run(const options &o) {
    if (!o.lifecycles_variant.empty())
        return bench::run_lifecycles(o.lifecycles_variant, o.lifecycles, o.cpu);
    // The internal modes need the clock only to give threads ten seconds to start.
    const bool internal =
        !o.memory_variant.empty() || !o.fork_variant.empty() || !o.after_burst_variant.empty();
    bench::calibrate_clock(o.mode == "default" && !internal ? 100 : 20);
    if (!o.memory_variant.empty())
        return bench::run_memory_probe(o.memory_variant, o.memory_threads, o.cpu);
    if (!o.fork_variant.empty())
        return bench::run_fork_probe(o.fork_variant, o.fork_threads, o.forks, o.cpu);
    if (!o.after_burst_variant.empty())
        return bench::run_after_burst_probe(o.after_burst_variant, o.after_burst_threads,
                                            o.after_burst_singles, o.after_burst_idle_ms,
                                            o.cpu);

    bench::run_options ro;
    ro.self = self_path();
    ro.cpu = o.cpu;
    ro.under_qemu = under_qemu();
    bench::plan p = bench::plan_for(o.mode);
    if (ro.under_qemu) bench::scale_for_qemu(p);
    bench::progress prog(true);
    bench::run_result r = bench::run_benchmark(p, ro, prog);
    prog.finish();
    r.targets = bench::check_targets(r);

    const std::string machine = o.format == "json" ? bench::to_json(r)
                                : o.format == "csv" ? bench::to_csv(r)
                                                    : std::string();
    if (!o.out.empty()) write_file(o.out, machine);
    else std::fputs(machine.c_str(), stdout);
    // The table goes where the machine-readable output does not.
    bench::print_table(o.format.empty() || !o.out.empty() ? stdout : stderr, r);
    if (o.mode == "smoke") return smoke_check(r, o.format == "json" ? machine : bench::to_json(r));
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    const options o = parse(argc, argv);
    try {
        return run(o);
    } catch (const bench::bench_error &e) {
        std::fprintf(stderr, "clonert-bench: %s\n", e.what());
        return 1;
    }
}
