// Small helpers shared by the suites.
#pragma once

#include <gort/gort.h>

namespace gort_test {

// Sets GOMAXPROCS for one test and restores the previous value after it, so
// that a test can rely on one P (deterministic cooperative scheduling) or on
// several, whatever GOMAXPROCS the suite was started with.
class ScopedGomaxprocs {
 public:
  explicit ScopedGomaxprocs(int n) : prev_(gort::gomaxprocs(n)) {}
  ~ScopedGomaxprocs() { gort::gomaxprocs(prev_); }
  ScopedGomaxprocs(const ScopedGomaxprocs&) = delete;
  ScopedGomaxprocs& operator=(const ScopedGomaxprocs&) = delete;

 private:
  int prev_;
};

// A goroutine that has called WaitGroup::done() may not have exited yet.
// Yields until num_goroutine() drops to `want` or `max_yields` yields have
// passed (a goroutine that never exits, e.g. one lost by the scheduler,
// makes the caller's assertion fail instead of hanging). Returns the count.
inline int settle_goroutines(int want, int max_yields = 1'000'000) {
  int n = gort::num_goroutine();
  for (int i = 0; i < max_yields && n > want; ++i) {
    gort::gosched();
    n = gort::num_goroutine();
  }
  return n;
}

}  // namespace gort_test
