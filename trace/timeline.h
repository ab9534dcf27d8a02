// The trace as intervals: when each goroutine ran on which P and M and why
// it stopped, when Ps waited in system calls, the stop-the-world pauses,
// who readied whom, and how long runnable goroutines waited. Made once
// from the events; the Chrome converter draws it and the summary counts it.
//
// The event stream is taken as it is, defensively: a run slice that never
// sees its end event is cut at the next GO_START on its P or M (or at the
// end of the trace), and end events of goroutines that were already running
// when the trace started have no slice to end. `gort trace --check`
// (validate.h) is what reports such things as errors.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "reader.h"

namespace gort::trace {

// How a run slice ended.
enum class SliceEnd : std::uint8_t {
  Returned,      // GO_END
  PreemptCoop,   // GO_PREEMPT at a yield point
  PreemptAsync,  // GO_PREEMPT by SIGURG
  Gosched,       // GO_SCHED
  Parked,        // GO_PARK (Slice::reason is the wait reason's string id)
  Syscall,       // GO_SYSCALL
  Blocked,       // GO_BLOCKED: sysmon took the P of a thread blocked outside gort::syscall
  Cut,           // no end event: another G started on its P or M
  TraceEnd,      // still running when the trace ended
};

// "returned", "preempted (async)", "parked (chan receive)"...
std::string slice_end_text(const Trace& t, SliceEnd why, std::uint64_t reason);

// A track of pid 2: an M, or a thread that is not one (GO_READY from a
// foreign thread), told apart by the high half.
using ThreadKey = std::uint64_t;
inline ThreadKey thread_key(std::uint32_t m, std::uint32_t tid) {
  return m != GORT_TRACE_NO_M ? m : (std::uint64_t{1} << 32) | tid;
}

struct Slice {
  std::uint64_t goid = 0;
  std::uint32_t p = 0;
  ThreadKey thread = 0;
  std::int64_t start = 0, end = 0;
  SliceEnd why = SliceEnd::TraceEnd;
  std::uint64_t reason = 0;  // Parked: wait reason id
};

// A P held by a goroutine in gort::syscall: GO_SYSCALL until the G comes
// back (GO_SYSEXIT) or sysmon hands the P off (PROC_HANDOFF).
struct SyscallSlice {
  std::uint64_t goid = 0;
  std::uint32_t p = 0;
  std::int64_t start = 0, end = 0;
};

struct Stw {
  std::int64_t start = 0, end = 0;
  std::uint64_t reason = 0;  // string id
};

// GO_READY: from where the readier was to the slice where the G next runs.
struct Flow {
  std::int64_t ts = 0;
  std::uint64_t by = 0;          // goid of the readier, 0: the runtime
  bool from_p = false;           // the readier ran on P from_track; else on thread from_track
  std::uint64_t from_track = 0;
  std::size_t to = 0;            // index in Timeline::slices
};

// Why a goroutine became runnable, for scheduling latency.
enum class Runnable : std::uint8_t { Created, Readied, Preempted, Gosched, SyscallQueued };

struct Latency {
  std::uint64_t goid = 0;
  std::int64_t ns = 0;  // runnable until GO_START
  Runnable cause = Runnable::Readied;
};

struct Timeline {
  std::vector<Slice> slices;  // by start
  std::vector<SyscallSlice> syscalls;
  std::vector<Stw> stws;      // by start, not overlapping
  std::vector<Flow> flows;
  std::vector<Latency> latencies;
  std::set<std::uint32_t> procs;                 // every P id the trace names
  std::map<ThreadKey, std::uint32_t> threads;    // every thread's track -> its kernel tid
  std::uint64_t goroutines = 0;  // distinct goids the events name
  std::int64_t duration = 0;
};

Timeline build_timeline(const Trace& t);

}  // namespace gort::trace
