// What the latency benchmarks (bench_handoff, bench_blocking) share: a
// monotonic clock in ns and a percentile of sorted samples.
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

inline std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The p-th quantile (0..1) of sorted samples, in their unit.
inline double pct(const std::vector<std::int64_t>& sorted, double p) {
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[i]);
}

}  // namespace bench
