// The trace summary (trace/summary.h) on the shared scenario of
// trace_builder.h, whose numbers are worked out by hand here: scheduling
// latency, each P's time, preemptions, steals, hand-offs, stop the world.
#include <gtest/gtest.h>

#include "json_testing.h"
#include "reader.h"
#include "summary.h"
#include "trace_builder.h"

namespace {

using namespace gort::trace;
using json_testing::Json;
using json_testing::JsonParser;

Summary scenario_summary() { return summarize(parse_trace(trace_testing::scenario().bytes(), "t.bin")); }

TEST(TraceSummary, Totals) {
  Summary s = scenario_summary();
  EXPECT_EQ(s.name, "t.bin");
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(s.duration, 1800);  // 1000 .. 2800
  EXPECT_EQ(s.events, 21u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.goroutines, 3u);
}

// Runnable until running: G8 readied at 1300, runs at 1600 (300); G7
// created at 1100, runs at 1800 (700); G8 preempted at 1700, runs at 2000
// (300); G8 back from its syscall without a P at 2300, runs at 2700 (400).
TEST(TraceSummary, SchedulingLatency) {
  Summary s = scenario_summary();
  EXPECT_EQ(s.latency.count, 4u);
  EXPECT_EQ(s.latency.median, 300);  // nearest rank of 300 300 400 700
  EXPECT_EQ(s.latency.p99, 700);
  EXPECT_EQ(s.latency.max, 700);
  EXPECT_EQ(s.latency.total, 1700);
  EXPECT_EQ(s.latency_by_cause[0].max, 700);  // created
  EXPECT_EQ(s.latency_by_cause[1].max, 300);  // readied
  EXPECT_EQ(s.latency_by_cause[2].max, 300);  // preempted
  EXPECT_EQ(s.latency_by_cause[3].count, 0u); // gosched (G8's last one never ran again)
  EXPECT_EQ(s.latency_by_cause[4].max, 400);  // syscall exit
  ASSERT_EQ(s.top.size(), 2u);
  EXPECT_EQ(s.top[0].label, "G7");
  EXPECT_EQ(s.top[0].stats.max, 700);
  EXPECT_EQ(s.top[1].label, "G8");
  EXPECT_EQ(s.top[1].stats.count, 3u);
  EXPECT_EQ(s.top[1].stats.max, 400);
}

// P0 runs G1 (300), G7 (100), G8 (100); P1 runs G8 twice (100 each) and
// holds G8's syscall for 100. The world is stopped 200 for both.
TEST(TraceSummary, TimePerP) {
  Summary s = scenario_summary();
  ASSERT_EQ(s.procs.size(), 2u);
  EXPECT_EQ(s.procs[0].p, 0u);
  EXPECT_EQ(s.procs[0].running, 500);
  EXPECT_EQ(s.procs[0].syscall, 0);
  EXPECT_EQ(s.procs[0].stopped, 200);
  EXPECT_EQ(s.procs[0].idle, 1800 - 500 - 200);
  EXPECT_EQ(s.procs[0].slices, 3u);
  EXPECT_EQ(s.procs[1].p, 1u);
  EXPECT_EQ(s.procs[1].running, 200);
  EXPECT_EQ(s.procs[1].syscall, 100);
  EXPECT_EQ(s.procs[1].stopped, 200);
  EXPECT_EQ(s.procs[1].idle, 1800 - 200 - 100 - 200);
}

TEST(TraceSummary, SchedulerCounts) {
  Summary s = scenario_summary();
  EXPECT_EQ(s.preempt_async, 1u);
  EXPECT_EQ(s.preempt_coop, 0u);
  EXPECT_EQ(s.preempt_req_async, 1u);
  EXPECT_EQ(s.gosched, 1u);
  EXPECT_EQ(s.parks, 1u);
  EXPECT_EQ(s.syscalls, 1u);
  EXPECT_EQ(s.steals, 1u);
  EXPECT_EQ(s.stolen, 2u);
  EXPECT_EQ(s.handoffs, 1u);
  EXPECT_EQ(s.blocked_retakes, 0u);
  EXPECT_EQ(s.stw_count, 1u);
  EXPECT_EQ(s.stw_longest, 200);
  EXPECT_EQ(s.stw_longest_reason, "gomaxprocs");
  EXPECT_EQ(s.stw_longest_at, 1400);
  // sysmon asked G8 at 1650, its slice ended by signal at 1700.
  EXPECT_EQ(s.preempt_delay.count, 1u);
  EXPECT_EQ(s.preempt_delay.median, 50);
}

// Request to preempted: from the first request of a slice (retries do not
// restart it) to its GO_PREEMPT; a request whose G stopped otherwise (it
// parked) counts for nothing, nor does it carry over to the next slice.
TEST(TraceSummary, PreemptionDelay) {
  trace_testing::TraceBuilder b;
  b.string(1, "chan receive");
  b.batch(0, 100, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}},
                   {GORT_TRACE_EV_GO_PREEMPT, 1400, {5, GORT_TRACE_PREEMPT_ASYNC, 400}},
                   {GORT_TRACE_EV_GO_START, 1500, {5, 0}},
                   {GORT_TRACE_EV_GO_PARK, 1700, {5, 1}},
                   {GORT_TRACE_EV_GO_START, 1800, {6, 0}},
                   {GORT_TRACE_EV_GO_PREEMPT, 2000, {6, GORT_TRACE_PREEMPT_COOP, 200}}});
  b.batch(1, 101, {{GORT_TRACE_EV_PREEMPT_REQ, 1100, {5, 0, GORT_TRACE_PREEMPT_ASYNC}},
                   {GORT_TRACE_EV_PREEMPT_REQ, 1200, {5, 0, GORT_TRACE_PREEMPT_ASYNC}},
                   {GORT_TRACE_EV_PREEMPT_REQ, 1600, {5, 0, GORT_TRACE_PREEMPT_ASYNC}},
                   {GORT_TRACE_EV_PREEMPT_REQ, 1950, {6, 0, GORT_TRACE_PREEMPT_COOP}}});
  b.end();
  const Summary s = summarize(parse_trace(b.bytes(), "t.bin"));
  EXPECT_EQ(s.preempt_delay.count, 2u);
  EXPECT_EQ(s.preempt_delay.max, 300);  // G5: 1100 -> 1400; G6: 1950 -> 2000
  EXPECT_EQ(s.preempt_delay.total, 350);
  Json j;
  ASSERT_NO_THROW(j = JsonParser(summary_json(s)).parse());
  EXPECT_EQ(j["preemption_delay"]["count"].num, 2);
  EXPECT_NE(summary_text(s).find("request to preempted"), std::string::npos);
}

// Requests by kind: sysmon's (cooperative, by signal) and the thread's
// slice timer's (a signal handler's, kind TIMER, version 3); a timer
// request starts the delay like any other.
TEST(TraceSummary, RequestsByKind) {
  trace_testing::TraceBuilder b;
  b.batch(0, 100, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}},
                   {GORT_TRACE_EV_PREEMPT_REQ, 1100, {5, 0, GORT_TRACE_PREEMPT_TIMER}},
                   {GORT_TRACE_EV_GO_PREEMPT, 1104, {5, GORT_TRACE_PREEMPT_ASYNC, 104}},
                   {GORT_TRACE_EV_GO_START, 1200, {6, 0}},
                   {GORT_TRACE_EV_PREEMPT_REQ, 1300, {6, 0, GORT_TRACE_PREEMPT_TIMER}},
                   {GORT_TRACE_EV_GO_PREEMPT, 1310, {6, GORT_TRACE_PREEMPT_COOP, 110}}});
  b.batch(1, 101, {{GORT_TRACE_EV_PREEMPT_REQ, 1305, {6, 0, GORT_TRACE_PREEMPT_ASYNC}},
                   {GORT_TRACE_EV_PREEMPT_REQ, 1306, {6, 0, GORT_TRACE_PREEMPT_COOP}}});
  b.end();
  const Summary s = summarize(parse_trace(b.bytes(), "t.bin"));
  EXPECT_EQ(s.preempt_req_timer, 2u);
  EXPECT_EQ(s.preempt_req_async, 1u);
  EXPECT_EQ(s.preempt_req_coop, 1u);
  EXPECT_EQ(s.preempt_delay.count, 2u);
  EXPECT_EQ(s.preempt_delay.total, 14);  // 1100 -> 1104, 1300 -> 1310
  EXPECT_NE(summary_text(s).find("4 (1 coop, 1 async, 2 slice timer)"), std::string::npos) << summary_text(s);
  Json j;
  ASSERT_NO_THROW(j = JsonParser(summary_json(s)).parse());
  EXPECT_EQ(j["preemption_requests"]["timer"].num, 2);
}

// Running time inside a stop-the-world pause counts as stopped, not twice.
TEST(TraceSummary, StoppedTimeIsNotCountedTwice) {
  trace_testing::TraceBuilder b;
  b.string(20, "test");
  b.batch(0, 1, {{GORT_TRACE_EV_GO_START, 0, {1, 0}},
                 {GORT_TRACE_EV_STW_BEGIN, 100, {20}},
                 {GORT_TRACE_EV_STW_END, 300, {}},
                 {GORT_TRACE_EV_GO_END, 400, {1}},
                 {GORT_TRACE_EV_M_SPIN, 1000, {1}}});
  Summary s = summarize(parse_trace(b.bytes(), "t.bin"));
  ASSERT_EQ(s.procs.size(), 1u);
  EXPECT_EQ(s.procs[0].running, 200);
  EXPECT_EQ(s.procs[0].stopped, 200);
  EXPECT_EQ(s.procs[0].idle, 600);
}

TEST(TraceSummary, Text) {
  const std::string text = summary_text(scenario_summary());
  for (const char* want : {"Trace t.bin\n", "Scheduling latency", "Longest waits", "Time per P", "  P0 ", "  P1 ",
                           "preemptions", "1 (0 coop, 1 async)", "steals", "1 (2 goroutines)", "P hand-offs",
                           "longest", "200ns (gomaxprocs) at 1.4µs"})
    EXPECT_NE(text.find(want), std::string::npos) << "no '" << want << "' in\n" << text;
  // Aligned: the latency table's rows are as wide as each other (right-aligned numbers).
  auto line_width = [&](const char* cell) {
    std::size_t at = text.find(cell);
    if (at == std::string::npos) return std::string::npos;
    return text.find('\n', at) - (text.rfind('\n', at) + 1);
  };
  EXPECT_NE(line_width("  all "), std::string::npos) << text;
  EXPECT_EQ(line_width("  all "), line_width("  created ")) << text;
}

TEST(TraceSummary, Json) {
  const std::string text = summary_json(scenario_summary());
  Json j;
  ASSERT_NO_THROW(j = JsonParser(text).parse()) << text;
  EXPECT_EQ(j["trace"].str, "t.bin");
  EXPECT_EQ(j["duration_ns"].num, 1800);
  EXPECT_EQ(j["events"].num, 21);
  EXPECT_EQ(j["latency"]["all"]["count"].num, 4);
  EXPECT_EQ(j["latency"]["all"]["max_ns"].num, 700);
  EXPECT_EQ(j["latency"]["readied"]["median_ns"].num, 300);
  ASSERT_EQ(j["top"].arr.size(), 2u);
  EXPECT_EQ(j["top"].arr[0]["name"].str, "G7");
  ASSERT_EQ(j["procs"].arr.size(), 2u);
  EXPECT_EQ(j["procs"].arr[1]["syscall_ns"].num, 100);
  EXPECT_EQ(j["preemptions"]["async"].num, 1);
  EXPECT_EQ(j["steals"]["goroutines"].num, 2);
  EXPECT_EQ(j["handoffs"].num, 1);
  EXPECT_EQ(j["stw"]["longest_reason"].str, "gomaxprocs");
  EXPECT_EQ(j["stw"]["longest_ns"].num, 200);
}

}  // namespace

// A trace started mid-run: what its goroutines were doing then (GO_STATE),
// waiting ones by reason, most first. A whole-run trace has no such section.
TEST(TraceSummary, GoroutinesWhenTheTraceStarted) {
  trace_testing::TraceBuilder b;
  b.string(1, "chan receive").string(2, "sleep").string(3, "a \"quoted\" reason");
  std::vector<trace_testing::Ev> evs;
  std::uint64_t t = 1000, goid = 10;
  auto state = [&](std::uint64_t st, std::uint64_t x, std::uint64_t m) {
    evs.push_back({GORT_TRACE_EV_GO_EXISTING, t, {goid, 1, 0x1000, 0}});
    evs.push_back({GORT_TRACE_EV_GO_STATE, t++, {goid++, st, x, m}});
  };
  state(GORT_TRACE_GSTATE_RUNNING, 0, 1);
  state(GORT_TRACE_GSTATE_RUNNABLE, GORT_TRACE_NO_P, GORT_TRACE_NO_M);
  state(GORT_TRACE_GSTATE_SYSCALL, GORT_TRACE_NO_P, 2);
  for (std::uint64_t r : {2, 1, 2, 3}) state(GORT_TRACE_GSTATE_WAITING, r, GORT_TRACE_NO_M);
  b.batch(0, 100, evs);
  b.end();
  const Summary s = summarize(parse_trace(b.bytes(), "t.bin"));
  EXPECT_EQ(s.goroutines, 7u);
  EXPECT_EQ(s.at_start.running, 1u);
  EXPECT_EQ(s.at_start.runnable, 1u);
  EXPECT_EQ(s.at_start.syscall, 1u);
  EXPECT_EQ(s.at_start.waiting, 4u);
  using Reasons = std::vector<std::pair<std::string, std::uint64_t>>;
  EXPECT_EQ(s.at_start.waiting_by_reason, (Reasons{{"sleep", 2}, {"a \"quoted\" reason", 1}, {"chan receive", 1}}));
  const std::string text = summary_text(s);
  EXPECT_NE(text.find("\nGoroutines when the trace started\n"), std::string::npos) << text;
  // A row: its label, spaces, its number at the line's end.
  auto row = [&](const std::string& label) {
    const std::size_t at = text.find("\n" + label + " ");
    if (at == std::string::npos) return std::string("(no row)");
    const std::size_t end = text.find('\n', at + 1);
    const std::string line = text.substr(at + 1, end - at - 1);
    return line.substr(line.find_last_of(' ') + 1);
  };
  EXPECT_EQ(row("  running"), "1") << text;
  EXPECT_EQ(row("  waiting"), "4") << text;
  EXPECT_EQ(row("    sleep"), "2") << text;
  EXPECT_EQ(row("    a \"quoted\" reason"), "1") << text;
  Json j;
  ASSERT_NO_THROW(j = JsonParser(summary_json(s)).parse());
  EXPECT_EQ(j["at_start"]["syscall"].num, 1);
  ASSERT_EQ(j["at_start"]["waiting_by_reason"].arr.size(), 3u);
  EXPECT_EQ(j["at_start"]["waiting_by_reason"].arr[1]["reason"].str, "a \"quoted\" reason");
  // Recorded from the start: no section.
  EXPECT_EQ(summary_text(scenario_summary()).find("when the trace started"), std::string::npos);
}
