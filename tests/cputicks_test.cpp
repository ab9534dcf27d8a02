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

// A (ticks, ns) pair read close together: retried while the thread was
// descheduled between the reads (so the pair would not be one instant).
struct Pair {
  std::int64_t ticks, ns;
};
Pair pair() {
  for (;;) {
    const std::int64_t a = cputicks(), ns = nanotime(), b = cputicks();
    if (ticks_to_ns(b - a) < 20'000) return {a + (b - a) / 2, ns};
  }
}

TEST(Cputicks, TheTSCExactlyWhereTheKernelsClockIsTheTSC) {
  std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string source;
  f >> source;
  EXPECT_EQ(gort::rt::tsc_ticks, source == "tsc") << "clock source: " << source;
}

// Over intervals from 100 µs (a short slice) to 50 ms, both clocks agree
// to within 1% (the first rate, from 20 µs at start-up, is good to ~0.1%;
// sysmon makes it exact as the program runs).
TEST(Cputicks, TicksToNsMeasuresWhatNanotimeMeasures) {
  for (std::int64_t interval : {100'000, 1'000'000, 50'000'000}) {
    const Pair a = pair();
    Pair b;
    do b = pair();
    while (b.ns - a.ns < interval);
    const double ns = static_cast<double>(b.ns - a.ns);
    const double by_ticks = static_cast<double>(ticks_to_ns(b.ticks - a.ticks));
    EXPECT_NEAR(by_ticks / ns, 1.0, 0.01) << "interval " << interval << " ns: nanotime " << ns << ", ticks "
                                          << by_ticks;
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
    EXPECT_NEAR(static_cast<double>(ticks_to_ns(b.ticks - a.ticks)) / ns, 1.0, 0.01) << "slept " << ns << " ns";
  }
}

}  // namespace
