// Which loops are preempted under which GORTDEBUG setting: a goroutine spins
// on the only P (GOMAXPROCS=1) while main waits to run again (preempt_probe).
// Also the stack-overflow check at yield points and the knobs' messages.
//
//   loop              preemptoff   asyncpreemptoff   default
//   calls (entries)   hangs        preempted         preempted
//   GORT_YIELD_POINT  hangs        preempted         preempted
//   no calls          hangs        hangs             preempted
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <optional>
#include <string>

#include "child_process.h"
#include "test_util.h"

namespace {

using gort_test::ChildResult;
using gort_test::run_child;

ChildResult spin(const std::string& kind, const char* gortdebug) {
  std::map<std::string, std::optional<std::string>> env{{"GOMAXPROCS", "1"}};
  if (gortdebug) env["GORTDEBUG"] = gortdebug;
  return run_child({PREEMPT_PROBE, "spin", kind}, env);
}

void expect_preempted(const ChildResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "main ran again\n");
}

// The probe's alarm (2 s, 200 time slices) ended it: main never ran again.
void expect_hang(const ChildResult& r) {
  EXPECT_EQ(r.term_signal, SIGALRM) << "exit " << r.exit_code << "\n" << r.out << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(PreemptCoop, FunctionEntriesAreYieldPoints) { expect_preempted(spin("calls", "asyncpreemptoff=1")); }

TEST(PreemptCoop, YieldPointMacro) { expect_preempted(spin("yieldpoint", "asyncpreemptoff=1")); }

TEST(PreemptCoop, CallFreeLoopIsNotPreemptedWithoutSignals) { expect_hang(spin("nocalls", "asyncpreemptoff=1")); }

TEST(PreemptCoop, PreemptoffTurnsEverythingOff) {
  expect_hang(spin("calls", "preemptoff=1"));
  expect_hang(spin("yieldpoint", "preemptoff=1"));
}

TEST(PreemptCoop, ShortTimesliceStillPreempts) { expect_preempted(spin("yieldpoint", "asyncpreemptoff=1,timeslice=100us")); }

TEST(PreemptCoop, StackOverflowIsAFatalErrorNamingTheGoroutine) {
  // Under TSan the traceback itself (libdw, from the system stack) overflows.
  if (gort_test::kNoAsyncPreemption) GTEST_SKIP() << "the traceback overflows the system stack under TSan";
  ChildResult r = run_child({PREEMPT_PROBE, "overflow"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("runtime: goroutine stack exceeds "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fatal error: stack overflow\n\ngoroutine 2 [running]:\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("recurse(long)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("goroutine 1 [sleep]:"), std::string::npos) << r.err;
}

TEST(PreemptCoop, BadTimesliceIsReportedAndIgnored) {
  for (const char* v : {"timeslice=10", "timeslice=50us", "timeslice=fast"}) {
    ChildResult r = run_child({PREEMPT_PROBE, "spin", "yieldpoint"}, {{"GOMAXPROCS", "1"}, {"GORTDEBUG", v}});
    EXPECT_NE(r.err.find(std::string("gort: GORTDEBUG: bad value ") + v), std::string::npos) << r.err;
    expect_preempted(r);  // at the default slice
  }
}

}  // namespace
