// Helpers shared by the timer-heap and timer-channel suites.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>

#include "runtime2.h"

namespace gort_test {

// Checks every P's heap, each under its timerslock (the heap order, each
// entry's index, when and P, and timer0when); returns how many timers they
// hold.
inline std::size_t check_timer_heaps() {
  using namespace gort::rt;
  std::size_t total = 0;
  for (std::int32_t p = 0; p < gomaxprocs.load(); ++p) {
    P* pp = allp[p];
    pp->timerslock.lock();
    const auto& h = pp->timers;
    for (std::size_t i = 0; i < h.size(); ++i) {
      EXPECT_EQ(h[i].t->index, static_cast<std::int32_t>(i)) << "P" << p << " entry " << i;
      EXPECT_EQ(h[i].when, h[i].t->when) << "P" << p << " entry " << i;
      EXPECT_EQ(h[i].t->pp.load(), pp) << "P" << p << " entry " << i;
      if (i > 0) {
        EXPECT_LE(h[(i - 1) / 4].when, h[i].when) << "P" << p << " entry " << i << " is before its parent";
      }
    }
    EXPECT_EQ(pp->timer0when.load(), h.empty() ? 0 : h[0].when) << "P" << p;
    total += h.size();
    pp->timerslock.unlock();
  }
  return total;
}

}  // namespace gort_test
