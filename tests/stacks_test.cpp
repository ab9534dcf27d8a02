// Goroutine stacks: a guard page below each stack while the
// vm.max_map_count budget lasts, stacks without one after that, and a clear
// fatal error (not a crash) when memory runs out.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <gort/gort.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <vector>

#include "runtime2.h"
#include "test_util.h"

using namespace gort::rt;

namespace {

// ASan and TSan catch the fault themselves: they report a SEGV and exit
// with their own status (1, 66).
constexpr int kSanitizerExit = gort_test::kUnderAsan ? 1 : gort_test::kUnderTsan ? 66 : 0;

long count_maps() {
  FILE* f = std::fopen("/proc/self/maps", "r");
  long n = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) n += c == '\n';
  std::fclose(f);
  return n;
}

long max_map_count() {
  FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r");
  long v = 65530;
  if (f && std::fscanf(f, "%ld", &v) != 1) v = 65530;
  if (f) std::fclose(f);
  return v;
}

}  // namespace

TEST(StacksDeathTest, WritingBelowAGuardedStackFaults) {
  G* gp = getg();
  ASSERT_TRUE(gp->guarded) << "the test harness's main goroutine is among the first: it has a guard page";
  volatile char* below = reinterpret_cast<volatile char*>(gp->stack.lo - 1);
  // The fault is reported as Go reports an overflow (runtime/sigfault.cpp);
  // under a sanitizer, by the sanitizer's own handler.
  EXPECT_EXIT(
      *below = 1,
      [](int st) {
        return (kSanitizerExit == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2) ||
               (kSanitizerExit != 0 && WIFEXITED(st) && WEXITSTATUS(st) == kSanitizerExit);
      },
      kSanitizerExit != 0 ? "SEGV" : "fatal error: stack overflow\n\ngoroutine 1 \\[running\\]:");
}

// More goroutines than the guard-page budget: the first ones get guard
// pages, the rest do not, and the process stays within vm.max_map_count.
TEST(Stacks, GuardPagesStopAtTheMappingBudget) {
  // Some 16,000 live goroutines: TSan keeps a "thread" per goroutine (fiber)
  // and dies past 8128.
  if (gort_test::kNoAsyncPreemption) GTEST_SKIP() << "more live goroutines than TSan allows";
  const std::int64_t budget = guard_budget_left();
  const int n = static_cast<int>(budget) + 2000;
  std::vector<G*> gs(static_cast<std::size_t>(n));
  gort::WaitGroup parked, release, exited;
  parked.add(n);
  release.add(1);
  exited.add(n);
  for (int i = 0; i < n; ++i) {
    gort::go([&, i] {
      gs[static_cast<std::size_t>(i)] = getg();
      parked.done();
      release.wait();
      exited.done();
    });
  }
  parked.wait();
  int guarded = 0, unguarded = 0;
  for (G* gp : gs) (gp->guarded ? guarded : unguarded)++;
  EXPECT_EQ(guard_budget_left(), 0);
  EXPECT_GE(unguarded, 2000 - 64) << "stacks past the budget come without guard pages";
  EXPECT_GT(guarded, 0);
  EXPECT_LT(count_maps(), max_map_count());
  release.done();
  exited.wait();
}

TEST(StacksDeathTest, OutOfMemoryIsAFatalError) {
  EXPECT_EXIT(
      {
        // Leave room for what exists, but not for thousands more stacks.
        rlimit rl{};
        getrlimit(RLIMIT_AS, &rl);
        FILE* f = std::fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        if (std::fscanf(f, "%lu", &pages) != 1) std::_Exit(3);
        std::fclose(f);
        rl.rlim_cur = pages * 4096 + (256ul << 20);
        setrlimit(RLIMIT_AS, &rl);
        gort::WaitGroup never;
        never.add(1);
        for (;;) gort::go([&] { never.wait(); });
      },
      // ...and the dump, which needs memory too, is whole ('.' matches newlines here).
      testing::ExitedWithCode(2),
      "fatal error: runtime: cannot allocate a [0-9]+-byte goroutine stack.*"
      "goroutine 2 \\[semacquire\\]:.gort::WaitGroup::wait\\(\\)");
}
