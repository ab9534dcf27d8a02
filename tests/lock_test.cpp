// The runtime's Lock (runtime/lock.cpp): mutual exclusion, and no lost
// wake-up for a thread asleep on the futex, with the asymmetric unlock (a
// store, no locked instruction; the sleeper's membarrier) where the kernel
// has membarrier, Go's exchange where it has not.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "lock.h"
#include "runtime2.h"

namespace {

// Threads (not goroutines: the lock is for both) increment a plain counter
// under the lock. Every 500th hold is long (spinning 200 µs), so that the
// others give up spinning and sleep on the futex: a lost wake-up leaves a
// thread asleep for good and the test hangs (ctest's timeout fails it).
TEST(Lock, ExcludesAndWakesEverySleeper) {
  gort::rt::Lock lock;
  long counter = 0;  // only under the lock
  std::atomic<long> long_holds{0};
  constexpr int kThreads = 4, kIters = 20000;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        lock.lock();
        const long v = counter;
        if ((i + t) % 500 == 0) {
          const std::int64_t until = gort::rt::nanotime() + 200'000;
          while (gort::rt::nanotime() < until) {
          }
          long_holds.fetch_add(1, std::memory_order_relaxed);
        }
        counter = v + 1;
        lock.unlock();
      }
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(counter, static_cast<long>(kThreads) * kIters);
  EXPECT_EQ(long_holds.load(), kThreads * kIters / 500);
}

TEST(Lock, TryLockFailsWhileHeldAndSucceedsAfter) {
  gort::rt::Lock lock;
  lock.lock();
  bool got = true;
  std::thread([&] { got = lock.try_lock(); }).join();
  EXPECT_FALSE(got);
  lock.unlock();
  std::thread([&] {
    got = lock.try_lock();
    if (got) lock.unlock();
  }).join();
  EXPECT_TRUE(got);
}

}  // namespace
