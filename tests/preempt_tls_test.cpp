// The thread-local storage policy: a goroutine preempted by a signal (or at
// a yield point) resumes on the thread it was preempted on. The compiler
// keeps the address of errno (__errno_location is "const") and of a
// thread_local in a register across a call-free loop; if the goroutine
// went on on another thread, it would be writing the first thread's errno
// while other goroutines run there and write theirs. Run with
// GORTDEBUG=timeslice=100us and GOMAXPROCS >= 2 (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <gort/debug.h>
#include <gort/gort.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <vector>

#include "test_util.h"

namespace {

thread_local long tl_value;

// Writes v+i to errno and to the thread_local and reads both back, through
// addresses taken once, n times, with no call in the loop. Returns how many
// reads saw another value.
__attribute__((noinline)) long tls_loop(long v, long n) {
  int* e = &errno;
  long* t = &tl_value;
  long bad = 0;
  for (long i = 0; i < n; ++i) {
    *e = static_cast<int>(v + i);
    *t = v + i;
    asm volatile("" ::: "memory");  // the stores and loads stay in the loop, the addresses in registers
    if (*e != static_cast<int>(v + i) || *t != v + i) ++bad;
  }
  return bad;
}

TEST(PreemptTls, ErrnoAndThreadLocalsStayWithTheThreadAcrossPreemptions) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ScopedGomaxprocs procs(2);
  const std::uint64_t start = gort::debug::sched_stats().preempted_by_signal;
  constexpr std::uint64_t kWanted = 3000;
  constexpr int kGoroutines = 6;
  std::atomic<bool> enough{false};
  std::vector<long> bad(kGoroutines), moved(kGoroutines), chunks(kGoroutines);
  gort::WaitGroup wg;
  for (int g = 0; g < kGoroutines; ++g) {
    wg.add(1);
    gort::go([&, g] {
      for (long c = 0; c < 100'000 && !enough.load(std::memory_order_relaxed); ++c) {
        pid_t before = gettid();
        bad[g] += tls_loop((g + 1) * 1'000'000'000L, 2'000'000);
        if (gettid() != before) moved[g]++;  // preempted in the loop, resumed elsewhere
        chunks[g]++;
        if (gort::debug::sched_stats().preempted_by_signal - start >= kWanted) enough.store(true);
        gort::gosched();  // here it may change threads: it called into gort
      }
      wg.done();
    });
  }
  wg.wait();
  for (int g = 0; g < kGoroutines; ++g) {
    EXPECT_EQ(bad[g], 0) << "goroutine " << g << " saw another goroutine's errno or thread_local";
    EXPECT_EQ(moved[g], 0) << "goroutine " << g << " resumed on another thread after a preemption";
  }
  EXPECT_GE(gort::debug::sched_stats().preempted_by_signal - start, kWanted);
}

}  // namespace
