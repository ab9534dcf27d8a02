// Stop the world, GC-style: while it is stopped no goroutine but the caller
// runs, every goroutine's saved state is consistent, and a conservative scan
// of the goroutine stacks finds every pointer they hold, including pointers
// that live only in registers of goroutines stopped by a signal.
#include <gtest/gtest.h>

#include <gort/debug.h>
#include <gort/gort.h>
#include <gort/preempt.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "test_util.h"

using namespace std::chrono_literals;

namespace {

struct alignas(64) Object {
  std::atomic<long> count{0};
};

// Masked so that the table itself never looks like a pointer to the object
// (the scan only reads stacks anyway; this keeps the test honest if it did not).
constexpr std::uintptr_t kMask = 0x5a5a5a5a5a5a5a5aull;

// The object is in a register for the whole call-free loop.
__attribute__((noinline)) void spin_holding(Object* o, const std::atomic<bool>* stop) {
  while (!stop->load(std::memory_order_relaxed)) o->count.fetch_add(1, std::memory_order_relaxed);
}

// Reads whole stacks, ASan's redzones included, as a conservative GC does.
__attribute__((no_sanitize_address)) bool stack_holds(const gort::GInfo& g, std::uintptr_t value) {
  if (g.sp < g.stack_lo || g.sp >= g.stack_hi) return false;
  for (std::uintptr_t a = g.sp & ~std::uintptr_t{7}; a + 8 <= g.stack_hi; a += 8)
    if (*reinterpret_cast<const std::uintptr_t*>(a) == value) return true;
  return false;
}

TEST(StopTheWorld, GcStyleScanWithSpinnersSleepersAndMutexTraffic) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  const int procs = std::max(2, gort::gomaxprocs(0));
  gort_test::ScopedGomaxprocs p(procs);
  const int spinners = procs;
  std::atomic<bool> stop{false};
  std::vector<std::atomic<std::uintptr_t>> objects(static_cast<std::size_t>(spinners));
  std::vector<Object*> counted(static_cast<std::size_t>(spinners), nullptr);
  gort::WaitGroup wg;
  for (int i = 0; i < spinners; ++i) {
    wg.add(1);
    gort::go([&, i] {
      auto* o = new Object;
      objects[static_cast<std::size_t>(i)].store(reinterpret_cast<std::uintptr_t>(o) ^ kMask);
      spin_holding(o, &stop);  // o is not needed after this: nothing but the loop's register holds it
      wg.done();
    });
  }
  // Sleepers and Mutex traffic: goroutines parked on timers and semaphores,
  // runnable and running, when the world stops.
  gort::Mutex mu;
  long shared = 0;
  std::atomic<long> increments{0}, naps{0};
  for (int i = 0; i < 4; ++i) {
    wg.add(2);
    gort::go([&, i] {
      for (int n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        gort::sleep_for(std::chrono::microseconds(50 + 37 * ((n + i) % 11)));
        naps++;
      }
      wg.done();
    });
    gort::go([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::lock_guard<gort::Mutex> l(mu);
        shared++;
        increments++;
      }
      wg.done();
    });
  }
  for (int i = 0; i < spinners; ++i) {
    while (objects[static_cast<std::size_t>(i)].load() == 0) gort::gosched();
    counted[static_cast<std::size_t>(i)] = reinterpret_cast<Object*>(objects[static_cast<std::size_t>(i)].load() ^ kMask);
  }

  constexpr int kRounds = 1000;
  for (int round = 0; round < kRounds; ++round) {
    gort::stop_the_world("stw_test");
    std::vector<gort::GInfo> gs;
    gort::for_each_g([&](const gort::GInfo& g) { gs.push_back(g); });
    int selves = 0;
    for (const gort::GInfo& g : gs) {
      if (g.self) {
        selves++;
        continue;
      }
      ASSERT_NE(g.status, 2u) << "goroutine " << g.id << " is running in a stopped world (round " << round << ")";
      // (A G in a system call, status 3, has no saved state below syscallsp.)
      if (g.status != 3) {
        ASSERT_TRUE(g.sp >= g.stack_lo && g.sp < g.stack_hi) << "goroutine " << g.id << " " << g.status_name;
      }
    }
    ASSERT_EQ(selves, 1);
    // Every spinner's object is found on some goroutine stack.
    for (int i = 0; i < spinners; ++i) {
      auto want = reinterpret_cast<std::uintptr_t>(counted[static_cast<std::size_t>(i)]);
      bool found = false;
      for (const gort::GInfo& g : gs) found = found || (!g.self && stack_holds(g, want));
      ASSERT_TRUE(found) << "spinner " << i << "'s object is on no stack (round " << round << ")";
    }
    // The spinners do not move while the world is stopped.
    std::vector<long> before;
    for (Object* o : counted) before.push_back(o->count.load());
    for (int spin = 0; spin < 20000; ++spin) asm volatile("");
    for (int i = 0; i < spinners; ++i)
      ASSERT_EQ(counted[static_cast<std::size_t>(i)]->count.load(), before[static_cast<std::size_t>(i)]) << "round " << round;
    gort::start_the_world();
  }
  stop.store(true);
  wg.wait();
  EXPECT_EQ(shared, increments.load());
  EXPECT_GT(naps.load(), 0);
  for (Object* o : counted) {
    EXPECT_GT(o->count.load(), 0);
    delete o;
  }
}

TEST(StopTheWorld, GuardAndGomaxprocsAreSerialized) {
  // gomaxprocs stops the world too: one stop at a time, no deadlock.
  std::atomic<bool> stop{false};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    for (int i = 0; !stop.load(); ++i) gort::gomaxprocs(1 + i % 2);
    wg.done();
  });
  for (int i = 0; i < 200; ++i) {
    gort::WorldStopped w("guard");
    int n = 0;
    gort::for_each_g([&](const gort::GInfo& g) { n += g.self; });
    EXPECT_EQ(n, 1);
  }
  stop.store(true);
  wg.wait();
}

TEST(StopTheWorldDeathTest, ForEachGNeedsAStoppedWorld) {
  EXPECT_EXIT(gort::for_each_g([](const gort::GInfo&) {}), testing::ExitedWithCode(2),
              "fatal error: gort::for_each_g: the world must be stopped");
}

TEST(StopTheWorldDeathTest, StartWithoutStop) {
  EXPECT_EXIT(gort::start_the_world(), testing::ExitedWithCode(2),
              "fatal error: gort::start_the_world: the world was not stopped by this goroutine");
}

}  // namespace
