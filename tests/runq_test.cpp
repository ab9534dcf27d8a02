// The run queues: the per-P lock-free ring (runqput / runqget / runqsteal),
// runnext, runqputslow's overflow to the global queue and globrunqget's
// batches. These are the data-structure rules of proc.go; the assertions
// check exact contents and order, so a wrong index, a lost or duplicated G,
// or a wrong batch size fails them.
//
// The Ps and Gs here are private objects, not the runtime's: only the global
// queue is shared, and the tests that need it stop the world first and set
// the real global queue aside while they use it.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "runtime2.h"

using namespace gort::rt;

namespace {

struct Fixture {
  std::vector<std::unique_ptr<G>> gs;
  std::unique_ptr<P> p = std::make_unique<P>();
  explicit Fixture(std::size_t n) {
    p->status.store(Pidle);
    for (std::size_t i = 0; i < n; ++i) {
      gs.push_back(std::make_unique<G>());
      gs.back()->goid = static_cast<std::int64_t>(i);
    }
  }
  G* g(std::size_t i) { return gs[i].get(); }
};

std::vector<std::int64_t> drain(P* pp) {
  std::vector<std::int64_t> ids;
  bool inherit;
  while (G* gp = runqget(pp, &inherit)) ids.push_back(gp->goid);
  return ids;
}

// Stops the world and hands the test an empty global queue; puts the real
// one back and restarts the world when it goes out of scope.
struct PrivateGlobalQueue {
  G** buf;
  std::uint32_t cap, head;
  std::int32_t size;
  PrivateGlobalQueue() {
    stop_the_world_internal(WaitReason::StopTheWorld, "test");
    sched.lock.lock();
    buf = sched.runqbuf;
    cap = sched.runqcap;
    head = sched.runqhead;
    size = sched.runqsize.load();
    sched.runqbuf = nullptr;
    sched.runqcap = sched.runqhead = 0;
    sched.runqsize.store(0);
    sched.lock.unlock();
  }
  ~PrivateGlobalQueue() {
    sched.lock.lock();
    EXPECT_EQ(sched.runqsize.load(), 0) << "test left Gs in the global queue";
    delete[] sched.runqbuf;
    sched.runqbuf = buf;
    sched.runqcap = cap;
    sched.runqhead = head;
    sched.runqsize.store(size);
    sched.lock.unlock();
    start_the_world_internal();
  }
  static std::vector<std::int64_t> take_all() {
    std::vector<std::int64_t> ids;
    sched.lock.lock();
    while (sched.runqsize.load() > 0) ids.push_back(globrunqget(nullptr, 1)->goid);
    sched.lock.unlock();
    return ids;
  }
};

}  // namespace

TEST(Runq, FifoOrder) {
  Fixture f(10);
  for (int i = 0; i < 10; ++i) runqput(f.p.get(), f.g(i), false);
  EXPECT_EQ(runqsize(f.p.get()), 10u);
  std::vector<std::int64_t> want{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(drain(f.p.get()), want);
  EXPECT_TRUE(runqempty(f.p.get()));
}

TEST(Runq, RunnextKicksOldOneToTail) {
  Fixture f(4);
  P* pp = f.p.get();
  runqput(pp, f.g(0), false);  // ring: 0
  runqput(pp, f.g(1), true);   // runnext: 1
  runqput(pp, f.g(2), true);   // runnext: 2, 1 kicked to the tail
  runqput(pp, f.g(3), false);  // ring: 0 1 3
  bool inherit = false;
  G* first = runqget(pp, &inherit);
  EXPECT_EQ(first->goid, 2);
  EXPECT_TRUE(inherit) << "a G from runnext inherits the time slice";
  std::vector<std::int64_t> rest;
  while (G* gp = runqget(pp, &inherit)) {
    EXPECT_FALSE(inherit) << "a G from the ring starts a new time slice";
    rest.push_back(gp->goid);
  }
  EXPECT_EQ(rest, (std::vector<std::int64_t>{0, 1, 3}));
}

TEST(Runq, StealTakesHalfAndRunnextOnlyWhenAsked) {
  Fixture f(11);
  P* victim = f.p.get();
  auto thief = std::make_unique<P>();
  for (int i = 0; i < 10; ++i) runqput(victim, f.g(i), false);
  runqput(victim, f.g(10), true);
  G* gp = runqsteal(thief.get(), victim, false);
  ASSERT_NE(gp, nullptr);
  // Half of 10 = 5 (0..4): the last one stolen is returned, the rest queued.
  EXPECT_EQ(gp->goid, 4);
  EXPECT_EQ(drain(thief.get()), (std::vector<std::int64_t>{0, 1, 2, 3}));
  // Empty the ring; runnext stays until a thief asks for it.
  {
    G* next = victim->runnext.exchange(nullptr);
    EXPECT_EQ(drain(victim), (std::vector<std::int64_t>{5, 6, 7, 8, 9}));
    victim->runnext.store(next);
  }
  EXPECT_EQ(runqsteal(thief.get(), victim, false), nullptr);
  G* next = runqsteal(thief.get(), victim, true);
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->goid, 10);
  EXPECT_TRUE(runqempty(victim));
}

// A thief about to take a running P's runnext waits first; if the owner
// starts a G meanwhile, the thief leaves runnext alone (in a ping-pong it
// holds the same two Gs in turn: taking one on an ABA splits the pair) and
// waits twice as long next time; work put in the ring meanwhile ends the
// wait and is stolen instead. runnext_wait_hook makes the owner's moves
// happen inside the wait.
struct RunnextWait : Fixture {
  P* victim = p.get();
  std::unique_ptr<P> thief = std::make_unique<P>();
  M* self = getm();
  RunnextWait() : Fixture(2) {
    victim->status.store(Prunning);
    runqput(victim, g(0), true);
    self->stealwait = 0;
  }
  ~RunnextWait() {
    runnext_wait_hook = nullptr;
    self->stealwait = 0;
    victim->status.store(Pidle);
  }
};

TEST(Runq, ThiefLeavesRunnextWhenTheOwnerRunsMeanwhile) {
  RunnextWait f;
  runnext_wait_hook = [](P* v) { v->runs.fetch_add(1); };
  EXPECT_EQ(runqsteal(f.thief.get(), f.victim, true), nullptr);
  EXPECT_EQ(f.victim->runnext.load(), f.g(0));
  EXPECT_EQ(f.self->stealwait, 200) << "the next wait doubles";
  EXPECT_EQ(runqsteal(f.thief.get(), f.victim, true), nullptr);
  EXPECT_EQ(f.self->stealwait, 400);
}

TEST(Runq, ThiefTakesRunnextWhenTheOwnerStaysPut) {
  RunnextWait f;
  f.self->stealwait = 400;
  runnext_wait_hook = [](P*) {};
  EXPECT_EQ(runqsteal(f.thief.get(), f.victim, true), f.g(0));
  EXPECT_EQ(f.victim->runnext.load(), nullptr);
  EXPECT_EQ(f.self->stealwait, 100) << "a steal makes the wait the shortest again";
}

TEST(Runq, WorkInTheRingEndsTheWaitAndIsStolen) {
  RunnextWait f;
  static G* g1;
  g1 = f.g(1);
  runnext_wait_hook = [](P* v) {
    if (v->runqtail.load() == v->runqhead.load()) runqput(v, g1, false);
  };
  EXPECT_EQ(runqsteal(f.thief.get(), f.victim, true), f.g(1));
  EXPECT_EQ(f.victim->runnext.load(), f.g(0)) << "runnext stays with its owner";
}

// One owner puts (and sometimes gets) while thieves steal, on OS threads.
// Every G must come out exactly once.
TEST(Runq, ConcurrentPutStealNoLossNoDuplication) {
  constexpr std::size_t kN = 400000;
  constexpr int kThieves = 3;
  Fixture f(kN);
  P* owner = f.p.get();
  std::vector<std::atomic<int>> seen(kN);
  std::atomic<bool> done{false};
  std::atomic<std::size_t> taken{0};
  auto take = [&](G* gp) {
    seen[static_cast<std::size_t>(gp->goid)].fetch_add(1, std::memory_order_relaxed);
    taken.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> thieves;
  for (int t = 0; t < kThieves; ++t) {
    thieves.emplace_back([&, t] {
      auto mine = std::make_unique<P>();
      while (!done.load() || !runqempty(owner)) {
        if (G* gp = runqsteal(mine.get(), owner, t == 0)) {
          take(gp);
          bool inherit;
          while (G* more = runqget(mine.get(), &inherit)) take(more);
        }
      }
    });
  }
  for (std::size_t i = 0; i < kN; ++i) {
    // Flow control instead of overflow: a full ring would spill to the
    // runtime's global queue, which is not this test's to use.
    while (runqsize(owner) >= kRunqSize - 2) {
      bool inherit;
      if (G* gp = runqget(owner, &inherit)) take(gp);
    }
    runqput(owner, f.g(i), i % 7 == 0);
    if (i % 3 == 0) {
      bool inherit;
      if (G* gp = runqget(owner, &inherit)) take(gp);
    }
  }
  done.store(true);
  for (auto& t : thieves) t.join();
  bool inherit;
  while (G* gp = runqget(owner, &inherit)) take(gp);
  EXPECT_EQ(taken.load(), kN);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kN; ++i)
    if (seen[i].load() != 1) ++bad;
  EXPECT_EQ(bad, 0u) << "Gs lost or taken twice";
}

TEST(Runq, FullRingMovesHalfAndTheNewGToGlobalQueue) {
  Fixture f(kRunqSize + 1);
  PrivateGlobalQueue global;
  P* pp = f.p.get();
  for (std::uint32_t i = 0; i < kRunqSize; ++i) runqput(pp, f.g(i), false);
  EXPECT_EQ(sched.runqsize.load(), 0);
  runqput(pp, f.g(kRunqSize), false);  // the ring is full: runqputslow
  std::vector<std::int64_t> want_global;
  for (std::uint32_t i = 0; i < kRunqSize / 2; ++i) want_global.push_back(i);
  want_global.push_back(kRunqSize);
  EXPECT_EQ(sched.runqsize.load(), static_cast<std::int32_t>(kRunqSize / 2 + 1));
  EXPECT_EQ(PrivateGlobalQueue::take_all(), want_global);
  std::vector<std::int64_t> want_local;
  for (std::uint32_t i = kRunqSize / 2; i < kRunqSize; ++i) want_local.push_back(i);
  EXPECT_EQ(drain(pp), want_local);
}

TEST(Runq, GlobalQueueHandsOutFairBatches) {
  constexpr int kN = 300;
  Fixture f(kN);
  PrivateGlobalQueue global;
  P* pp = f.p.get();
  sched.lock.lock();
  for (int i = 0; i < kN; ++i) globrunqput(f.g(i));
  // max = 1: exactly one, nothing moves to the local ring.
  G* one = globrunqget(pp, 1);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->goid, 0);
  EXPECT_TRUE(runqempty(pp));
  // A fair share: size/gomaxprocs + 1, at most half a ring.
  std::int32_t size = sched.runqsize.load();
  std::int32_t want = std::min<std::int32_t>(size / gomaxprocs.load() + 1, kRunqSize / 2);
  G* gp = globrunqget(pp, 0);
  sched.lock.unlock();
  ASSERT_NE(gp, nullptr);
  EXPECT_EQ(gp->goid, 1);
  std::vector<std::int64_t> local = drain(pp);
  ASSERT_EQ(static_cast<std::int32_t>(local.size()), want - 1);
  for (std::size_t i = 0; i < local.size(); ++i) EXPECT_EQ(local[i], static_cast<std::int64_t>(i + 2));
  EXPECT_EQ(sched.runqsize.load(), kN - 1 - want);
  std::vector<std::int64_t> rest = PrivateGlobalQueue::take_all();
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front(), want + 1);
  EXPECT_EQ(rest.back(), kN - 1);
}
