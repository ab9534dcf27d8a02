// The main of every test executable: the whole suite runs as gort's main
// goroutine, so tests may start goroutines, park, sleep and lock freely.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include <gort/gort.h>

namespace {

// ctest kills a test that outlives its TIMEOUT (240 s) with SIGKILL, which
// leaves nothing to say where it hung. Before that, the way `go test
// -timeout` does: say so, then SIGQUIT, for which gort prints every
// goroutine's stack and exits with status 2. GORT_TEST_TIMEOUT=seconds
// (0: off). A POSIX timer, not a thread: a thread gort did not make could
// wake a goroutine, so while one exists gort reports no deadlock (and the
// deadlock tests would hang); alarm() and SIGALRM are the death tests'.
void timed_out(int) {
  static const char msg[] = "panic: test timed out (GORT_TEST_TIMEOUT)\n\n";
  ssize_t rc = write(2, msg, sizeof msg - 1);
  (void)rc;
  kill(getpid(), SIGQUIT);
}

void arm_watchdog() {
  long secs = 200;
  if (const char* e = std::getenv("GORT_TEST_TIMEOUT")) secs = std::atol(e);
  if (secs <= 0) return;
  const int sig = SIGRTMAX - 1;
  signal(sig, timed_out);
  sigevent ev{};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = sig;
  timer_t t;
  if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0) return;
  itimerspec when{};
  when.it_value.tv_sec = secs;
  timer_settime(t, 0, &when, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  // The runtime has threads: fork-only death tests would copy one of them.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  arm_watchdog();
  return gort::run([] { return RUN_ALL_TESTS(); });
}
