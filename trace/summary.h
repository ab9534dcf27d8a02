// The numbers Go's trace tool tabulates, from one trace: scheduling
// latency (runnable until running), where each P's time went, preemptions,
// steals, hand-offs, blocked-thread retakes and stop-the-world pauses; and,
// for a trace started mid-run, what the goroutines were doing then.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "reader.h"

namespace gort::trace {

struct LatencyStats {
  std::uint64_t count = 0;
  std::int64_t median = 0, p99 = 0, max = 0, total = 0;  // ns
};

struct GoroutineLatency {
  std::uint64_t goid = 0;
  std::string label;  // "G7 worker"
  LatencyStats stats;
};

// A P's time from the start of the trace to its end. stopped is the time
// the world was stopped; running and syscall do not count it twice.
struct ProcTime {
  std::uint32_t p = 0;
  std::int64_t running = 0, idle = 0, syscall = 0, stopped = 0;  // ns
  std::uint64_t slices = 0;  // goroutine runs
};

// A trace started while the program ran (GO_STATE): what its goroutines
// were doing then. Empty for a trace recorded from the program's start.
struct StartStates {
  std::uint64_t running = 0, runnable = 0, syscall = 0, waiting = 0;
  std::vector<std::pair<std::string, std::uint64_t>> waiting_by_reason;  // most first, then by name
  std::uint64_t total() const { return running + runnable + syscall + waiting; }
};

struct Summary {
  std::string name;
  std::int64_t duration = 0;  // ns
  std::uint64_t events = 0, lost = 0;
  bool complete = false;
  std::uint64_t goroutines = 0;
  LatencyStats latency;                 // every runnable -> running wait
  LatencyStats latency_by_cause[5];     // indexed by timeline.h's Runnable
  std::vector<GoroutineLatency> top;    // the goroutines with the longest waits (at most 10)
  std::vector<ProcTime> procs;
  std::uint64_t preempt_coop = 0, preempt_async = 0;          // GO_PREEMPT by kind
  std::uint64_t preempt_req_coop = 0, preempt_req_async = 0, preempt_req_timer = 0;  // PREEMPT_REQ by kind
  // From sysmon's first request to the GO_PREEMPT that ended that slice
  // (signal delivery and the trampoline, or the next yield point, and any
  // retries); requests whose G stopped otherwise first are not counted.
  LatencyStats preempt_delay;
  std::uint64_t gosched = 0, parks = 0, syscalls = 0;
  std::uint64_t steals = 0, stolen = 0;  // STEAL events, goroutines they moved
  std::uint64_t handoffs = 0;            // PROC_HANDOFF
  std::uint64_t blocked_retakes = 0;     // GO_BLOCKED
  std::uint64_t stw_count = 0;
  std::int64_t stw_total = 0, stw_longest = 0, stw_longest_at = 0;  // ns
  std::string stw_longest_reason;
  StartStates at_start;
  std::vector<std::string> warnings;
};

Summary summarize(const Trace& t);

// Aligned tables for a terminal.
std::string summary_text(const Summary& s);
// One JSON object (times in ns).
std::string summary_json(const Summary& s);

// "Readied", "Created"... for the latency table.
const char* runnable_cause_name(int cause);

}  // namespace gort::trace
