// Fatal errors and panics: how a gort program dies when it cannot go on.
//
// Go's contract, which gort keeps: a deadlock, a panic (an exception that
// escapes a goroutine) and misuse of the runtime end the process with exit
// status 2 and a message on stderr that says what happened, followed by the
// goroutines involved ("goroutine 1 [semacquire]:"). Each test runs the
// failing statement in a death-test child (a fresh process and runtime) and
// checks both the exit status and the message; a runtime that hung, exited
// with another status, or printed something else fails the test. The last
// tests run gort_probe, for misuse before gort::run (which a GoogleTest
// child, already inside gort::run, cannot do) and for a plain program
// without GoogleTest around it.
//
// The regexes are POSIX extended: "." also matches a newline, so "A.*B"
// checks that B comes after A anywhere in stderr.
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "child_process.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;

constexpr const char* kDeadlock = "fatal error: all goroutines are asleep - deadlock!";

struct NotAnException {};

TEST(FatalDeathTest, DeadlockInWaitGroupWait) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  EXPECT_EXIT(
      {
        gort::WaitGroup wg;
        wg.add(1);
        wg.wait();
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[semacquire\\]:");
}

TEST(FatalDeathTest, DeadlockLockingAMutexTwice) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  EXPECT_EXIT(
      {
        gort::Mutex mu;
        mu.lock();
        mu.lock();
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[sync\\.Mutex\\.Lock\\]:");
}

TEST(FatalDeathTest, DeadlockDumpListsEveryParkedGoroutine) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  // main waits for a goroutine that waits for a Mutex main holds.
  EXPECT_EXIT(
      {
        gort::Mutex mu;
        gort::WaitGroup wg;
        mu.lock();
        wg.add(1);
        gort::go([&] {
          mu.lock();
          wg.done();
        });
        wg.wait();
      },
      testing::ExitedWithCode(2),
      std::string(kDeadlock) + ".*goroutine 1 \\[semacquire\\]:.*goroutine [0-9]+ \\[sync\\.Mutex\\.Lock\\]:");
}

TEST(FatalDeathTest, DeadlockIsReportedOnceTheLastTimerHasFired) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  // While a goroutine sleeps nothing is dead; when it wakes and blocks for
  // good, everything is.
  EXPECT_EXIT(
      {
        gort::WaitGroup never;
        gort::WaitGroup also_never;
        never.add(1);
        also_never.add(1);
        gort::go([&] {
          gort::sleep_for(10ms);
          also_never.wait();
        });
        never.wait();
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine [0-9]+ \\[semacquire\\]:");
}

TEST(FatalDeathTest, ExceptionEscapingAGoroutinePanics) {
  EXPECT_EXIT(
      {
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([] { throw std::runtime_error("boom"); });
        wg.wait();
      },
      testing::ExitedWithCode(2), "panic: std::runtime_error: boom.*goroutine [0-9]+ \\[running\\]:");
}

TEST(FatalDeathTest, PanicNamesTheExceptionType) {
  EXPECT_EXIT(
      {
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([] { throw std::out_of_range("index 7"); });
        wg.wait();
      },
      testing::ExitedWithCode(2), "panic: std::out_of_range: index 7");
}

TEST(FatalDeathTest, PanicWithAnIntOrANonStdException) {
  EXPECT_EXIT(
      {
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([] { throw 42; });
        wg.wait();
      },
      testing::ExitedWithCode(2), "panic: \\(int\\) 42");
  EXPECT_EXIT(
      {
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([] { throw NotAnException{}; });
        wg.wait();
      },
      testing::ExitedWithCode(2), "panic: .*NotAnException");
}

TEST(FatalDeathTest, PanicInAGoroutineWhileMainRuns) {
  // main is busy (yielding), not parked: the panic still ends the process.
  EXPECT_EXIT(
      {
        gort::go([] { throw std::runtime_error("boom"); });
        for (;;) gort::gosched();
      },
      testing::ExitedWithCode(2), "panic: std::runtime_error: boom");
}

TEST(FatalDeathTest, RunCalledFromAGoroutine) {
  // The test body is already goroutine 1 of this process's runtime.
  EXPECT_EXIT(gort::run([] {}), testing::ExitedWithCode(2), "fatal error: gort::run called from a goroutine");
}

TEST(FatalDeathTest, RunCalledTwiceFromAnotherThread) {
  EXPECT_EXIT(std::thread([] { gort::run([] {}); }).join(), testing::ExitedWithCode(2),
              "fatal error: gort::run called twice");
}

TEST(FatalDeathTest, GoschedOffAGoroutine) {
  EXPECT_EXIT(std::thread([] { gort::gosched(); }).join(), testing::ExitedWithCode(2),
              "fatal error: gort::gosched called off a goroutine");
}

TEST(FatalDeathTest, SleepOffAGoroutine) {
  EXPECT_EXIT(std::thread([] { gort::sleep_for(1ms); }).join(), testing::ExitedWithCode(2),
              "fatal error: gort::sleep_for called off a goroutine");
}

TEST(FatalDeathTest, BlockingWaitGroupWaitOffAGoroutine) {
  EXPECT_EXIT(
      {
        gort::WaitGroup wg;
        wg.add(1);
        std::thread([&] { wg.wait(); }).join();
      },
      testing::ExitedWithCode(2), "fatal error: .*called off a goroutine");
}

TEST(FatalDeathTest, BlockingMutexLockOffAGoroutine) {
  EXPECT_EXIT(
      {
        gort::Mutex mu;
        mu.lock();
        std::thread([&] { mu.lock(); }).join();
      },
      testing::ExitedWithCode(2), "fatal error: .*called off a goroutine");
}

// ---- outside GoogleTest: gort_probe ----

std::string probe() { return GORT_PROBE; }

TEST(FatalProbe, DeadlockedProgram) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  auto r = gort_test::run_child({probe(), "deadlock"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(kDeadlock), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("goroutine 1 [semacquire]:"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(FatalProbe, PanickingProgram) {
  auto r = gort_test::run_child({probe(), "panic"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("panic: std::runtime_error: boom\n", 0), 0u) << "stderr starts with the panic:\n" << r.err;
  EXPECT_NE(r.err.find("[running]:"), std::string::npos) << r.err;
  // Only the panicking goroutine by default, as in Go.
  EXPECT_EQ(r.err.find("goroutine 1 ["), std::string::npos) << r.err;
}

TEST(FatalProbe, PanicWithGotracebackAllDumpsEveryGoroutine) {
  auto r = gort_test::run_child({probe(), "panic"}, {{"GOTRACEBACK", "all"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("panic: std::runtime_error: boom"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("goroutine 1 [semacquire]:"), std::string::npos) << r.err;
}

TEST(FatalProbe, GoBeforeRun) {
  auto r = gort_test::run_child({probe(), "go-before-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("fatal error: gort::go called before gort::run"), std::string::npos) << r.err;
}

TEST(FatalProbe, GomaxprocsBeforeRun) {
  auto r = gort_test::run_child({probe(), "gomaxprocs-before-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("fatal error: gort::gomaxprocs called before gort::run"), std::string::npos) << r.err;
}

TEST(FatalProbe, RunTwiceOnTheSameThread) {
  auto r = gort_test::run_child({probe(), "run-twice"});
  EXPECT_EQ(r.out, "first run returned\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("fatal error: gort::run called twice"), std::string::npos) << r.err;
}

}  // namespace
