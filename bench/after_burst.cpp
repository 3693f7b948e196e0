#include "after_burst.hpp"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>
#include <sys/wait.h>

#include "child_process.hpp"
#include "gated.hpp"
#include "process_memory.hpp"
#include "stats.hpp"

namespace bench {
namespace {

struct kept_sample {
    gated_start start;
    kept_memory at_once, after_idle, after_creations;
    std::vector<double> singles;  // ns, each single create+join in order
};

kept_memory reading() { return {mapped_bytes(), resident_bytes(), mapping_count()}; }

kept_memory minus(const kept_memory &a, const kept_memory &b) {
    return {a.mapped_bytes - b.mapped_bytes, a.resident_bytes - b.resident_bytes,
            a.mappings - b.mappings};
}

void idle(int milliseconds) {
    timespec t{milliseconds / 1000, static_cast<long>(milliseconds % 1000) * 1'000'000};
    while (nanosleep(&t, &t) != 0) {
    }
}

// threads == 0: the same steps without the burst, the condition to compare with.
template <template <body_fn> class V>
kept_sample after_burst(const thread_variant &v, int threads, int singles, int idle_ms) {
    using T = V<gate_body>;
    // Before the first reading: the handles' memory is not the burst's.
    std::vector<typename T::handle> handles(static_cast<std::size_t>(threads));
    latency_samples timed;
    timed.reserve(static_cast<std::size_t>(singles));
    gate g;
    kept_sample k;
    v.lifecycles(after_burst_setup_lifecycles);
    const kept_memory before = reading();
    if (threads > 0) {
        create_idle<T>(handles, g, k.start);
        release_and_join<T>(handles, g, k.start.created);
    }
    k.at_once = minus(reading(), before);
    idle(idle_ms);
    k.after_idle = minus(reading(), before);
    v.latency_block(timed, singles, 0);  // no untimed warm-up: the first call counts
    k.after_creations = minus(reading(), before);
    k.singles = std::move(timed.create_join);
    return k;
}

struct kept_variant {
    std::string id;
    kept_sample (*run)(const thread_variant &v, int threads, int singles, int idle_ms);
};

// clonert's C API and pthread_create, which the targets compare; clonert
// with linger 0 (glibc's policy: never more than the cache size) and
// without its cache, what the other policies would keep and cost.
const std::vector<kept_variant> &kept_variants() {
    static const std::vector<kept_variant> variants{
        {"clonert_c", &after_burst<clonert_c>},
        {"clonert_linger0", &after_burst<clonert_c>},
        {"clonert_nocache", &after_burst<clonert_c>},
        {"pthread", &after_burst<pthread_c>},
    };
    return variants;
}

kept_sample run_variant(const std::string &id, int threads, int singles, int idle_ms) {
    for (const kept_variant &k : kept_variants()) {
        if (k.id != id) continue;
        const thread_variant &v = *find_variant(id);
        v.enter();
        kept_sample s = k.run(v, threads, singles, idle_ms);
        v.leave();
        return s;
    }
    throw bench_error("no after-burst experiment for variant " + id);
}

void print(const kept_memory &m) {
    std::printf(" %.17g %.17g %.17g", m.mapped_bytes, m.resident_bytes, m.mappings);
}

bool scan(std::istream &in, kept_memory &m) {
    return static_cast<bool>(in >> m.mapped_bytes >> m.resident_bytes >> m.mappings);
}

bool scan_singles(std::istream &in, std::vector<double> &singles) {
    std::size_t count = 0;
    if (!(in >> count)) return false;
    singles.resize(count);
    for (double &ns : singles)
        if (!(in >> ns)) return false;
    return true;
}

// The --after-burst line: created error timed_out, mapped resident mappings
// at each of the three readings, then the count of singles and their ns.
kept_sample in_fresh_process(const run_options &o, const std::string &id, int threads,
                             const plan &p, int cpu) {
    temp_file output("after-burst");
    const int status = run_program({o.self, "--after-burst", id, std::to_string(threads),
                                    std::to_string(p.kept_singles),
                                    std::to_string(p.kept_idle_ms), "--cpu", std::to_string(cpu)},
                                   output);
    const std::string text = output.contents();
    std::istringstream in(text);
    kept_sample k;
    int timed_out = 0;
    in >> k.start.created >> k.start.error >> timed_out;
    k.start.timed_out = timed_out != 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !in || !scan(in, k.at_once) ||
        !scan(in, k.after_idle) || !scan(in, k.after_creations) || !scan_singles(in, k.singles))
        throw bench_error("the after-burst probe for " + id + " failed (wait status " +
                          std::to_string(status) + "): " + text);
    return k;
}

kept_memory medians(const std::vector<kept_memory> &samples) {
    std::vector<double> mapped, resident, mappings;
    for (const kept_memory &m : samples) {
        mapped.push_back(m.mapped_bytes);
        resident.push_back(m.resident_bytes);
        mappings.push_back(m.mappings);
    }
    return {median(mapped), median(resident), median(mappings)};
}

// The samples of one variant, over its processes.
struct kept_tally {
    std::vector<kept_memory> at_once, after_idle, after_creations;
    std::vector<summary> after_burst, no_burst;
};

singles_result medians(const std::vector<summary> &processes) {
    singles_result r;
    r.processes = static_cast<int>(processes.size());
    std::vector<double> p50, p99, max;
    for (const summary &s : processes) {
        p50.push_back(s.p50);
        p99.push_back(s.p99);
        max.push_back(s.max);
        r.means.push_back(s.mean);
    }
    r.p50 = median(p50);
    r.p99 = median(p99);
    r.max = median(max);
    r.mean = median(r.means);
    return r;
}

std::string start_failure(const kept_sample &k) {
    return k.start.timed_out ? "the threads did not all start within 10 s"
                             : "create failed at thread " + std::to_string(k.start.created + 1) +
                                   ": " + std::strerror(k.start.error) +
                                   ". Limits here: " + thread_limits();
}

// One process of variant `id`, with the burst or without; "" or why it failed.
std::string one_process(const plan &p, const run_options &o, int cpu, const std::string &id,
                        bool burst, kept_tally &tally) {
    const int threads = burst ? p.kept_burst_threads : 0;
    kept_sample k;
    try {
        // Under qemu-user, in this process (see fork_alive.cpp): informative only.
        k = o.under_qemu ? run_variant(id, threads, p.kept_singles, p.kept_idle_ms)
                         : in_fresh_process(o, id, threads, p, cpu);
    } catch (const bench_error &e) {
        return e.what();
    }
    if (k.start.created < threads || k.start.timed_out) return start_failure(k);
    if (k.singles.size() != static_cast<std::size_t>(p.kept_singles))
        return std::to_string(k.singles.size()) + " single create+join of " +
               std::to_string(p.kept_singles);
    (burst ? tally.after_burst : tally.no_burst).push_back(summarize(k.singles));
    if (burst) {
        tally.at_once.push_back(k.at_once);
        tally.after_idle.push_back(k.after_idle);
        tally.after_creations.push_back(k.after_creations);
    }
    return {};
}

}  // namespace

const std::vector<std::string> &after_burst_variant_ids() {
    static const std::vector<std::string> ids = [] {
        std::vector<std::string> v;
        for (const kept_variant &k : kept_variants()) v.push_back(k.id);
        return v;
    }();
    return ids;
}

// Two processes per variant and repetition: with the burst and without.
long after_burst_work(const plan &p) {
    return 2L * p.kept_repetitions * static_cast<long>(kept_variants().size());
}

std::vector<kept_result> after_burst_rounds(const plan &p, const run_options &o, int cpu,
                                            progress &prog) {
    const auto &ids = after_burst_variant_ids();
    std::vector<kept_result> results(ids.size());
    std::vector<kept_tally> tallies(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        results[i].id = ids[i];
        results[i].label = find_variant(ids[i])->label;
        results[i].threads = p.kept_burst_threads;
    }
    // Every (variant, with or without the burst) takes its turn, rotating.
    for (int rep = 0; rep < p.kept_repetitions; ++rep) {
        for (const std::size_t turn : rotation(rep, 2 * ids.size())) {
            const std::size_t i = turn / 2;
            const bool burst = turn % 2 == 0;
            prog.advance("after a burst");
            if (!results[i].failure.empty()) continue;  // it failed once: do not insist
            const std::string failure = one_process(p, o, cpu, ids[i], burst, tallies[i]);
            if (failure.empty()) continue;
            results[i].failure = std::string(burst ? "after a burst" : "without a burst") +
                                 ": " + failure;
            prog.say(results[i].label + ": after a burst: " + results[i].failure);
        }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
        results[i].repetitions = static_cast<int>(tallies[i].at_once.size());
        results[i].at_once = medians(tallies[i].at_once);
        results[i].after_idle = medians(tallies[i].after_idle);
        results[i].after_creations = medians(tallies[i].after_creations);
        results[i].after_burst = medians(tallies[i].after_burst);
        results[i].no_burst = medians(tallies[i].no_burst);
    }
    return results;
}

int run_after_burst_probe(const std::string &variant_id, int threads, int singles, int idle_ms,
                          int cpu) {
    if (find_variant(variant_id) == nullptr) throw bench_error("no variant called " + variant_id);
    if (cpu >= 0) pin_this_thread(cpu);
    const kept_sample k = run_variant(variant_id, threads, singles, idle_ms);
    std::printf("%d %d %d", k.start.created, k.start.error, k.start.timed_out ? 1 : 0);
    print(k.at_once);
    print(k.after_idle);
    print(k.after_creations);
    std::printf(" %zu", k.singles.size());
    for (const double ns : k.singles) std::printf(" %.0f", ns);
    std::printf("\n");
    return 0;
}

}  // namespace bench
