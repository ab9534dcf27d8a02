// The slice timer (preempt/slicetimer.cpp): each thread's own timer ends
// the time slice it runs, sysmon only backs it up; and it never interrupts
// a gort::syscall. Run with GORTDEBUG=timeslice=1ms (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <gort/debug.h>
#include <gort/gort.h>
#include <poll.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "child_process.h"
#include "preempt/preempt.h"
#include "runtime2.h"
#include "test_util.h"

namespace {

std::uint64_t timer_requests() { return gort::debug::sched_stats().slice_timer_requests; }

// poll(2) for ms milliseconds inside gort::syscall: did it fail with EINTR?
bool poll_interrupted(int ms) {
  int saved = 0;
  long r = gort::syscall([&] {
    long rc = ::poll(nullptr, 0, ms);
    saved = errno;
    return rc;
  });
  return r < 0 && saved == EINTR;
}

// Starts a goroutine that holds the P without a call until stop is set
// (only a signal can take the P from it) and then calls wg.done().
void go_spinner(const std::atomic<bool>& stop, gort::WaitGroup& wg) {
  wg.add(1);
  gort::go([&] {
    while (!stop.load(std::memory_order_relaxed)) asm volatile("");
    wg.done();
  });
}

// One P, a call-free spinner, and main waking from short sleeps: each
// wake-up is work waiting for the spinner's P, and the spinner's thread's
// own timer is what asks it to yield (sysmon would ask only 2 ms after the
// slice's end). The loop is bounded: a broken timer fails, it does not hang.
TEST(PreemptSliceTimer, TheThreadsOwnTimerEndsTheSlices) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ScopedGomaxprocs procs(1);
  constexpr std::uint64_t kWanted = 20;
  const std::uint64_t start = timer_requests();
  const std::uint64_t signals = gort::debug::sched_stats().preempted_by_signal;
  std::atomic<bool> stop{false};
  gort::WaitGroup wg;
  go_spinner(stop, wg);
  // A request may find the spinner at a point that is not safe (under ASan,
  // inside its runtime) and be retried, so the count of preemptions by
  // signal can trail the count of requests for a while: wait for both.
  auto by_signal = [] { return gort::debug::sched_stats().preempted_by_signal; };
  for (int i = 0; i < 5000 && (timer_requests() - start < kWanted || by_signal() - signals < kWanted); ++i)
    gort::sleep_for(std::chrono::milliseconds(2));
  stop = true;
  wg.wait();
  EXPECT_GE(timer_requests() - start, kWanted);
  EXPECT_GE(by_signal() - signals, kWanted);
}

// A blocking call inside gort::syscall that the kernel does not restart
// after a signal handler (poll with a timeout fails with EINTR) while a
// spinner keeps the P wanted: the caller's thread armed its timer when the
// goroutine started, and entersyscall disarms it.
TEST(PreemptSliceTimer, NeverInterruptsASystemCall) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ScopedGomaxprocs procs(1);
  const std::uint64_t start = timer_requests();
  std::atomic<bool> stop{false};
  gort::WaitGroup wg;
  go_spinner(stop, wg);
  wg.add(1);
  int eintr = 0, calls = 0;
  gort::go([&] {
    for (; calls < 200; ++calls) {
      if (poll_interrupted(3)) ++eintr;
    }
    stop = true;
    wg.done();
  });
  wg.wait();
  EXPECT_EQ(eintr, 0) << "of " << calls << " calls";
  // Each return from poll found the spinner on the P, and the timer took it back.
  EXPECT_GT(timer_requests() - start, 0u) << "the timer never ran: the test proves nothing";
}

// sysmon's (and stop_the_world's) preemption signal against a goroutine
// going into a system call: preemptone reads the P's M, then signals it,
// and the G may have entered gort::syscall in between. A thread that keeps
// asking (preemptone in a loop, as sysmon does now and then) while the
// goroutine goes in and out of poll(2), which fails with EINTR when a
// handler runs: no call may see EINTR.
TEST(PreemptSliceTimer, PreemptionSignalsNeverInterruptASystemCall) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ScopedGomaxprocs procs(2);
  std::atomic<gort::rt::P*> target{nullptr};
  std::atomic<bool> stop{false};
  std::atomic<long> asks{0};
  std::thread asker([&] {
    while (!stop.load()) {
      if (gort::rt::P* pp = target.load()) {
        gort::rt::preemptone(pp);
        asks.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  int eintr = 0, calls = 0;
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    for (; calls < 2000; ++calls) {
      target.store(gort::rt::getm()->p);
      if (poll_interrupted(1)) ++eintr;
    }
    target.store(nullptr);
    wg.done();
  });
  wg.wait();
  stop = true;
  asker.join();
  EXPECT_EQ(eintr, 0) << "of " << calls << " calls, " << asks.load() << " requests";
  EXPECT_GT(asks.load(), 0);
}

// Two goroutines handing a value back and forth share one time slice for
// good (each readies the other into runnext, which inherits the slice), so
// every switch starts a G after its slice's end. The timer must not fire
// per switch (it once did: armed for the past at each switch, a signal and
// ~30 µs each); by design it fires about once per slice length.
TEST(PreemptSliceTimer, AHandOffPairDoesNotMakeItFirePerSwitch) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ScopedGomaxprocs procs(1);
  constexpr int kRoundTrips = 100'000;
  auto ping = gort::make_chan<int>();
  auto pong = gort::make_chan<int>();
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    for (int i = 0; i < kRoundTrips; ++i) pong.send(*ping.recv());
    wg.done();
  });
  const std::uint64_t fired0 = gort::rt::sched.nslicetimerfired.load();
  for (int i = 0; i < kRoundTrips; ++i) {
    ping.send(i);
    pong.recv();
  }
  wg.wait();
  const std::uint64_t fired = gort::rt::sched.nslicetimerfired.load() - fired0;
  // One per ms of the run would be about 50-500 here; per switch, 200000.
  EXPECT_LT(fired, static_cast<std::uint64_t>(kRoundTrips / 20));
}

// Two goroutines that yield to each other start a new slice at every
// switch and never finish one. The timer, armed for the first slice's end,
// is moved along (slicetimer_begin) instead of going off at a slice end long
// past, which would cost a signal per slice length for nothing.
TEST(PreemptSliceTimer, SlicesThatEndEarlyDoNotMakeItGoOff) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ScopedGomaxprocs procs(1);
  std::atomic<bool> stop{false};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    while (!stop.load(std::memory_order_relaxed)) gort::gosched();
    wg.done();
  });
  const std::uint64_t fired0 = gort::rt::sched.nslicetimerfired.load();
  const std::uint64_t asked0 = timer_requests();
  const std::int64_t t0 = gort::rt::nanotime();
  while (gort::rt::nanotime() - t0 < 200'000'000) gort::gosched();  // 200 slice lengths (timeslice=1ms)
  stop.store(true);
  wg.wait();
  // Firings that asked for nothing. A slice the OS interrupts for longer
  // than the rest of it does end by the timer, which then asks the G to
  // yield (the other one waits): on a loaded machine those were 63 in one
  // run, and they are not what this counts.
  const std::uint64_t asked = timer_requests() - asked0;
  const std::uint64_t fired = gort::rt::sched.nslicetimerfired.load() - fired0;
  const std::uint64_t useless = fired > asked ? fired - asked : 0;
  // Going off for nothing once per slice length would be about 200.
  EXPECT_LT(useless, 50u) << fired << " firings, " << asked << " preemption requests";
}

// GORTDEBUG=slicetimer=0: sysmon alone ends the slices, with signals of its
// own (gort_probe sigurg-chain preempts a spinner at GOMAXPROCS=1).
TEST(PreemptSliceTimer, SlicetimerZeroLeavesTheSlicesToSysmon) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  for (const char* setting : {"timeslice=1ms", "timeslice=1ms,slicetimer=0"}) {
    SCOPED_TRACE(setting);
    auto r = gort_test::run_child({GORT_PROBE, "sigurg-chain", "handler"}, {{"GORTDEBUG", setting}, {"GOMAXPROCS", "1"}});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("preempted by signal: ([0-9]+)\n"))) << r.out;
    EXPECT_GT(std::stoull(m[1].str()), 0u) << r.out;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("slice timer requests: ([0-9]+)\n"))) << r.out;
    if (std::string(setting).find("slicetimer=0") != std::string::npos)
      EXPECT_EQ(m[1].str(), "0") << r.out;
    else
      EXPECT_GT(std::stoull(m[1].str()), 0u) << r.out;
  }
}

}  // namespace
