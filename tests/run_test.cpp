// gort::run and gort::go: a goroutine's life from the program's side — the
// exit status of gort::run, main's identity, goroutine ids and counts, what
// go() does with its callable, and go() from a thread that is not a
// goroutine.
//
// What is asserted and why it can fail:
//  - gort_probe's exit status is main's result (3 → 3, a void main → 0), and
//    main returning ends the program even with goroutines parked, sleeping
//    or runnable (Go's rule): a runtime that waited for them would hang or
//    exit with another status; stdout written by main is flushed. It must
//    exit even when main returns while other Ms are just going idle.
//  - main is goroutine 1; ids are unique; goid() is 0 off a goroutine.
//  - num_goroutine() counts exactly the goroutines that exist: it rises by
//    N while N goroutines are parked and falls back when they exit.
//  - The callable is destroyed when the goroutine ends (shared_ptr count),
//    move-only and large (heap-stored) callables work, and a callable whose
//    copy throws leaves no goroutine behind.
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <array>
#include <atomic>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "child_process.h"
#include "test_util.h"

namespace {

std::string probe() { return GORT_PROBE; }

TEST(RunExitStatus, MainsResultIsTheExitStatus) {
  for (int code : {0, 3, 7, 255}) {
    auto r = gort_test::run_child({probe(), "exit", std::to_string(code)});
    EXPECT_EQ(r.term_signal, 0);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(r.err, "");
  }
}

// Beyond Go: when main returns, the goroutines still running are stopped
// before gort::run returns, so none runs under the program's static
// destructors (gort_probe exit-statics: a static's 20 ms destructor, and
// goroutines that exit with status 3 if they see it destroyed).
TEST(RunExitStatus, NoGoroutineRunsUnderStaticDestructors) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  for (const char* procs : {"1", "2", "4"}) {
    auto r = gort_test::run_child({probe(), "exit-statics"}, {{"GOMAXPROCS", procs}});
    EXPECT_EQ(r.exit_code, 0) << "GOMAXPROCS=" << procs << "\n" << r.err;
    EXPECT_EQ(r.out, "main returns\n");
    EXPECT_EQ(r.err, "");
  }
}

TEST(RunExitStatus, VoidMainExitsZeroAndFlushesStdout) {
  auto r = gort_test::run_child({probe(), "void"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello");
  EXPECT_EQ(r.err, "");
}

TEST(RunExitStatus, MainReturningAbandonsOtherGoroutines) {
  for (const char* procs : {"1", "4"}) {
    auto r = gort_test::run_child({probe(), "abandon", "5"}, {{"GOMAXPROCS", procs}});
    EXPECT_EQ(r.exit_code, 5) << "GOMAXPROCS=" << procs << "\n" << r.err;
    EXPECT_EQ(r.out, "main returns 5\n");
    EXPECT_EQ(r.err, "");
  }
}

// main returns while the other Ms are going idle (parking in the scheduler,
// or stopping for the stop-the-world of a gomaxprocs call made just before):
// the process must still exit. The race is narrow, so two probe programs run
// many times; each run takes ~10 ms, and a run that has not exited after
// 5 s hangs (the first one ends the test).
TEST(RunExitStatus, MainReturningWhileOtherMsGoIdleAlwaysExits) {
  // Under TSan a child takes about a second to start and end.
  constexpr int kRuns = gort_test::kNoAsyncPreemption ? 20 : 300;
  int hung = 0, bad = 0;
  for (int i = 0; i < kRuns && hung == 0; ++i) {
    const char* mode = i % 2 ? "resize-exit" : "sleepers-exit";
    auto r = gort_test::run_child({probe(), mode}, {}, std::chrono::seconds(5));
    if (r.timed_out) {
      ++hung;
      ADD_FAILURE() << "gort_probe " << mode << " (run " << i + 1 << " of " << kRuns
                    << ") did not exit after main returned";
    } else if (r.exit_code != 0) {
      ++bad;
      ADD_FAILURE() << "gort_probe " << mode << ": exit " << r.exit_code << " signal " << r.term_signal << "\n"
                    << r.err;
    }
  }
  EXPECT_EQ(hung, 0);
  EXPECT_EQ(bad, 0);
}

TEST(Goroutine, MainIsGoroutineOne) {
  EXPECT_EQ(gort::goid(), 1);
  EXPECT_TRUE(gort::in_goroutine());
}

TEST(Goroutine, OffAGoroutineGoidIsZero) {
  std::int64_t id = -1;
  bool in = true;
  std::thread([&] {
    id = gort::goid();
    in = gort::in_goroutine();
  }).join();
  EXPECT_EQ(id, 0);
  EXPECT_FALSE(in);
}

TEST(Goroutine, IdsAreUniqueAndNotMain) {
  constexpr int kN = 2000;
  std::vector<std::int64_t> ids(kN, 0);
  gort::WaitGroup wg;
  wg.add(kN);
  for (int i = 0; i < kN; ++i) gort::go([&, i] {
      if (i % 3 == 0) gort::gosched();
      ids[i] = gort::goid();
      wg.done();
    });
  wg.wait();
  std::set<std::int64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  EXPECT_GT(*unique.begin(), 1);
}

TEST(Goroutine, IdsAreNotReusedWhenGsAre) {
  // Dead Gs are recycled; their ids are not.
  std::set<std::int64_t> seen;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::int64_t> ids(50, 0);
    gort::WaitGroup wg;
    wg.add(50);
    for (int i = 0; i < 50; ++i) gort::go([&, i] {
        ids[i] = gort::goid();
        wg.done();
      });
    wg.wait();
    for (auto id : ids) EXPECT_TRUE(seen.insert(id).second) << "goid " << id << " reused";
  }
}

TEST(Goroutine, NumGoroutineCountsLiveGoroutines) {
  const int base = gort_test::settle_goroutines(1);
  EXPECT_EQ(base, 1) << "goroutines left over from earlier tests";
  constexpr int kN = 300;
  gort::WaitGroup gate, exited;
  gate.add(1);
  exited.add(kN);
  for (int i = 0; i < kN; ++i) gort::go([&] {
      gate.wait();
      exited.done();
    });
  EXPECT_EQ(gort::num_goroutine(), base + kN);  // counted from go(), before they run
  gort::gosched();
  EXPECT_EQ(gort::num_goroutine(), base + kN);  // parked ones count too
  gate.done();
  exited.wait();
  EXPECT_EQ(gort_test::settle_goroutines(base), base);
}

TEST(Goroutine, CallableIsDestroyedWhenTheGoroutineEnds) {
  auto token = std::make_shared<int>(0);
  gort::WaitGroup wg;
  wg.add(10);
  for (int i = 0; i < 10; ++i) gort::go([token, &wg] {
      ++*token;
      wg.done();
    });
  wg.wait();
  EXPECT_EQ(*token, 10);
  gort_test::settle_goroutines(1);
  for (int i = 0; i < 100000 && token.use_count() > 1; ++i) gort::gosched();
  EXPECT_EQ(token.use_count(), 1) << "a goroutine's callable was not destroyed";
}

TEST(Goroutine, MoveOnlyAndLargeCallables) {
  gort::WaitGroup wg;
  auto p = std::make_unique<int>(41);
  int got_small = 0;
  long got_large = 0;
  wg.add(2);
  gort::go([p = std::move(p), &got_small, &wg] {
    got_small = *p + 1;
    wg.done();
  });
  std::array<long, 64> big{};  // 512 bytes: stored on the heap, not in the G
  for (int i = 0; i < 64; ++i) big[i] = i;
  gort::go([big, &got_large, &wg] {
    long s = 0;
    for (long v : big) s += v;
    got_large = s;
    wg.done();
  });
  wg.wait();
  EXPECT_EQ(got_small, 42);
  EXPECT_EQ(got_large, 63 * 64 / 2);
}

struct ThrowsOnCopy {
  ThrowsOnCopy() = default;
  ThrowsOnCopy(const ThrowsOnCopy&) { throw std::runtime_error("copy failed"); }
  void operator()() const {}
};

TEST(Goroutine, CallableWhoseCopyThrowsStartsNothing) {
  const int base = gort_test::settle_goroutines(1);
  ThrowsOnCopy f;
  for (int i = 0; i < 100; ++i) EXPECT_THROW(gort::go(f), std::runtime_error);
  EXPECT_EQ(gort::num_goroutine(), base);
  // The runtime is still fine: the aborted Gs are reusable.
  gort::WaitGroup wg;
  wg.add(100);
  for (int i = 0; i < 100; ++i) gort::go([&] { wg.done(); });
  wg.wait();
}

// The threading contract: go() may be called from any thread while the
// runtime runs. main parks in wait() until the goroutine made by the plain
// thread runs. Run in a child, so that a false "all goroutines are asleep"
// (main is parked before the thread has called go()) fails this test only.
TEST(GoroutineForeignThreadDeathTest, GoFromAPlainThread) {
  EXPECT_EXIT(
      {
        for (int i = 0; i < 20; ++i) {
          gort::WaitGroup wg;
          std::int64_t id = 0;
          bool in = false;
          wg.add(1);
          std::thread t([&] {
            gort::go([&] {
              id = gort::goid();
              in = gort::in_goroutine();
              wg.done();
            });
          });
          wg.wait();
          t.join();
          if (id <= 1 || !in) std::_Exit(1);
        }
        std::_Exit(0);
      },
      testing::ExitedWithCode(0), "");
}

TEST(Goroutine, GoroutinesStartGoroutines) {
  // A binary tree of depth 10: 2047 goroutines, each starting two children.
  std::atomic<int> n{0};
  gort::WaitGroup wg;
  struct Spawn {
    std::atomic<int>* n;
    gort::WaitGroup* wg;
    int depth;
    void operator()() const {
      n->fetch_add(1);
      if (depth > 0) {
        wg->add(2);
        gort::go(Spawn{n, wg, depth - 1});
        gort::go(Spawn{n, wg, depth - 1});
      }
      wg->done();
    }
  };
  wg.add(1);
  gort::go(Spawn{&n, &wg, 10});
  wg.wait();
  EXPECT_EQ(n.load(), 2047);
}

}  // namespace
