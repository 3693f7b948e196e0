#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <numeric>

#include "raw.hpp"

namespace bench {
namespace {

double tick_ns = 1.0;

std::int64_t monotonic_ns() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// The value at percent p: the smallest sample with at least p% of the
// samples at or below it.
double percentile(const std::vector<double> &sorted, double p) {
    if (sorted.empty()) return 0;
    const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
    const std::size_t index = rank < 1 ? 0 : static_cast<std::size_t>(rank) - 1;
    return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

void calibrate_clock(int milliseconds) {
    // Bracket the counter reads with clock reads, and take the span between
    // the middles: the error is a few hundred ns over tens of ms.
    const std::int64_t c0 = monotonic_ns();
    const std::uint64_t t0 = raw::ticks();
    const std::int64_t c1 = monotonic_ns();
    std::int64_t c2, c3;
    std::uint64_t t1;
    do {
        c2 = monotonic_ns();
        t1 = raw::ticks();
        c3 = monotonic_ns();
    } while (c2 - c0 < std::int64_t{milliseconds} * 1'000'000);
    const double elapsed = static_cast<double>((c2 + c3) - (c0 + c1)) / 2.0;
    tick_ns = elapsed / static_cast<double>(t1 - t0);
}

double ticks_per_us() { return 1000.0 / tick_ns; }

double ns(std::uint64_t ticks) { return static_cast<double>(ticks) * tick_ns; }

double tick_read_cost() {
    std::uint64_t best = ~std::uint64_t{0};
    for (int i = 0; i < 1000; ++i) {
        const std::uint64_t a = raw::ticks();
        const std::uint64_t b = raw::ticks();
        best = std::min(best, b - a);
    }
    return ns(best);
}

summary summarize(std::vector<double> &values) {
    summary s;
    s.samples = values.size();
    if (values.empty()) return s;
    std::sort(values.begin(), values.end());
    s.min = values.front();
    s.max = values.back();
    s.p50 = percentile(values, 50);
    s.p90 = percentile(values, 90);
    s.p99 = percentile(values, 99);
    s.p999 = percentile(values, 99.9);
    s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
    for (int p = 0; p <= 100; ++p) s.cdf.emplace_back(p, percentile(values, p));
    for (double p : {99.5, 99.9}) s.cdf.emplace_back(p, percentile(values, p));
    std::sort(s.cdf.begin(), s.cdf.end());
    return s;
}

double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace bench
