// Sleeping on the runtime's per-P timer heaps (Go 1.14's design): the
// goroutine is parked, not the thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace gort {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;

namespace detail {
void sleep_until_ns(std::int64_t monotonic_ns);
std::int64_t nanotime() noexcept;  // CLOCK_MONOTONIC, the clock of steady_clock on Linux
}  // namespace detail

// Parks the calling goroutine until t. Never wakes early.
inline void sleep_until(time_point t) {
  detail::sleep_until_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Parks the calling goroutine for at least d. A d <= 0 returns at once, as Go's time.Sleep.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return;
  auto ns = std::chrono::ceil<std::chrono::nanoseconds>(d).count();
  detail::sleep_until_ns(detail::nanotime() + ns);
}

}  // namespace gort
