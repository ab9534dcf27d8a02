// Small helpers shared by the suites.
#pragma once

#include <gtest/gtest.h>

#include <gort/gort.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace gort_test {

// Sets GOMAXPROCS for one test and restores the previous value after it, so
// that a test can rely on one P (deterministic cooperative scheduling) or on
// several, whatever GOMAXPROCS the suite was started with.
class ScopedGomaxprocs {
 public:
  explicit ScopedGomaxprocs(int n) : prev_(gort::gomaxprocs(n)) {}
  ~ScopedGomaxprocs() { gort::gomaxprocs(prev_); }
  ScopedGomaxprocs(const ScopedGomaxprocs&) = delete;
  ScopedGomaxprocs& operator=(const ScopedGomaxprocs&) = delete;

 private:
  int prev_;
};

// A goroutine that has called WaitGroup::done() may not have exited yet.
// Yields until num_goroutine() drops to `want` or `max_yields` yields have
// passed (a goroutine that never exits, e.g. one lost by the scheduler,
// makes the caller's assertion fail instead of hanging). Returns the count.
inline int settle_goroutines(int want, int max_yields = 1'000'000) {
  int n = gort::num_goroutine();
  for (int i = 0; i < max_yields && n > want; ++i) {
    gort::gosched();
    n = gort::num_goroutine();
  }
  return n;
}

// Hang detection. A runtime bug in these suites often shows as a hang (a
// lost wake-up, a self-deadlock in the scheduler) rather than a wrong value.
// This listener arms a watchdog thread for each test; a test that has not
// ended after GORT_TEST_WATCHDOG seconds (default 120, below ctest's
// timeout) gets its name printed and the process ends with status 3. It is
// not a timing assertion: the limit is orders of magnitude above any test's
// normal running time. Death-test children have it too, so a child that
// hangs instead of dying is reported the same way.
class HangWatchdog : public testing::EmptyTestEventListener {
 public:
  void OnTestStart(const testing::TestInfo& info) override {
    std::lock_guard<std::mutex> lk(s_->mu);
    s_->name = std::string(info.test_suite_name()) + "." + info.name();
    s_->deadline = std::chrono::steady_clock::now() + s_->limit;
    s_->armed = true;
    s_->cv.notify_one();
  }
  void OnTestEnd(const testing::TestInfo&) override {
    std::lock_guard<std::mutex> lk(s_->mu);
    s_->armed = false;
    s_->cv.notify_one();
  }

  static void install() {
    auto* w = new HangWatchdog;
    if (const char* v = std::getenv("GORT_TEST_WATCHDOG")) {
      long s = std::atol(v);
      if (s > 0) w->s_->limit = std::chrono::seconds(s);
    }
    std::thread([s = w->s_] { s->run(); }).detach();
    testing::UnitTest::GetInstance()->listeners().Append(w);
  }

 private:
  // Never freed: the detached thread may outlive main.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool armed = false;
    std::string name;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::seconds limit{120};

    void run() {
      std::unique_lock<std::mutex> lk(mu);
      for (;;) {
        if (!armed) {
          cv.wait(lk);
          continue;
        }
        if (cv.wait_until(lk, deadline) == std::cv_status::timeout && armed &&
            std::chrono::steady_clock::now() >= deadline) {
          std::fprintf(stderr, "\nwatchdog: %s has not finished after %lld s: it hangs (pid %d)\n", name.c_str(),
                       static_cast<long long>(limit.count()), static_cast<int>(getpid()));
          std::fflush(stdout);
          std::fflush(stderr);
          _exit(3);
        }
      }
    }
  };
  State* s_ = new State;
};

inline const bool kHangWatchdogInstalled = (HangWatchdog::install(), true);

}  // namespace gort_test
