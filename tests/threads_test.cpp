// Ms come and go: threads are made on demand when Ps have work, and (unlike
// Go, which never frees a thread) an M idle longer than idlethreadexit while
// another idle M exists exits. Afterwards the runtime makes new ones as
// needed. The tests read the runtime's own counts (sched.mcount, nmfreed).
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <atomic>
#include <chrono>

#include "runtime2.h"

using namespace gort::rt;

namespace {

int mcount() {
  sched.lock.lock();
  int n = sched.mcount;
  sched.lock.unlock();
  return n;
}

std::int32_t nmfreed() {
  sched.lock.lock();
  std::int32_t n = sched.nmfreed;
  sched.lock.unlock();
  return n;
}

// Keeps n goroutines running at once (each holds its P until all started),
// which needs n Ms.
void occupy(int n) {
  std::atomic<int> started{0};
  gort::WaitGroup wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    gort::go([&] {
      started.fetch_add(1);
      while (started.load() < n) __builtin_ia32_pause();
      wg.done();
    });
  }
  wg.wait();
}

}  // namespace

TEST(Threads, MsAreMadeOnDemandAndIdleOnesExit) {
  int old = gort::gomaxprocs(4);
  occupy(4);
  const int busy = mcount();
  EXPECT_GE(busy, 5) << "4 running Ps need 4 Ms, plus sysmon";
  const std::int32_t freed_before = nmfreed();

  std::int64_t saved = debug.idlethreadexit_ns;
  debug.idlethreadexit_ns = 1'000'000;  // 1 ms: stopm reads it at every wait
  gort::gomaxprocs(1);                  // fewer Ps: Ms become idle
  // Wait (without assuming how long it takes) until idle Ms have exited.
  while (nmfreed() == freed_before) gort::sleep_for(std::chrono::milliseconds(1));
  debug.idlethreadexit_ns = saved;
  EXPECT_LT(mcount(), busy);
  EXPECT_GT(nmfreed(), freed_before);
  // m0 never exits (gort::run returns on it), and the runtime still makes
  // new Ms when Ps have work again.
  EXPECT_FALSE(m0->exited);
  gort::gomaxprocs(4);
  occupy(4);
  EXPECT_GE(mcount(), 5);
  gort::gomaxprocs(old);
}
