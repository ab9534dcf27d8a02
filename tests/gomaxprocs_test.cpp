// GOMAXPROCS: the number of Ps, read from the environment at start-up (Go's
// variable and Go's rules) and changed at run time with gort::gomaxprocs(n).
//
// What is asserted and why it can fail:
//  - A child gort_probe started with GOMAXPROCS=k reports k; unset, empty,
//    unparsable or non-positive values fall back to the number of online
//    CPUs, as Go's do. The probe prints what the runtime actually uses.
//  - gomaxprocs(n < 1) only queries; gomaxprocs(n) returns the previous value
//    and the next query sees n. It may be called from a goroutine running on
//    a P the resize removes, and from several goroutines at once (as Go's
//    runtime.GOMAXPROCS may); a self-deadlock or two stop-the-worlds waiting
//    for each other shows as a hang, reported by the watchdog.
//  - Resizing while goroutines run and park: workers do Mutex, WaitGroup,
//    gosched and sleep traffic while main switches between 1, 4, 2 and 1 Ps
//    hundreds of times. Goroutines on the run queues of a P that goes away,
//    and timers on its heap, must move elsewhere: a lost goroutine never
//    finishes (the counters come up short, the WaitGroup never drains, or
//    num_goroutine() never drops back).
#include <gtest/gtest.h>

#include <gort/gort.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

#include "child_process.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using gort_test::ScopedGomaxprocs;

std::string probe() { return GORT_PROBE; }

int ncpu() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<int>(std::clamp<long>(n, 1, 1024));
}

// GOMAXPROCS as seen by a fresh gort_probe with the given environment value
// (std::nullopt: unset).
int probe_gomaxprocs(std::optional<std::string> env) {
  auto r = gort_test::run_child({probe(), "gomaxprocs"}, {{"GOMAXPROCS", env}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  return std::atoi(r.out.c_str());
}

TEST(Gomaxprocs, FromTheEnvironment) {
  EXPECT_EQ(probe_gomaxprocs("1"), 1);
  EXPECT_EQ(probe_gomaxprocs("3"), 3);
  EXPECT_EQ(probe_gomaxprocs("7"), 7);  // more Ps than CPUs is allowed
  EXPECT_EQ(probe_gomaxprocs("64"), 64);
}

TEST(Gomaxprocs, UnsetMeansTheCpuCount) { EXPECT_EQ(probe_gomaxprocs(std::nullopt), ncpu()); }

TEST(Gomaxprocs, InvalidValuesFallBackToTheCpuCount) {
  for (const char* bad : {"abc", "0", "-2", "", "3x", " "}) {
    EXPECT_EQ(probe_gomaxprocs(bad), ncpu()) << "GOMAXPROCS=\"" << bad << "\"";
  }
}

TEST(Gomaxprocs, QueryDoesNotChangeIt) {
  int now = gort::gomaxprocs(0);
  EXPECT_GE(now, 1);
  EXPECT_EQ(gort::gomaxprocs(-1), now);
  EXPECT_EQ(gort::gomaxprocs(0), now);
  // This suite's own GOMAXPROCS came from its environment the same way.
  const char* env = std::getenv("GOMAXPROCS");
  char* end = nullptr;
  long v = env ? std::strtol(env, &end, 10) : 0;
  if (env && end != env && *end == '\0' && v > 0) {
    EXPECT_EQ(now, std::min<long>(v, 1024));
  }
}

TEST(Gomaxprocs, SetReturnsThePreviousValue) {
  int orig = gort::gomaxprocs(0);
  EXPECT_EQ(gort::gomaxprocs(3), orig);
  EXPECT_EQ(gort::gomaxprocs(0), 3);
  EXPECT_EQ(gort::gomaxprocs(1), 3);
  EXPECT_EQ(gort::gomaxprocs(1), 1);  // setting the same value is a no-op that still answers
  EXPECT_EQ(gort::gomaxprocs(5), 1);
  EXPECT_EQ(gort::gomaxprocs(orig), 5);
  EXPECT_EQ(gort::gomaxprocs(0), orig);
}

TEST(Gomaxprocs, MoreProcsThanGoroutinesThenFewer) {
  // Grow to many idle Ps, run work on them, and shrink back.
  ScopedGomaxprocs procs(16);
  std::atomic<int> n{0};
  gort::WaitGroup wg;
  wg.add(100);
  for (int i = 0; i < 100; ++i) gort::go([&] {
      gort::gosched();
      n.fetch_add(1);
      wg.done();
    });
  wg.wait();
  EXPECT_EQ(n.load(), 100);
  EXPECT_EQ(gort::gomaxprocs(1), 16);
  wg.add(100);
  for (int i = 0; i < 100; ++i) gort::go([&] {
      gort::gosched();
      n.fetch_add(1);
      wg.done();
    });
  wg.wait();
  EXPECT_EQ(n.load(), 200);
}

TEST(Gomaxprocs, ResizeWhileGoroutinesRunAndPark) {
  const int orig = gort::gomaxprocs(0);
  const int baseline = gort_test::settle_goroutines(1);
  constexpr int kWorkers = 64;
  constexpr int kIters = 300;
  constexpr int kMinResizes = 400;
  static constexpr int kSizes[] = {1, 4, 2, 1, 3, 4, 1, 2};

  gort::Mutex mu;
  long locked_count = 0;  // guarded by mu
  std::atomic<long> handoffs{0};
  std::atomic<int> workers_left{kWorkers};
  gort::WaitGroup all;
  all.add(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    gort::go([&, w] {
      for (int i = 0; i < kIters; ++i) {
        switch ((i + w) % 4) {
          case 0: {  // park on a contended Mutex, yield while holding it
            std::lock_guard<gort::Mutex> lk(mu);
            long v = locked_count;
            gort::gosched();
            locked_count = v + 1;
            break;
          }
          case 1: {  // park in WaitGroup.wait until a helper goroutine is done
            gort::WaitGroup one;
            one.add(1);
            gort::go([&] {
              gort::gosched();
              handoffs.fetch_add(1);
              one.done();
            });
            one.wait();
            break;
          }
          case 2:  // park on a timer
            gort::sleep_for(std::chrono::microseconds(20 + (i * 7 + w) % 80));
            break;
          default:
            gort::gosched();
        }
      }
      workers_left.fetch_sub(1);
      all.done();
    });
  }

  int resizes = 0;
  while (workers_left.load() > 0 || resizes < kMinResizes) {
    int n = kSizes[resizes % std::size(kSizes)];
    gort::gomaxprocs(n);
    ASSERT_EQ(gort::gomaxprocs(0), n);
    ++resizes;
    gort::gosched();
  }
  all.wait();
  gort::gomaxprocs(orig);

  // Count the work each kind of parking did.
  long expect_locked = 0, expect_handoffs = 0;
  for (int w = 0; w < kWorkers; ++w)
    for (int i = 0; i < kIters; ++i) {
      if ((i + w) % 4 == 0) ++expect_locked;
      if ((i + w) % 4 == 1) ++expect_handoffs;
    }
  {
    std::lock_guard<gort::Mutex> lk(mu);
    EXPECT_EQ(locked_count, expect_locked);
  }
  EXPECT_EQ(handoffs.load(), expect_handoffs);
  EXPECT_GE(resizes, kMinResizes);
  EXPECT_EQ(gort_test::settle_goroutines(baseline), baseline) << "goroutines never exited";
  RecordProperty("resizes", std::to_string(resizes));
}

// The goroutine that calls gomaxprocs(n) may itself run on a P that the
// resize removes (id >= n); it must carry on on a P that stays. Goroutines on
// several Ps take turns (under a Mutex, so one resize at a time) at shrinking
// to 1 or 2 Ps and growing back to 4, so that the caller is often on P1-P3.
TEST(Gomaxprocs, ShrinkCalledFromAGoroutineOnAPThatGoesAway) {
  ScopedGomaxprocs procs(4);
  constexpr int kGoroutines = 8;
  constexpr int kRounds = 100;
  gort::Mutex mu;
  std::atomic<int> resizes{0};
  gort::WaitGroup wg;
  wg.add(kGoroutines);
  for (int g = 0; g < kGoroutines; ++g) {
    gort::go([&, g] {
      for (int r = 0; r < kRounds; ++r) {
        {
          std::lock_guard<gort::Mutex> lk(mu);
          int n = 1 + (r + g) % 2;
          gort::gomaxprocs(n);
          EXPECT_EQ(gort::gomaxprocs(0), n);
          gort::gomaxprocs(4);
          resizes.fetch_add(2);
        }
        gort::gosched();
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(resizes.load(), 2 * kGoroutines * kRounds);
  EXPECT_EQ(gort::gomaxprocs(0), 4);
}

// Go's GOMAXPROCS may be called from several goroutines at once (stopping
// the world is serialized); the last resize wins and every caller returns.
TEST(Gomaxprocs, ConcurrentResizesFromSeveralGoroutines) {
  const int orig = gort::gomaxprocs(0);
  constexpr int kGoroutines = 4;
  constexpr int kRounds = 50;
  std::atomic<int> calls{0};
  gort::WaitGroup wg;
  wg.add(kGoroutines);
  for (int g = 0; g < kGoroutines; ++g) {
    gort::go([&, g] {
      for (int r = 0; r < kRounds; ++r) {
        int prev = gort::gomaxprocs(1 + (r + g) % 4);
        EXPECT_GE(prev, 1);
        EXPECT_LE(prev, 4 > orig ? 4 : orig);
        calls.fetch_add(1);
        gort::gosched();
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(calls.load(), kGoroutines * kRounds);
  gort::gomaxprocs(orig);
}

TEST(Gomaxprocs, SleepersOnRemovedPsStillWake) {
  // Timers live on per-P heaps: shrinking must move them to a P that stays.
  ScopedGomaxprocs procs(4);
  constexpr int kSleepers = 400;
  std::atomic<int> woke{0};
  gort::WaitGroup started, done;
  started.add(kSleepers);
  done.add(kSleepers);
  for (int i = 0; i < kSleepers; ++i) {
    gort::go([&, i] {
      started.done();
      gort::sleep_for(std::chrono::milliseconds(5 + i % 20));
      woke.fetch_add(1);
      done.done();
    });
  }
  started.wait();
  gort::gomaxprocs(1);
  gort::gomaxprocs(2);
  gort::gomaxprocs(1);
  done.wait();
  EXPECT_EQ(woke.load(), kSleepers);
}

}  // namespace
