// Turning counter ticks into nanoseconds, and samples into distributions.
#pragma once

#include <cstdint>
#include <vector>

#include "results.hpp"

namespace bench {

// The counter's rate, measured against CLOCK_MONOTONIC over `milliseconds`.
// Must run once before ns() is used.
void calibrate_clock(int milliseconds);
double ticks_per_us();
double ns(std::uint64_t ticks);
// What one raw::ticks() costs, in ns (a minimum over many reads).
double tick_read_cost();

// Nearest-rank percentiles; sorts `values` (ns).
summary summarize(std::vector<double> &values);

double median(std::vector<double> values);

}  // namespace bench
