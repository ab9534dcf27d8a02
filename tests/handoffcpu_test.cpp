// The direct hand-off (runtime/lockosthread.cpp: wake_here): when a P goes
// from one thread to the thread of a goroutine that must run there (locked
// with lock_os_thread, or preempted), the thread is woken on the waker's
// CPU, which the waker is about to leave, and then puts its own CPU set
// back. What a program must see: the CPU sets of its threads are what it
// made them, at every turn.
#include <gtest/gtest.h>

#include <gort/debug.h>
#include <gort/gort.h>
#include <gort/thread.h>
#include <sched.h>

#include <functional>

namespace {

cpu_set_t my_cpus() {
  cpu_set_t s;
  CPU_ZERO(&s);
  EXPECT_EQ(sched_getaffinity(0, sizeof s, &s), 0);
  return s;
}

std::uint64_t handoffs() { return gort::debug::sched_stats().handoffs_on_cpu; }

// Two goroutines locked to their threads take `rounds` turns over
// unbuffered channels at GOMAXPROCS=1: every turn hands the P from one
// thread to the other. Each calls its check when its turn begins.
void take_turns(int rounds, const std::function<void()>& at_a, const std::function<void()>& at_b) {
  const int procs = gort::gomaxprocs(1);
  auto ping = gort::make_chan<int>(0), pong = gort::make_chan<int>(0);
  gort::WaitGroup wg;
  wg.add(2);
  gort::go([&] {
    gort::lock_os_thread();
    for (int i = 0; i < rounds; ++i) {
      at_a();
      ping.send(i);
      pong.recv();
    }
    gort::unlock_os_thread();
    wg.done();
  });
  gort::go([&] {
    gort::lock_os_thread();
    for (int i = 0; i < rounds; ++i) {
      ping.recv();
      at_b();
      pong.send(i);
    }
    gort::unlock_os_thread();
    wg.done();
  });
  wg.wait();
  gort::gomaxprocs(procs);
}

}  // namespace

TEST(HandoffCpu, ThreadsWokenOnTheWakersCpuGetTheirCpuSetsBack) {
  const cpu_set_t all = my_cpus();
  if (CPU_COUNT(&all) < 2) GTEST_SKIP() << "one CPU: nothing to narrow";
  const std::uint64_t before = handoffs();
  int bad = 0;
  auto check = [&] {
    cpu_set_t now = my_cpus();
    if (!CPU_EQUAL(&now, &all)) ++bad;
  };
  constexpr int kRounds = 300;
  take_turns(kRounds, check, check);
  EXPECT_EQ(bad, 0) << "turns that began with the thread's CPU set narrowed";
  // Every turn is at least one direct hand-off (two per round).
  EXPECT_GE(handoffs() - before, static_cast<std::uint64_t>(kRounds));
}

TEST(HandoffCpu, AThreadsOwnCpuSetIsKept) {
  const cpu_set_t all = my_cpus();
  if (CPU_COUNT(&all) < 2) GTEST_SKIP() << "one CPU: nothing to narrow";
  int first = 0;
  while (!CPU_ISSET(first, &all)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  int bad_a = 0, bad_b = 0;
  bool narrowed = false;
  auto at_a = [&] {
    // Goroutine a's thread keeps to one CPU, as a program may make it.
    if (!narrowed) narrowed = sched_setaffinity(0, sizeof one, &one) == 0;
    cpu_set_t now = my_cpus();
    if (!CPU_EQUAL(&now, &one)) ++bad_a;
  };
  auto at_b = [&] {
    cpu_set_t now = my_cpus();
    if (!CPU_EQUAL(&now, &all)) ++bad_b;
  };
  take_turns(300, at_a, at_b);
  ASSERT_TRUE(narrowed);
  EXPECT_EQ(bad_a, 0) << "turns in which a's own CPU set was not {" << first << "}";
  EXPECT_EQ(bad_b, 0) << "turns in which b's CPU set was not the process's";
}
