// GORTDEBUG=schedtrace's output is Go's format, line for line, so that tools
// and people who read Go's traces read gort's. The regular expressions are
// Go's print statements in schedtrace (proc.go).
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <regex>
#include <sstream>
#include <string>

TEST(Schedtrace, SummaryLineIsGosFormat) {
  std::string line = gort::debug::schedtrace(false);
  std::regex re(
      R"(SCHED \d+ms: gomaxprocs=(\d+) idleprocs=\d+ threads=\d+ spinningthreads=\d+ idlethreads=\d+ runqueue=\d+ \[(\d+ ?)+\]\n)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(line, m, re)) << line;
  EXPECT_EQ(std::stoi(m[1]), gort::gomaxprocs(0));
}

TEST(Schedtrace, DetailShowsEveryPMAndG) {
  gort::WaitGroup parked, release, exited;
  parked.add(1);
  release.add(1);
  exited.add(1);
  gort::go([&] {
    parked.done();
    release.wait();
    exited.done();
  });
  parked.wait();
  // parked.done() comes before release.wait() parks the goroutine (on
  // another P it may not have got there yet): look until it has.
  std::string text = gort::debug::schedtrace(true);
  while (text.find("(semacquire)") == std::string::npos) {
    gort::gosched();
    text = gort::debug::schedtrace(true);
  }
  std::istringstream in(text);
  std::string first;
  std::getline(in, first);
  EXPECT_TRUE(std::regex_match(first, std::regex(R"(SCHED \d+ms: gomaxprocs=\d+ idleprocs=\d+ threads=\d+ spinningthreads=\d+ idlethreads=\d+ runqueue=\d+ gcwaiting=(true|false) nmidlelocked=\d+ stopwait=-?\d+ sysmonwait=(true|false))")))
      << first;
  int ps = 0, ms = 0;
  bool main_running = false, waiter_parked = false;
  std::regex p_re(R"(  P\d+: status=\d schedtick=\d+ syscalltick=\d+ m=-?\d+ runqsize=\d+ gfreecnt=\d+ timerslen=\d+)");
  std::regex m_re(R"(  M\d+: p=-?\d+ curg=-?\d+ mallocing=0 throwing=0 preemptoff=\d+ locks=\d+ dying=0 spinning=(true|false) blocked=(true|false) lockedg=-?\d+)");
  std::regex g_re(R"(  G(\d+): status=(\d+)\(([^)]*)\) m=-?\d+ lockedm=-?\d+)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, p_re)) ++ps;
    else if (std::regex_match(line, m_re)) ++ms;
    else if (std::regex_match(line, m, g_re)) {
      if (m[1] == "1" && m[2] == "2") main_running = true;
      if (m[2] == "4" && m[3] == "semacquire") waiter_parked = true;
    } else {
      ADD_FAILURE() << "unexpected line: " << line;
    }
  }
  EXPECT_EQ(ps, gort::gomaxprocs(0));
  EXPECT_GE(ms, 2);  // m0 and sysmon at least
  EXPECT_TRUE(main_running) << "G1 (this test) should be status=2";
  EXPECT_TRUE(waiter_parked) << "the parked goroutine should be status=4(semacquire)";
  release.done();
  exited.wait();
}

TEST(Schedtrace, SnapshotCountsGoroutines) {
  gort::WaitGroup parked, release, exited;
  // Goroutines of earlier tests may still be between their last done() and
  // their exit: wait until only this one is left.
  while (gort::num_goroutine() != 1) gort::gosched();
  const int before = gort::num_goroutine();
  parked.add(10);
  release.add(1);
  exited.add(10);
  for (int i = 0; i < 10; ++i) gort::go([&] {
    parked.done();
    release.wait();
    exited.done();
  });
  parked.wait();
  gort::debug::SchedStats s = gort::debug::sched_stats();
  EXPECT_EQ(s.goroutines, before + 10);
  EXPECT_EQ(static_cast<int>(s.ps.size()), s.gomaxprocs);
  EXPECT_GE(gort::debug::current_p(), 0);
  release.done();
  exited.wait();
}
