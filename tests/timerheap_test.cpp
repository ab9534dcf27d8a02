// The P's timer heap (runtime/time.cpp): 4-ary, entries that carry their
// timer's when. Timers far in the future (they never fire here) are added
// and deleted in random order, and every heap is checked after each step:
// the heap order, each entry's index and when, and timer0when.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "runtime2.h"
#include "timer_util.h"

namespace {

using namespace gort::rt;

void never(void*, std::int64_t, std::int64_t) { ADD_FAILURE() << "a timer an hour away fired"; }

using gort_test::check_timer_heaps;

TEST(TimerHeap, StaysAHeapThroughRandomAddsAndDeletes) {
  std::mt19937_64 rng(12345);
  const std::int64_t base = nanotime() + 3'600'000'000'000;  // an hour from now
  std::vector<std::unique_ptr<Timer>> live;
  for (int round = 0; round < 20; ++round) {
    const int adds = 50 + static_cast<int>(rng() % 100);
    for (int i = 0; i < adds; ++i) {
      auto t = std::make_unique<Timer>();
      t->when = base + static_cast<std::int64_t>(rng() % 1000) * 1000;  // duplicates on purpose
      t->f = never;
      addtimer(t.get());
      live.push_back(std::move(t));
    }
    ASSERT_EQ(check_timer_heaps(), live.size());
    std::shuffle(live.begin(), live.end(), rng);
    const std::size_t dels = live.size() / 2;
    for (std::size_t i = 0; i < dels; ++i) {
      EXPECT_TRUE(deltimer(live.back().get()));
      live.pop_back();
    }
    ASSERT_EQ(check_timer_heaps(), live.size());
  }
  for (auto& t : live) EXPECT_TRUE(deltimer(t.get()));
  EXPECT_EQ(check_timer_heaps(), 0u);
}

// The earliest of the timers comes out first (checktimers fires from the
// root): removing the root repeatedly yields them in order.
TEST(TimerHeap, RootIsAlwaysTheEarliest) {
  std::mt19937_64 rng(777);
  const std::int64_t base = nanotime() + 3'600'000'000'000;
  std::vector<std::unique_ptr<Timer>> ts;
  for (int i = 0; i < 500; ++i) {
    auto t = std::make_unique<Timer>();
    t->when = base + static_cast<std::int64_t>(rng() % 100000);
    t->f = never;
    addtimer(t.get());
    ts.push_back(std::move(t));
  }
  std::int64_t last = 0;
  for (std::size_t k = 0; k < ts.size(); ++k) {
    // The earliest of all Ps' roots.
    Timer* first = nullptr;
    for (std::int32_t p = 0; p < gomaxprocs.load(); ++p) {
      P* pp = allp[p];
      pp->timerslock.lock();
      if (!pp->timers.empty() && (first == nullptr || pp->timers[0].when < first->when)) first = pp->timers[0].t;
      pp->timerslock.unlock();
    }
    ASSERT_NE(first, nullptr);
    EXPECT_GE(first->when, last);
    last = first->when;
    EXPECT_TRUE(deltimer(first));
  }
  EXPECT_EQ(check_timer_heaps(), 0u);
}

}  // namespace
