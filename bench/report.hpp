// What a run found, for people (a table, with the target checks) and for
// programs (JSON, CSV).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "results.hpp"

namespace bench {

// The project's targets (docs/benchmark.md), as ratios from this run.
std::vector<target_check> check_targets(const run_result &r);
// How many check_targets() returns, measured or not.
inline constexpr std::size_t target_count = 17;

void print_table(std::FILE *out, const run_result &r);
std::string to_json(const run_result &r);
std::string to_csv(const run_result &r);

}  // namespace bench
