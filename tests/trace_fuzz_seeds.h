// What the trace fuzzers share: seed traces that reach every record kind
// and most event types, and the pipeline an input goes through (read,
// Chrome JSON, summary, check), which may only succeed or throw
// FormatError. Used by trace_fuzz_test (a deterministic mutator, every
// compiler) and trace_fuzz_target (libFuzzer, clang).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chrome.h"
#include "reader.h"
#include "summary.h"
#include "trace_builder.h"
#include "validate.h"

namespace trace_testing {

inline std::vector<std::string> fuzz_seeds() {
  std::vector<std::string> seeds;
  seeds.push_back(scenario().bytes());
  seeds.push_back(scenario(false).bytes());
  {
    // TSC ticks, a module that is not there, unknown records and types,
    // every event type at least once.
    TraceBuilder::Header h;
    h.flags = GORT_TRACE_FLAG_TSC;
    h.ticks_per_second = 2'000'000'000;
    TraceBuilder b(h);
    b.sync(1'000'000, 500'000);
    b.module(0x555500000000, "/nonexistent/fuzz/prog");
    b.string(3, "sleep").string(20, "GC");
    b.record(9, "future");
    std::vector<Ev> evs;
    std::uint64_t t = 1'000'000;
    for (std::uint8_t type = 1; type < GORT_TRACE_EV_COUNT; ++type) {
      std::vector<std::uint64_t> args;
      for (int i = 0; i < gort::trace::event_nargs(type); ++i) args.push_back(static_cast<std::uint64_t>(i + 1));
      evs.push_back({type, t += 700, args});
    }
    b.batch(1, 201, evs);
    b.batch(GORT_TRACE_NO_M, 202, {{GORT_TRACE_EV_GO_READY, 1'000'500, {2, 0}}, {99, 1'000'600, {}}});
    b.sync(1'100'000, 550'000);
    b.end(3, 30);
    seeds.push_back(b.bytes());
  }
  {
    // Syscalls, hand-offs, blocked threads and stop the world on four Ps.
    TraceBuilder b;
    b.string(14, "gomaxprocs");
    std::vector<Ev> m0, m1;
    for (std::uint64_t i = 0; i < 8; ++i) {
      const std::uint64_t t = 1000 + i * 1000, g = 10 + i, p = i % 4;
      m0.push_back({GORT_TRACE_EV_GO_START, t, {g, p}});
      m0.push_back({GORT_TRACE_EV_GO_SYSCALL, t + 100, {g, p}});
      m0.push_back({GORT_TRACE_EV_GO_SYSEXIT, t + 300, {g, i % 2 ? GORT_TRACE_NO_P : p}});
      if (i % 2 == 0) m0.push_back({GORT_TRACE_EV_GO_START, t + 300, {g, p}});
      m0.push_back({GORT_TRACE_EV_GO_PARK, t + 400, {g, 3}});
      m1.push_back({GORT_TRACE_EV_PROC_HANDOFF, t + 200, {p, 0}});
      m1.push_back({GORT_TRACE_EV_GO_BLOCKED, t + 250, {g + 100, p}});
      m1.push_back({GORT_TRACE_EV_GO_READY, t + 500, {g, 0}});
      m1.push_back({GORT_TRACE_EV_STW_BEGIN, t + 600, {14}});
      m1.push_back({GORT_TRACE_EV_STW_END, t + 700, {}});
    }
    b.batch(0, 10, m0).batch(1, 11, m1).end();
    seeds.push_back(b.bytes());
  }
  return seeds;
}

// Runs an input through everything `gort trace` does with a file. Returns
// false for a FormatError; anything else thrown escapes (a bug).
inline bool fuzz_pipeline(std::string_view data, std::string* chrome = nullptr) {
  gort::trace::Trace t;
  try {
    t = gort::trace::parse_trace(data, "fuzz.bin");
  } catch (const gort::trace::FormatError&) {
    return false;
  }
  std::string json = gort::trace::chrome_json(t);
  gort::trace::Summary s = gort::trace::summarize(t);
  const std::string text = gort::trace::summary_text(s) + gort::trace::summary_json(s);
  const std::vector<std::string> v = gort::trace::validate(t);
  (void)gort::trace::count_events(t);
  if (chrome) *chrome = std::move(json);
  return true;
}

}  // namespace trace_testing
