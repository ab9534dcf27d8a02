// gort::Mutex: Go's sync.Mutex.
//
// What is asserted and why it can fail:
//  - Mutual exclusion: goroutines do a read-yield-write increment of a plain
//    int inside the critical section. The gosched() in the middle hands the P
//    to another goroutine while the lock is held, so a Mutex that let a
//    second goroutine in would lose updates even at GOMAXPROCS=1; an atomic
//    "inside" count catches two holders at once directly.
//  - It is Lockable: std::lock_guard, std::unique_lock (try_to_lock,
//    defer_lock, early unlock) and std::scoped_lock over two Mutexes.
//  - try_lock never parks and fails exactly while the lock is held.
//  - Starvation mode: a hog that re-locks at once must not keep a waiter
//    out forever. At GOMAXPROCS=1 with the hog yielding while it holds the
//    lock, the schedule is deterministic: in normal mode the woken waiter
//    always finds the mutex re-locked, so without starvation mode (hand-off
//    after 1 ms of waiting) it would never get it and the hog would hit its
//    iteration cap. The bound is in hog iterations, not wall-clock time.
//  - Unlocking an unlocked Mutex is a fatal error (exit 2), as in Go.
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using gort_test::ScopedGomaxprocs;

class MutexContention : public testing::TestWithParam<int> {};

TEST_P(MutexContention, MutualExclusionOfNonAtomicCounter) {
  ScopedGomaxprocs procs(GetParam());
  constexpr int kGoroutines = 64;
  constexpr int kIters = 500;
  gort::Mutex mu;
  long counter = 0;            // guarded by mu; deliberately not atomic
  std::atomic<int> inside{0};  // how many goroutines are in the critical section
  std::atomic<int> overlaps{0};
  gort::WaitGroup wg;
  wg.add(kGoroutines);
  for (int g = 0; g < kGoroutines; ++g) {
    gort::go([&, g] {
      for (int i = 0; i < kIters; ++i) {
        mu.lock();
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        long v = counter;
        if ((i + g) % 7 == 0) gort::gosched();  // give the P away while holding the lock
        counter = v + 1;
        inside.fetch_sub(1);
        mu.unlock();
        if (i % 3 == 0) gort::gosched();
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(counter, long{kGoroutines} * kIters);
}

INSTANTIATE_TEST_SUITE_P(Procs, MutexContention, testing::Values(1, 2, 4),
                         [](const testing::TestParamInfo<int>& info) {
                           return "GOMAXPROCS" + std::to_string(info.param);
                         });

TEST(Mutex, WorksWithLockGuard) {
  constexpr int kGoroutines = 32;
  constexpr int kIters = 300;
  gort::Mutex mu;
  long counter = 0;
  gort::WaitGroup wg;
  wg.add(kGoroutines);
  for (int g = 0; g < kGoroutines; ++g) {
    gort::go([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<gort::Mutex> lk(mu);
        long v = counter;
        if (i % 5 == 0) gort::gosched();
        counter = v + 1;
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(counter, long{kGoroutines} * kIters);
}

TEST(Mutex, WorksWithUniqueLock) {
  gort::Mutex mu;
  {
    std::unique_lock<gort::Mutex> lk(mu);
    EXPECT_TRUE(lk.owns_lock());
    EXPECT_FALSE(mu.try_lock());
    lk.unlock();
    EXPECT_FALSE(lk.owns_lock());
    EXPECT_TRUE(mu.try_lock());  // really unlocked
    mu.unlock();
    lk.lock();
    EXPECT_TRUE(lk.owns_lock());
  }
  // The destructor unlocked it.
  EXPECT_TRUE(mu.try_lock());
  {
    // try_to_lock on a held mutex does not own it; defer_lock does not lock.
    std::unique_lock<gort::Mutex> tried(mu, std::try_to_lock);
    EXPECT_FALSE(tried.owns_lock());
    mu.unlock();
    std::unique_lock<gort::Mutex> deferred(mu, std::defer_lock);
    EXPECT_FALSE(deferred.owns_lock());
    EXPECT_TRUE(deferred.try_lock());
  }
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();

  // And under contention: unique_lock handed between goroutines' scopes.
  constexpr int kGoroutines = 16;
  long counter = 0;
  gort::WaitGroup wg;
  wg.add(kGoroutines);
  for (int g = 0; g < kGoroutines; ++g) {
    gort::go([&] {
      for (int i = 0; i < 200; ++i) {
        std::unique_lock<gort::Mutex> lk(mu);
        long v = counter;
        gort::gosched();
        counter = v + 1;
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(counter, long{kGoroutines} * 200);
}

TEST(Mutex, WorksWithScopedLockOverTwoMutexes) {
  // Half the goroutines name the mutexes as (a, b), half as (b, a): the
  // std::lock algorithm inside scoped_lock avoids the lock-order deadlock
  // using try_lock; gort::Mutex must behave as a Lockable for that to work.
  constexpr int kGoroutines = 16;
  constexpr int kIters = 200;
  gort::Mutex a, b;
  long in_a = 0, in_b = 0;
  gort::WaitGroup wg;
  wg.add(kGoroutines);
  for (int g = 0; g < kGoroutines; ++g) {
    gort::go([&, g] {
      for (int i = 0; i < kIters; ++i) {
        if (g % 2 == 0) {
          std::scoped_lock lk(a, b);
          long va = in_a, vb = in_b;
          gort::gosched();
          in_a = va + 1;
          in_b = vb + 1;
        } else {
          std::scoped_lock lk(b, a);
          long va = in_a, vb = in_b;
          gort::gosched();
          in_a = va + 1;
          in_b = vb + 1;
        }
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(in_a, long{kGoroutines} * kIters);
  EXPECT_EQ(in_b, long{kGoroutines} * kIters);
  EXPECT_TRUE(a.try_lock());
  EXPECT_TRUE(b.try_lock());
  a.unlock();
  b.unlock();
}

TEST(Mutex, TryLockSemantics) {
  gort::Mutex mu;
  EXPECT_TRUE(mu.try_lock());
  EXPECT_FALSE(mu.try_lock());  // not recursive
  // Another goroutine sees it held, and try_lock returns rather than parks.
  gort::WaitGroup wg;
  bool other_got = true;
  wg.add(1);
  gort::go([&] {
    other_got = mu.try_lock();
    wg.done();
  });
  wg.wait();
  EXPECT_FALSE(other_got);
  mu.unlock();
  wg.add(1);
  gort::go([&] {
    other_got = mu.try_lock();
    wg.done();
  });
  wg.wait();
  EXPECT_TRUE(other_got);
  mu.unlock();  // a Mutex is not owned by a goroutine: any goroutine may unlock it
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
}

TEST(Mutex, TryLockFromAPlainThread) {
  // try_lock never parks, so it is usable off a goroutine.
  gort::Mutex mu;
  mu.lock();
  bool got_while_held = true, got_after = false;
  std::thread([&] { got_while_held = mu.try_lock(); }).join();
  mu.unlock();
  std::thread([&] {
    got_after = mu.try_lock();
    if (got_after) mu.unlock();
  }).join();
  EXPECT_FALSE(got_while_held);
  EXPECT_TRUE(got_after);
}

TEST(Mutex, UnlockedByAnotherGoroutineWakesTheWaiter) {
  gort::Mutex mu;
  mu.lock();
  gort::WaitGroup waiter_done;
  bool waiter_got = false;
  waiter_done.add(1);
  gort::go([&] {
    mu.lock();  // parks until the goroutine below unlocks
    waiter_got = true;
    mu.unlock();
    waiter_done.done();
  });
  gort::go([&] { mu.unlock(); });
  waiter_done.wait();
  EXPECT_TRUE(waiter_got);
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
}

TEST(Mutex, WaiterParksTheGoroutineNotTheThread) {
  // With one P, a goroutine blocked in lock() must leave the P to others:
  // here the unlocker can only run if the blocked lock() parked. (A lock()
  // that blocked the thread would hang this test until its timeout.)
  ScopedGomaxprocs procs(1);
  gort::Mutex mu;
  mu.lock();
  gort::WaitGroup all;
  std::vector<int> order;  // the unlocker appends before unlock(), the waiter after lock()
  all.add(2);
  gort::go([&] {
    mu.lock();
    order.push_back(2);
    mu.unlock();
    all.done();
  });
  gort::go([&] {
    order.push_back(1);
    mu.unlock();
    all.done();
  });
  all.wait();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

// A hog re-locks the mutex at once after each unlock, yielding the P while
// it holds the lock. At GOMAXPROCS=1 the schedule is deterministic: each
// unlock wakes the waiter into runnext, the hog re-locks before giving the P
// up, and the waiter finds the mutex held again. Only starvation mode (the
// waiter has waited > 1 ms, so unlock hands the mutex over directly) lets it
// in. The hog's iteration cap is ~1000x the iterations that fit in 1 ms.
TEST(Mutex, StarvationModeLetsAWaiterInWhileTheHogYieldsHoldingTheLock) {
  ScopedGomaxprocs procs(1);
  constexpr std::int64_t kCap = 1'000'000;
  gort::Mutex mu;
  std::atomic<bool> waiter_got{false};
  std::atomic<std::int64_t> hog_iters{0};
  std::int64_t iters_when_waiter_got = -1;
  gort::WaitGroup hog_holds, done;
  hog_holds.add(1);
  done.add(2);
  gort::go([&] {  // the hog
    mu.lock();
    hog_holds.done();
    for (;;) {
      gort::gosched();  // the waiter runs while we hold the lock
      mu.unlock();
      if (waiter_got.load() || hog_iters.load() >= kCap) break;
      mu.lock();
      hog_iters.fetch_add(1);
    }
    done.done();
  });
  hog_holds.wait();  // the waiter must start waiting while the hog holds the lock
  gort::go([&] {    // the waiter
    mu.lock();
    iters_when_waiter_got = hog_iters.load();
    waiter_got.store(true);
    mu.unlock();
    done.done();
  });
  done.wait();
  ASSERT_TRUE(waiter_got.load()) << "the waiter never got the lock in " << kCap << " hog iterations";
  EXPECT_LT(iters_when_waiter_got, kCap);
  RecordProperty("hog_iterations_before_waiter_got_lock", std::to_string(iters_when_waiter_got));
}

// The same with a hog that never yields voluntarily (lock; unlock; lock; ...)
// and the waiter on a second P. The hog calls into gort only through the
// Mutex, so the waiter gets in only if unlock hands the mutex over (and the
// hog's next lock queues behind it) or the waiter wins a race for it. A
// liveness check: the cap is far beyond what normal operation needs.
TEST(Mutex, WaiterIsNotStarvedByATightLockUnlockLoop) {
  ScopedGomaxprocs procs(2);
  constexpr std::int64_t kCap = 200'000'000;
  gort::Mutex mu;
  std::atomic<bool> waiter_got{false};
  std::atomic<bool> waiter_started{false};
  std::int64_t hog_iters = 0;
  std::int64_t iters_when_waiter_got = -1;
  gort::WaitGroup hog_holds, done;
  hog_holds.add(1);
  done.add(2);
  gort::go([&] {  // the hog
    mu.lock();
    hog_holds.done();
    while (!waiter_started.load()) gort::gosched();
    for (;;) {
      mu.unlock();
      if (waiter_got.load(std::memory_order_relaxed) || hog_iters >= kCap) break;
      mu.lock();
      ++hog_iters;  // guarded by mu
    }
    done.done();
  });
  hog_holds.wait();
  gort::go([&] {  // the waiter
    waiter_started.store(true);
    mu.lock();
    iters_when_waiter_got = hog_iters;
    waiter_got.store(true);
    mu.unlock();
    done.done();
  });
  done.wait();
  ASSERT_TRUE(waiter_got.load()) << "the waiter never got the lock in " << kCap << " hog iterations";
  EXPECT_LT(iters_when_waiter_got, kCap);
  RecordProperty("hog_iterations_before_waiter_got_lock", std::to_string(iters_when_waiter_got));
}

TEST(MutexDeathTest, UnlockOfUnlockedMutexIsFatal) {
  EXPECT_EXIT(
      {
        gort::Mutex mu;
        mu.unlock();
      },
      testing::ExitedWithCode(2), "fatal error: sync: unlock of unlocked mutex");
}

TEST(MutexDeathTest, DoubleUnlockIsFatal) {
  EXPECT_EXIT(
      {
        gort::Mutex mu;
        mu.lock();
        mu.unlock();
        mu.unlock();
      },
      testing::ExitedWithCode(2), "fatal error: sync: unlock of unlocked mutex");
}

}  // namespace
