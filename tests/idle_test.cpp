// An idle program costs no CPU to speak of: with every goroutine blocked on
// a channel, a WaitGroup or a long sleep, no M spins and sysmon backs off, so
// the process uses well under 10 ms of CPU per idle second (the channels
// issue's bound). This measures the process's own CPU time, which other load
// on the machine does not inflate.
#include <gtest/gtest.h>

#include <gort/gort.h>
#include <sys/resource.h>

#include <chrono>

namespace {
double cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}
}  // namespace

TEST(Idle, BlockedGoroutinesCostNoCpu) {
  auto never = gort::make_chan<int>();
  gort::WaitGroup gate, exited;
  gate.add(1);
  for (int i = 0; i < 100; ++i) {
    exited.add(3);
    gort::go([&, never] {
      gort::select(gort::on_recv(never), gort::on_recv(gort::after(std::chrono::hours(1))));
      exited.done();
    });
    gort::go([&] {
      gate.wait();
      exited.done();
    });
    gort::go([&, never] {
      never.recv();
      exited.done();
    });
  }
  // Let the goroutines park and the spinning Ms give up: until, seen from
  // main's P, every other P is idle, nothing spins and nothing is queued
  // (on a loaded machine that takes longer than any fixed wait).
  for (int i = 0; i < 200; ++i) {
    gort::sleep_for(std::chrono::milliseconds(10));
    gort::debug::SchedStats s = gort::debug::sched_stats();
    if (s.idleprocs >= s.gomaxprocs - 1 && s.spinningthreads == 0 && s.runqueue == 0) break;
  }
  double before = cpu_ms();
  gort::sleep_for(std::chrono::seconds(1));  // the measured idle second: main sleeps too
  double used = cpu_ms() - before;
  RecordProperty("idle_cpu_ms_per_second", std::to_string(used));
  EXPECT_LT(used, 10.0) << "ms of CPU used while everything slept for a second";
  gate.done();
  never.close();
  exited.wait();
}
