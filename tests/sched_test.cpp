// Scheduling policy, observed through real goroutines: the 61-tick fairness
// rule, work stealing, and parking/unparking without lost wake-ups.
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <atomic>
#include <set>

#include "runtime2.h"
#include "sema.h"

using namespace gort::rt;

namespace {

// Restores GOMAXPROCS when a test that changed it ends.
struct Procs {
  int old;
  explicit Procs(int n) : old(gort::gomaxprocs(n)) {}
  ~Procs() { gort::gomaxprocs(old); }
};

int current_p() { return getm()->p->id; }

}  // namespace

// A G in the global queue runs within 61 schedticks even while the local
// queue never runs dry. Without the rule it would wait for all local work.
TEST(Sched, GlobalQueueGetsATurnEvery61Ticks) {
  Procs procs(1);
  constexpr int kBudget = 20000;
  std::atomic<int> spawned{0}, executed{0}, outstanding{0};
  std::atomic<int> before_yield{-1}, after_yield{-1};
  gort::WaitGroup wg;

  // Local work: every G starts up to two more, so the ring stays busy
  // (bounded below the ring size, so that none of it spills to the global
  // queue and confuses the measurement).
  struct Spawner {
    std::atomic<int>* spawned;
    std::atomic<int>* executed;
    std::atomic<int>* outstanding;
    gort::WaitGroup* wg;
    void operator()() const {
      executed->fetch_add(1);
      for (int k = 0; k < 2; ++k) {
        if (outstanding->load() >= 100 || spawned->fetch_add(1) >= kBudget) break;
        outstanding->fetch_add(1);
        wg->add(1);
        gort::go(*this);
      }
      outstanding->fetch_sub(1);
      wg->done();
    }
  };
  Spawner root{&spawned, &executed, &outstanding, &wg};

  wg.add(1);
  gort::go([&] {
    before_yield = executed.load();
    gort::gosched();  // to the global queue, behind nothing, in front of nobody local
    after_yield = executed.load();
    wg.done();
  });
  outstanding.fetch_add(1);
  wg.add(1);
  gort::go(root);
  wg.wait();
  ASSERT_GE(before_yield.load(), 0);
  int waited = after_yield.load() - before_yield.load();
  // Ring Gs tick the schedtick; runnext Gs inherit it: at most about two
  // local Gs per tick, 61 ticks.
  EXPECT_LE(waited, 2 * 61 + 2) << "the global queue waited for " << waited << " local goroutines";
  EXPECT_LT(after_yield.load(), kBudget) << "the global queue only ran once local work ran out";
}

// Goroutines started on one P that each hold their P until all of them run:
// they can only all run if idle Ps steal them. Every P ends up used.
TEST(Sched, StealingSpreadsWorkToEveryP) {
  Procs procs(4);
  const int n = gort::gomaxprocs(0);
  std::atomic<int> started{0};
  gort::Mutex mu;
  std::set<int> ps;
  gort::WaitGroup wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    gort::go([&] {
      {
        std::lock_guard<gort::Mutex> g(mu);
        ps.insert(current_p());
      }
      started.fetch_add(1);
      // Hold this P (no yield) until every one of them has started.
      while (started.load() < n) __builtin_ia32_pause();
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(static_cast<int>(ps.size()), n);
}

// Pairs of goroutines hand a token back and forth through the semaphore
// table 20,000 times each: a single lost wake-up hangs the test.
TEST(Sched, ParkUnparkStressNoLostWakeups) {
  constexpr int kPairs = 8, kRounds = 20000;
  struct Pair {
    std::atomic<std::uint32_t> ping{0}, pong{0};
    long count = 0;
  };
  std::vector<Pair> pairs(kPairs);
  gort::WaitGroup wg;
  for (auto& pr : pairs) {
    wg.add(2);
    gort::go([&] {
      for (int i = 0; i < kRounds; ++i) {
        semrelease(&pr.ping, false);
        semacquire(&pr.pong, false, WaitReason::Semacquire);
      }
      wg.done();
    });
    gort::go([&] {
      for (int i = 0; i < kRounds; ++i) {
        semacquire(&pr.ping, false, WaitReason::Semacquire);
        pr.count++;
        semrelease(&pr.pong, false);
      }
      wg.done();
    });
  }
  wg.wait();
  for (auto& pr : pairs) {
    EXPECT_EQ(pr.count, kRounds);
    EXPECT_EQ(pr.ping.load(), 0u);
    EXPECT_EQ(pr.pong.load(), 0u);
  }
}

// A goroutine that readies another puts it in runnext: at GOMAXPROCS=1 the
// readied one runs before anything already in the local queue.
TEST(Sched, NewGoroutineRunsNext) {
  Procs procs(1);
  std::vector<int> order;
  gort::WaitGroup wg;
  wg.add(3);
  gort::go([&] { order.push_back(1); wg.done(); });
  gort::go([&] { order.push_back(2); wg.done(); });
  gort::go([&] { order.push_back(3); wg.done(); });
  wg.wait();
  // 3 took runnext last; 1 and 2 were kicked to the ring in order.
  EXPECT_EQ(order, (std::vector<int>{3, 1, 2}));
}

// A goroutine that yields goes to the global queue, where an idle P must
// find it: two goroutines yielding to each other at GOMAXPROCS=2 end up on
// a P each, rather than taking turns on one P for good. Seen as: the other
// one counts on, on another P, while this one does not yield.
TEST(Sched, GoroutinesYieldingToEachOtherSpreadOverIdlePs) {
  Procs procs(2);
  // Each round starts a new partner, as a benchmark's repeated runs do: the
  // idle P's M may have stopped looking by then.
  for (int round = 0; round < 20; ++round) {
    std::atomic<long> count_b{0};
    std::atomic<int> p_b{-1};
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      while (!stop.load()) {
        p_b.store(current_p());
        count_b.fetch_add(1);
        gort::gosched();
      }
      wg.done();
    });
    bool apart = false;
    for (long i = 0; i < 100'000 && !apart; ++i) {
      gort::gosched();
      const int me = current_p();
      const long c = count_b.load();
      for (int k = 0; k < 1000 && count_b.load() == c; ++k) procyield(10);  // no yield: b counts only on another P
      apart = count_b.load() != c && p_b.load() != me;
    }
    stop.store(true);
    wg.wait();
    ASSERT_TRUE(apart) << "round " << round << ": the two goroutines never ran side by side";
  }
}

// Two goroutines yielding to each other at GOMAXPROCS=1 alternate strictly,
// each gosched a switch to the other, and none is lost on the way through
// the global queue.
TEST(Sched, GoschedAlternatesTwoGoroutinesOnOneP) {
  Procs procs(1);
  constexpr int kRounds = 10000;
  std::atomic<int> last{0};
  int a_after_a = 0, b_after_b = 0;
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (last.exchange(2) == 2) ++b_after_b;
      gort::gosched();
    }
    wg.done();
  });
  gort::gosched();  // let b start
  for (int i = 0; i < kRounds; ++i) {
    if (last.exchange(1) == 1) ++a_after_a;
    gort::gosched();
  }
  wg.wait();
  EXPECT_EQ(a_after_a, 0);
  EXPECT_EQ(b_after_b, 0);
}
