// gort::WaitGroup: Go's sync.WaitGroup.
//
// What is asserted and why it can fail:
//  - wait() returns only after every done(): the workers yield several times
//    before they record their work, so a wait() that returned early would
//    see unrecorded work (at GOMAXPROCS=1 the workers cannot even have
//    started before main waits).
//  - wait() on a zero counter returns without parking: at GOMAXPROCS=1 a
//    goroutine made just before it would run if wait() parked.
//  - Every waiter is released, including waiters parked before the release
//    (with one P, all of them are parked when the counter drops).
//  - A WaitGroup is reusable once wait() has returned, round after round.
//  - done() from a plain std::thread wakes a parked goroutine.
//  - A negative counter panics ("panic: sync: negative WaitGroup counter",
//    exit 2), as in Go.
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <atomic>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using gort_test::ScopedGomaxprocs;

TEST(WaitGroup, WaitReturnsAfterAllDone) {
  constexpr int kWorkers = 100;
  std::vector<int> finished(kWorkers, 0);  // plain ints: done()/wait() order them
  gort::WaitGroup wg;
  wg.add(kWorkers);
  for (int i = 0; i < kWorkers; ++i) {
    gort::go([&, i] {
      for (int k = 0; k < 1 + i % 5; ++k) gort::gosched();
      finished[i] = 1;
      wg.done();
    });
  }
  wg.wait();
  for (int i = 0; i < kWorkers; ++i) EXPECT_EQ(finished[i], 1) << "worker " << i;
}

TEST(WaitGroup, WaitReturnsAfterAllDoneWithOneP) {
  ScopedGomaxprocs procs(1);
  constexpr int kWorkers = 50;
  std::atomic<int> finished{0};
  gort::WaitGroup wg;
  wg.add(kWorkers);
  for (int i = 0; i < kWorkers; ++i) {
    gort::go([&] {
      gort::gosched();
      finished.fetch_add(1);
      wg.done();
    });
  }
  EXPECT_EQ(finished.load(), 0);  // one P: nobody else has run yet
  wg.wait();
  EXPECT_EQ(finished.load(), kWorkers);
}

TEST(WaitGroup, AddManyAtOnce) {
  gort::WaitGroup wg;
  std::atomic<int> n{0};
  wg.add(3);
  wg.add(2);
  for (int i = 0; i < 5; ++i) gort::go([&] {
      n.fetch_add(1);
      wg.done();
    });
  wg.wait();
  EXPECT_EQ(n.load(), 5);
}

TEST(WaitGroup, WaitWithZeroCounterReturnsWithoutParking) {
  ScopedGomaxprocs procs(1);
  gort::WaitGroup zero;
  std::atomic<bool> other_ran{false};
  gort::WaitGroup other_done;
  other_done.add(1);
  gort::go([&] {
    other_ran.store(true);
    other_done.done();
  });
  zero.wait();  // never added to
  EXPECT_FALSE(other_ran.load()) << "wait() on a zero counter parked";
  gort::WaitGroup balanced;
  balanced.add(2);
  balanced.done();
  balanced.done();
  balanced.wait();  // back at zero
  EXPECT_FALSE(other_ran.load()) << "wait() on a counter back at zero parked";
  other_done.wait();
  EXPECT_TRUE(other_ran.load());
}

TEST(WaitGroup, MultipleWaitersAllReleased) {
  constexpr int kWaiters = 20;
  gort::WaitGroup gate, started, finished;
  std::atomic<int> released{0};
  gate.add(1);
  started.add(kWaiters);
  finished.add(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    gort::go([&] {
      started.done();
      gate.wait();
      released.fetch_add(1);
      finished.done();
    });
  }
  started.wait();
  EXPECT_EQ(released.load(), 0);  // the gate is still closed
  gate.done();
  finished.wait();
  EXPECT_EQ(released.load(), kWaiters);
}

TEST(WaitGroup, MultipleParkedWaitersAllReleasedWithOneP) {
  // One P: when main runs again after started.wait(), every waiter has
  // parked in gate.wait() (the last one readied main and then parked).
  ScopedGomaxprocs procs(1);
  constexpr int kWaiters = 50;
  gort::WaitGroup gate, started, finished;
  std::atomic<int> released{0};
  gate.add(1);
  started.add(kWaiters);
  finished.add(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    gort::go([&] {
      started.done();
      gate.wait();
      released.fetch_add(1);
      finished.done();
    });
  }
  started.wait();
  gort::gosched();
  EXPECT_EQ(released.load(), 0);
  gate.done();
  finished.wait();
  EXPECT_EQ(released.load(), kWaiters);
}

TEST(WaitGroup, ReusableAcrossRounds) {
  gort::WaitGroup wg;
  long total = 0;
  gort::Mutex mu;
  long expect = 0;
  for (int round = 1; round <= 100; ++round) {
    int k = 1 + round % 17;
    wg.add(k);
    for (int i = 0; i < k; ++i) {
      gort::go([&, round] {
        if (round % 2) gort::gosched();
        {
          std::lock_guard<gort::Mutex> lk(mu);
          total += round;
        }
        wg.done();
      });
    }
    expect += long{k} * round;
    wg.wait();
    std::lock_guard<gort::Mutex> lk(mu);
    ASSERT_EQ(total, expect) << "round " << round;
  }
}

TEST(WaitGroup, ReusableWithWaitersInEachRound) {
  // Each round: several goroutines wait on the same WaitGroup while the
  // workers finish; the next round starts only after every waiter returned.
  gort::WaitGroup wg, waiters_out;
  std::atomic<int> work{0};
  for (int round = 0; round < 50; ++round) {
    wg.add(4);
    waiters_out.add(3);
    for (int w = 0; w < 3; ++w) gort::go([&] {
        wg.wait();
        EXPECT_EQ(work.load() % 4, 0);
        waiters_out.done();
      });
    for (int i = 0; i < 4; ++i) gort::go([&] {
        gort::gosched();
        work.fetch_add(1);
        wg.done();
      });
    waiters_out.wait();
    ASSERT_EQ(work.load(), 4 * (round + 1));
  }
}

// A thread that is not a goroutine may release a WaitGroup a goroutine waits
// on (WaitGroup::wait is the goroutine-only half). Run in a child: if the
// runtime wrongly declares a deadlock while main is parked and the thread
// has not yet called done(), that is reported as this test's failure
// instead of ending the whole suite.
TEST(WaitGroupForeignThreadDeathTest, DoneFromAPlainThreadWakesTheGoroutine) {
  EXPECT_EXIT(
      {
        for (int i = 0; i < 20; ++i) {
          gort::WaitGroup wg;
          std::atomic<bool> thread_ran{false};
          wg.add(1);
          std::thread t([&] {
            thread_ran.store(true);
            wg.done();
          });
          wg.wait();
          if (!thread_ran.load()) std::_Exit(1);
          t.join();
        }
        std::_Exit(0);
      },
      testing::ExitedWithCode(0), "");
}

TEST(WaitGroupDeathTest, NegativeCounterPanics) {
  EXPECT_EXIT(
      {
        gort::WaitGroup wg;
        wg.done();
      },
      testing::ExitedWithCode(2), "panic: sync: negative WaitGroup counter");
}

TEST(WaitGroupDeathTest, AddBelowZeroPanics) {
  EXPECT_EXIT(
      {
        gort::WaitGroup wg;
        wg.add(1);
        wg.add(-2);
      },
      testing::ExitedWithCode(2), "panic: sync: negative WaitGroup counter");
}

}  // namespace
