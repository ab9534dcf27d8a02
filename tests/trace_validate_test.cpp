// The invariant checker (trace/validate.h): silent on a well-formed trace,
// and each invariant, broken on purpose in a crafted trace, is reported
// once with its time.
#include <gtest/gtest.h>

#include "reader.h"
#include "trace_builder.h"
#include "validate.h"

namespace {

using namespace gort::trace;
using trace_testing::Ev;
using trace_testing::TraceBuilder;

// The violations of a trace whose threads' batches are given (times in ns).
std::vector<std::string> check(const std::vector<std::pair<std::uint32_t, std::vector<Ev>>>& batches) {
  TraceBuilder b;
  b.string(14, "gomaxprocs");
  for (const auto& [m, evs] : batches) b.batch(m, 100 + m, evs);
  b.end();
  return validate(parse_trace(b.bytes(), "t.bin"));
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& l : v) s += l + "\n";
  return s;
}

TEST(TraceValidate, GoodTraceHasNoViolations) {
  Trace t = parse_trace(trace_testing::scenario().bytes(), "t.bin");
  EXPECT_EQ(joined(validate(t)), "");
}

TEST(TraceValidate, GoroutineOnTwoPs) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}}}}, {1, {{GORT_TRACE_EV_GO_START, 1500, {5, 1}}}}});
  ASSERT_EQ(v.size(), 1u) << joined(v);
  EXPECT_EQ(v[0], "0.000500ms: G5 starts on P1 while it runs on P0 (since 0.000000ms)");
}

TEST(TraceValidate, TwoGoroutinesOnOneP) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}}}}, {1, {{GORT_TRACE_EV_GO_START, 1200, {6, 0}}}}});
  ASSERT_EQ(v.size(), 1u) << joined(v);
  EXPECT_EQ(v[0], "0.000200ms: P0 starts G6 while it runs G5 (since 0.000000ms)");
}

TEST(TraceValidate, StartedTwiceWithoutStopping) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}}, {GORT_TRACE_EV_GO_START, 1200, {5, 0}}}}});
  ASSERT_EQ(v.size(), 1u) << joined(v);
  EXPECT_NE(v[0].find("G5 starts on P0 again without stopping"), std::string::npos) << v[0];
}

// The wake-up is recorded on one thread after the start on another: by
// their timestamps the G ran before anything readied it.
TEST(TraceValidate, StartBeforeReady) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}}, {GORT_TRACE_EV_GO_PARK, 1100, {5, 1}},
                       {GORT_TRACE_EV_GO_READY, 1400, {5, 0}}}},
                  {1, {{GORT_TRACE_EV_GO_START, 1300, {5, 1}}}}});
  ASSERT_EQ(v.size(), 1u) << joined(v);
  EXPECT_EQ(v[0], "0.000300ms: G5 starts on P1 but has been parked since 0.000100ms with no GO_READY for it yet");
}

TEST(TraceValidate, ReadyThenStartIsFine) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}}, {GORT_TRACE_EV_GO_PARK, 1100, {5, 1}},
                       {GORT_TRACE_EV_GO_READY, 1200, {5, 0}}}},
                  {1, {{GORT_TRACE_EV_GO_START, 1300, {5, 1}}, {GORT_TRACE_EV_GO_END, 1400, {5}}}}});
  EXPECT_EQ(joined(v), "");
}

TEST(TraceValidate, PreemptOfAGoroutineThatIsNotRunning) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}}, {GORT_TRACE_EV_GO_SCHED, 1100, {5}},
                       {GORT_TRACE_EV_GO_PREEMPT, 1200, {5, 1, 50}}}}});
  ASSERT_EQ(v.size(), 1u) << joined(v);
  EXPECT_EQ(v[0], "0.000200ms: GO_PREEMPT of G5, which is not running");
}

// Running since before the trace began: its first event may end a slice
// the trace never saw start.
TEST(TraceValidate, RunningWhenTheTraceStarted) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_PREEMPT, 1000, {5, 0, 50}}, {GORT_TRACE_EV_GO_END, 1100, {6}}}}});
  EXPECT_EQ(joined(v), "");
}

// The states at a trace's start were read while the program ran: the
// checker does not hold a goroutine to them. G5 "runs" on P0, yet G7 starts
// there and G5 starts again without a recorded stop (its gosched was just
// before the trace); G6 "waits", yet starts with no GO_READY.
TEST(TraceValidate, StatesWhenTheTraceStartedAreNoEvidence) {
  auto v = check({{9, {{GORT_TRACE_EV_GO_EXISTING, 1000, {5, 1, 0x1000, 0}},
                       {GORT_TRACE_EV_GO_STATE, 1000, {5, GORT_TRACE_GSTATE_RUNNING, 0, 1}},
                       {GORT_TRACE_EV_GO_EXISTING, 1010, {6, 1, 0x1000, 0}},
                       {GORT_TRACE_EV_GO_STATE, 1010, {6, GORT_TRACE_GSTATE_WAITING, 1, GORT_TRACE_NO_M}}}},
                  {1, {{GORT_TRACE_EV_GO_START, 1100, {5, 0}}, {GORT_TRACE_EV_GO_END, 1150, {5}}}},
                  {2, {{GORT_TRACE_EV_GO_START, 1200, {7, 0}}, {GORT_TRACE_EV_GO_END, 1250, {7}},
                       {GORT_TRACE_EV_GO_START, 1300, {6, 0}}, {GORT_TRACE_EV_GO_END, 1350, {6}}}}});
  EXPECT_EQ(joined(v), "");
}

TEST(TraceValidate, StartWhileTheWorldIsStopped) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {1, 0}}, {GORT_TRACE_EV_STW_BEGIN, 1100, {14}},
                       {GORT_TRACE_EV_STW_END, 1500, {}}}},
                  {1, {{GORT_TRACE_EV_GO_START, 1200, {6, 1}}, {GORT_TRACE_EV_GO_END, 1300, {6}}}}});
  ASSERT_EQ(v.size(), 1u) << joined(v);
  EXPECT_EQ(v[0], "0.000200ms: G6 starts on P1 while the world is stopped (since 0.000100ms, gomaxprocs)");
}

// G1 stops the world and keeps running (that is how it stops it); G6 on
// another M must have stopped by STW_BEGIN, and here it has not.
TEST(TraceValidate, RunningThroughTheStop) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {1, 0}}, {GORT_TRACE_EV_STW_BEGIN, 1100, {14}},
                       {GORT_TRACE_EV_STW_END, 1500, {}}}},
                  {1, {{GORT_TRACE_EV_GO_START, 1050, {6, 1}}, {GORT_TRACE_EV_GO_END, 1700, {6}}}}});
  ASSERT_EQ(v.size(), 1u) << joined(v);
  EXPECT_EQ(v[0], "0.000100ms: G6 runs on P1 when the world has stopped (gomaxprocs; running since 0.000050ms)");
}

TEST(TraceValidate, StoppedInTimeIsFine) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {1, 0}}, {GORT_TRACE_EV_STW_BEGIN, 1100, {14}},
                       {GORT_TRACE_EV_STW_END, 1500, {}}}},
                  {1, {{GORT_TRACE_EV_GO_START, 1050, {6, 1}}, {GORT_TRACE_EV_GO_PREEMPT, 1080, {6, 1, 30}},
                       {GORT_TRACE_EV_GO_START, 1600, {6, 1}}}}});
  EXPECT_EQ(joined(v), "");
}

// A G back from a system call on a P: GO_SYSEXIT, then GO_START.
TEST(TraceValidate, SyscallExitOnAP) {
  auto v = check({{0, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}}, {GORT_TRACE_EV_GO_SYSCALL, 1100, {5, 0}},
                       {GORT_TRACE_EV_GO_SYSEXIT, 1200, {5, 0}}, {GORT_TRACE_EV_GO_START, 1200, {5, 0}},
                       {GORT_TRACE_EV_GO_END, 1300, {5}}}}});
  EXPECT_EQ(joined(v), "");
}

TEST(TraceValidate, ManyViolationsAreCapped) {
  std::vector<Ev> evs;
  for (std::uint64_t i = 0; i < 300; ++i) evs.push_back({GORT_TRACE_EV_GO_START, 1000 + i, {i + 1, 0}});
  auto v = check({{0, evs}});
  ASSERT_EQ(v.size(), 101u);
  EXPECT_EQ(v.back(), "... and 199 more");
}

TEST(TraceValidate, CountsPerType) {
  auto n = count_events(parse_trace(trace_testing::scenario().bytes(), "t.bin"));
  EXPECT_EQ(n[GORT_TRACE_EV_GO_START], 5u);
  EXPECT_EQ(n[GORT_TRACE_EV_GO_PREEMPT], 1u);
  EXPECT_EQ(n[GORT_TRACE_EV_PROC_START], 2u);
  EXPECT_EQ(n[GORT_TRACE_EV_STW_BEGIN], 1u);
  EXPECT_EQ(n[GORT_TRACE_EV_M_START], 0u);
  std::uint64_t total = 0;
  for (auto c : n) total += c;
  EXPECT_EQ(total, 21u);
}

}  // namespace
