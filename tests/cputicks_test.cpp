// cputicks (runtime/time.cpp): the clock of time slices. Its ticks, turned
// into nanoseconds, measure the same intervals nanotime() does; it reads
// the TSC exactly where the kernel's clock source is the TSC.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "runtime2.h"

namespace {

using gort::rt::cputicks;
using gort::rt::nanotime;
using gort::rt::ticks_to_ns;

// A (ticks, ns) pair read close together: the tightest of 32 tries (the
// thread may be interrupted between the reads, and under TSan
// clock_gettime takes microseconds). err: half the gap, in ns.
struct Pair {
  std::int64_t ticks, ns, err;
};
Pair pair() {
  Pair best{0, 0, -1};
  for (int i = 0; i < 32; ++i) {
    const std::int64_t a = cputicks(), ns = nanotime(), b = cputicks();
    const std::int64_t err = ticks_to_ns(b - a) / 2 + 1;
    if (best.err < 0 || err < best.err) best = {a + (b - a) / 2, ns, err};
  }
  return best;
}
// How far the two clocks may disagree over [a, b]: 1% for the rate, plus
// the pairs' own errors.
double tolerance(const Pair& a, const Pair& b) {
  return 0.01 + static_cast<double>(a.err + b.err) / static_cast<double>(b.ns - a.ns);
}

TEST(Cputicks, TheTSCExactlyWhereTheKernelsClockIsTheTSC) {
  std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string source;
  f >> source;
  EXPECT_EQ(gort::rt::tsc_ticks, source == "tsc") << "clock source: " << source;
}

// Over intervals from 100 µs (a short slice) to 50 ms, both clocks agree
// to within 1% and the pairs' own errors (the first rate, from 100 µs at
// start-up, is good to ~0.1%; sysmon makes it exact as the program runs).
TEST(Cputicks, TicksToNsMeasuresWhatNanotimeMeasures) {
  for (std::int64_t interval : {100'000, 1'000'000, 50'000'000}) {
    const Pair a = pair();
    Pair b;
    do b = pair();
    while (b.ns - a.ns < interval);
    const double ns = static_cast<double>(b.ns - a.ns);
    const double by_ticks = static_cast<double>(ticks_to_ns(b.ticks - a.ticks));
    EXPECT_NEAR(by_ticks / ns, 1.0, tolerance(a, b)) << "interval " << interval << " ns: nanotime " << ns
                                                      << ", ticks " << by_ticks;
  }
}

// The same across sleeps, during which the thread may move to another CPU
// (the TSC is the same on every CPU where the kernel uses it). usleep may
// end early (a SIGURG of the runtime's interrupts it: nanosleep is not
// restarted), hence the loop.
TEST(Cputicks, ASleepIsAsLongInTicks) {
  for (int i = 0; i < 20; ++i) {
    const Pair a = pair();
    Pair b;
    do {
      usleep(1000);
      b = pair();
    } while (b.ns - a.ns < 1'000'000);
    const double ns = static_cast<double>(b.ns - a.ns);
    EXPECT_NEAR(static_cast<double>(ticks_to_ns(b.ticks - a.ticks)) / ns, 1.0, tolerance(a, b)) << "slept " << ns << " ns";
  }
}

}  // namespace
