// gort::sleep_for / gort::sleep_until: goroutines parked on the per-P timer
// heaps.
//
// What is asserted and why it can fail:
//  - Never early: every sleeper compares steady_clock before and after with
//    its duration (or deadline). This is a correctness property, the only
//    timing assertion here; "not too late" is not asserted.
//  - Earlier deadlines wake first: sleepers started in reverse order with
//    deadlines 10 ms apart append to a Mutex-guarded vector; a timer heap
//    that fired out of order (or a wake-up by start order) breaks the
//    ordering. The spacing is wide because this machine's own scheduling
//    noise (measured with plain threads in clock_nanosleep) reaches several
//    ms under load, and two timers that expire in one scheduler pass are
//    readied in heap order into runnext, where the later one runs first
//    (as in Go).
//  - A deadline in the past (or a duration <= 0) returns without parking: at
//    GOMAXPROCS=1 a goroutine made just before would run if it parked.
//  - Sleeping parks the goroutine, not the thread: at GOMAXPROCS=1 a
//    goroutine started right before the sleep must finish its N yields
//    while the sleeper sleeps; a sleep that blocked the only thread would
//    wake to find it has not run at all.
//  - A pending timer is not a deadlock: all goroutines parked while one
//    sleeps is a normal state (run in a child so that a false "deadlock!"
//    does not take the whole suite down).
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using gort_test::ScopedGomaxprocs;
using Clock = std::chrono::steady_clock;

TEST(Sleep, ClockIsSteadyClock) {
  static_assert(std::is_same_v<gort::clock, std::chrono::steady_clock>);
  auto a = Clock::now();
  auto t = gort::detail::nanotime();
  auto b = Clock::now();
  EXPECT_LE(std::chrono::duration_cast<std::chrono::nanoseconds>(a.time_since_epoch()).count(), t);
  EXPECT_GE(std::chrono::duration_cast<std::chrono::nanoseconds>(b.time_since_epoch()).count(), t);
}

TEST(Sleep, SleepForNeverReturnsEarly) {
  constexpr int kSleepers = 300;
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> us(0, 5000);  // 0 - 5 ms
  std::atomic<int> early{0};
  gort::WaitGroup wg;
  wg.add(kSleepers);
  for (int i = 0; i < kSleepers; ++i) {
    auto d = std::chrono::microseconds(us(rng));
    gort::go([&, d] {
      auto before = Clock::now();
      gort::sleep_for(d);
      auto slept = Clock::now() - before;
      if (slept < d) {
        early.fetch_add(1);
        ADD_FAILURE() << "slept " << std::chrono::duration_cast<std::chrono::nanoseconds>(slept).count()
                      << " ns of " << std::chrono::duration_cast<std::chrono::nanoseconds>(d).count() << " ns";
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(early.load(), 0);
}

TEST(Sleep, SleepForSubMicrosecondAndOddUnitsNeverReturnEarly) {
  // Durations that do not convert exactly to nanoseconds are rounded up.
  auto check = [](auto d) {
    auto before = Clock::now();
    gort::sleep_for(d);
    EXPECT_GE(Clock::now() - before, d);
  };
  check(std::chrono::nanoseconds(1));
  check(std::chrono::nanoseconds(999));
  check(std::chrono::duration<double, std::milli>(1.5));
  check(std::chrono::duration<double, std::micro>(0.3));
  check(std::chrono::duration<long, std::ratio<1, 3>>(0));  // zero: returns at once
  check(std::chrono::microseconds(1500));
}

TEST(Sleep, SleepUntilNeverReturnsEarly) {
  constexpr int kSleepers = 200;
  std::mt19937 rng(777);
  std::uniform_int_distribution<int> us(0, 5000);
  gort::WaitGroup wg;
  wg.add(kSleepers);
  auto base = Clock::now();
  for (int i = 0; i < kSleepers; ++i) {
    auto deadline = base + std::chrono::microseconds(us(rng));
    gort::go([&, deadline] {
      gort::sleep_until(deadline);
      auto now = Clock::now();
      EXPECT_GE(now, deadline) << "woke " << (deadline - now).count() << " ns early";
      wg.done();
    });
  }
  wg.wait();
}

// Deadlines spaced 30 ms apart from one common base: the order of wake-ups
// does not depend on when each goroutine got to run and start its sleep.
// (The order is recorded after each wakes: a thread the OS stops for longer
// than the spacing, under a full parallel ctest, would swap two. At 10 ms
// ShorterSleepForWakesFirst failed so once, with clang's build; the heap's
// order itself is checked without timing in timerheap_test.)
TEST(Sleep, EarlierDeadlinesWakeFirst) {
  constexpr int kSleepers = 6;
  constexpr auto kSpacing = 30ms;
  gort::Mutex mu;
  std::vector<int> woke;  // guarded by mu
  gort::WaitGroup wg;
  wg.add(kSleepers);
  auto base = Clock::now() + 2ms;
  for (int i = kSleepers; i >= 1; --i) {  // longest first: start order is the reverse of wake order
    gort::go([&, i] {
      gort::sleep_until(base + i * kSpacing);
      {
        std::lock_guard<gort::Mutex> lk(mu);
        woke.push_back(i);
      }
      wg.done();
    });
  }
  wg.wait();
  std::vector<int> expect(kSleepers);
  for (int i = 0; i < kSleepers; ++i) expect[i] = i + 1;
  EXPECT_EQ(woke, expect);
}

TEST(Sleep, ShorterSleepForWakesFirst) {
  // The same with relative durations 30, 60, ..., 30N ms: started in
  // reverse order, so the start skew only makes the longer ones later.
  constexpr int kSleepers = 5;
  gort::Mutex mu;
  std::vector<int> woke;
  gort::WaitGroup wg, started, gate;
  wg.add(kSleepers);
  started.add(kSleepers);
  gate.add(1);
  for (int i = kSleepers; i >= 1; --i) {
    gort::go([&, i] {
      started.done();
      gate.wait();
      gort::sleep_for(std::chrono::milliseconds(30 * i));
      {
        std::lock_guard<gort::Mutex> lk(mu);
        woke.push_back(i);
      }
      wg.done();
    });
  }
  started.wait();
  gate.done();
  wg.wait();
  std::vector<int> expect(kSleepers);
  for (int i = 0; i < kSleepers; ++i) expect[i] = i + 1;
  EXPECT_EQ(woke, expect);
}

TEST(Sleep, PastDeadlineAndNonPositiveDurationReturnWithoutParking) {
  ScopedGomaxprocs procs(1);
  std::atomic<bool> other_ran{false};
  gort::WaitGroup other_done;
  other_done.add(1);
  gort::go([&] {
    other_ran.store(true);
    other_done.done();
  });
  auto before = Clock::now();
  gort::sleep_until(before - 1s);
  gort::sleep_until(gort::time_point{});  // the clock's epoch
  gort::sleep_until(before);              // "now" has passed by the time it is looked at
  gort::sleep_for(0ms);
  gort::sleep_for(-5ms);
  gort::sleep_for(std::chrono::nanoseconds::min());
  EXPECT_FALSE(other_ran.load()) << "a sleep that was already over parked the goroutine";
  other_done.wait();
  EXPECT_TRUE(other_ran.load());
}

TEST(Sleep, SleepingDoesNotBlockTheThread) {
  ScopedGomaxprocs procs(1);
  constexpr int kYields = 100;
  std::atomic<int> counter{0};
  int seen_at_wake = -1;
  gort::WaitGroup wg;
  wg.add(2);
  gort::go([&] {
    // The counter goroutine is made here, so it cannot run before we sleep
    // (one P, and it waits in runnext until this goroutine parks).
    gort::go([&] {
      for (int i = 0; i < kYields; ++i) {
        counter.fetch_add(1);
        gort::gosched();
      }
      wg.done();
    });
    gort::sleep_for(100ms);
    seen_at_wake = counter.load();
    wg.done();
  });
  wg.wait();
  EXPECT_EQ(seen_at_wake, kYields);
}

TEST(Sleep, ManySleepersOnSeveralPsAllWake) {
  constexpr int kSleepers = 10000;
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> us(0, 2000);
  std::atomic<int> woke{0};
  gort::WaitGroup wg;
  wg.add(kSleepers);
  for (int i = 0; i < kSleepers; ++i) {
    auto d = std::chrono::microseconds(us(rng));
    gort::go([&, d] {
      gort::sleep_for(d);
      woke.fetch_add(1);
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(woke.load(), kSleepers);
}

TEST(Sleep, SleepingRepeatedlyInOneGoroutine) {
  // The G's timer is reused from one sleep to the next.
  for (int i = 0; i < 50; ++i) {
    auto d = std::chrono::microseconds(50 * (i % 7));
    auto before = Clock::now();
    gort::sleep_for(d);
    ASSERT_GE(Clock::now() - before, d) << "iteration " << i;
  }
}

TEST(SleepDeathTest, APendingTimerIsNotADeadlock) {
  // Every goroutine is parked while one sleeps: not a deadlock, because the
  // timer will wake it. The child exits 0 only if the wait completes.
  EXPECT_EXIT(
      {
        gort::gomaxprocs(1);
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&] {
          gort::sleep_for(30ms);
          wg.done();
        });
        wg.wait();
        std::fflush(stdout);
        std::_Exit(0);
      },
      testing::ExitedWithCode(0), "");
}

}  // namespace
