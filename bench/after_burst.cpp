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
    kept_memory at_once, after_lifecycles, after_decay;
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

template <template <body_fn> class V>
kept_sample after_burst(const thread_variant &v, int threads, int lifecycles, int idle_ms) {
    using T = V<gate_body>;
    // Before the first reading: the handles' memory is not the burst's.
    std::vector<typename T::handle> handles(static_cast<std::size_t>(threads));
    gate g;
    kept_sample k;
    // A process's first threads set things up once (clonert checks glibc's
    // layout with a pthread, both libraries cache the stack of the last
    // exited thread): that is in the baseline, as it is in any program.
    v.lifecycles(3);
    const kept_memory before = reading();
    create_idle<T>(handles, g, k.start);
    release_and_join<T>(handles, g, k.start.created);
    k.at_once = minus(reading(), before);
    v.lifecycles(lifecycles);
    k.after_lifecycles = minus(reading(), before);
    idle(idle_ms);
    v.lifecycles(lifecycles);
    k.after_decay = minus(reading(), before);
    return k;
}

struct kept_variant {
    std::string id;
    kept_sample (*run)(const thread_variant &v, int threads, int lifecycles, int idle_ms);
};

// clonert's C API and pthread_create, which the target compares, and clonert
// without its cache: what the process keeps when no stack is cached.
const std::vector<kept_variant> &kept_variants() {
    static const std::vector<kept_variant> variants{
        {"clonert_c", &after_burst<clonert_c>},
        {"clonert_nocache", &after_burst<clonert_c>},
        {"pthread", &after_burst<pthread_c>},
    };
    return variants;
}

kept_sample run_variant(const std::string &id, int threads, int lifecycles, int idle_ms) {
    for (const kept_variant &k : kept_variants()) {
        if (k.id != id) continue;
        const thread_variant &v = *find_variant(id);
        v.enter();
        const kept_sample s = k.run(v, threads, lifecycles, idle_ms);
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

// The --after-burst line: created error timed_out, then mapped resident
// mappings at each of the three readings.
kept_sample in_fresh_process(const run_options &o, const std::string &id, const plan &p, int cpu) {
    temp_file output("after-burst");
    const int status = run_program({o.self, "--after-burst", id,
                                    std::to_string(p.kept_burst_threads),
                                    std::to_string(p.kept_lifecycles),
                                    std::to_string(p.kept_idle_ms), "--cpu", std::to_string(cpu)},
                                   output);
    const std::string text = output.contents();
    std::istringstream in(text);
    kept_sample k;
    int timed_out = 0;
    in >> k.start.created >> k.start.error >> timed_out;
    k.start.timed_out = timed_out != 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !in || !scan(in, k.at_once) ||
        !scan(in, k.after_lifecycles) || !scan(in, k.after_decay))
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

}  // namespace

const std::vector<std::string> &after_burst_variant_ids() {
    static const std::vector<std::string> ids = [] {
        std::vector<std::string> v;
        for (const kept_variant &k : kept_variants()) v.push_back(k.id);
        return v;
    }();
    return ids;
}

long after_burst_work(const plan &p) {
    return static_cast<long>(p.kept_repetitions) * static_cast<long>(kept_variants().size());
}

std::vector<kept_result> after_burst_rounds(const plan &p, const run_options &o, int cpu,
                                            progress &prog) {
    const auto &ids = after_burst_variant_ids();
    std::vector<kept_result> results(ids.size());
    struct readings {
        std::vector<kept_memory> at_once, after_lifecycles, after_decay;
    };
    std::vector<readings> samples(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        results[i].id = ids[i];
        results[i].label = find_variant(ids[i])->label;
        results[i].threads = p.kept_burst_threads;
    }
    for (int rep = 0; rep < p.kept_repetitions; ++rep) {
        for (const std::size_t i : rotation(rep, ids.size())) {
            prog.advance("memory kept after a burst");
            if (!results[i].failure.empty()) continue;
            // Under qemu-user, in this process (see fork_alive.cpp): informative only.
            const kept_sample k =
                o.under_qemu ? run_variant(ids[i], p.kept_burst_threads, p.kept_lifecycles,
                                           p.kept_idle_ms)
                             : in_fresh_process(o, ids[i], p, cpu);
            if (k.start.created < p.kept_burst_threads || k.start.timed_out) {
                results[i].failure =
                    k.start.timed_out
                        ? "the threads did not all start within 10 s"
                        : "create failed at thread " + std::to_string(k.start.created + 1) + ": " +
                              std::strerror(k.start.error) + ". Limits here: " + thread_limits();
                prog.say(results[i].label + ": memory kept after a burst: " + results[i].failure);
                continue;
            }
            samples[i].at_once.push_back(k.at_once);
            samples[i].after_lifecycles.push_back(k.after_lifecycles);
            samples[i].after_decay.push_back(k.after_decay);
        }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
        results[i].repetitions = static_cast<int>(samples[i].at_once.size());
        results[i].at_once = medians(samples[i].at_once);
        results[i].after_lifecycles = medians(samples[i].after_lifecycles);
        results[i].after_decay = medians(samples[i].after_decay);
    }
    return results;
}

int run_after_burst_probe(const std::string &variant_id, int threads, int lifecycles, int idle_ms,
                          int cpu) {
    if (find_variant(variant_id) == nullptr) throw bench_error("no variant called " + variant_id);
    if (cpu >= 0) pin_this_thread(cpu);
    const kept_sample k = run_variant(variant_id, threads, lifecycles, idle_ms);
    std::printf("%d %d %d", k.start.created, k.start.error, k.start.timed_out ? 1 : 0);
    print(k.at_once);
    print(k.after_lifecycles);
    print(k.after_decay);
    std::printf("\n");
    return 0;
}

}  // namespace bench
