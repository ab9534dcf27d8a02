// The scheduler's invariants, checked on a recorded trace (gort trace FILE
// --check): the tests of the recorder and of the runtime run real programs
// under tracing and expect no violation.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "reader.h"

namespace gort::trace {

// Every violated invariant, one line each, starting with its time:
//   - a goroutine runs on one P at a time;
//   - a P runs one goroutine at a time;
//   - a goroutine that parked starts again only after a GO_READY for it
//     (threads' events are ordered by their timestamps, so a start recorded
//     before the wake-up that allowed it shows here);
//   - GO_PREEMPT ends a running slice of that goroutine;
//   - when the world has stopped (STW_BEGIN) no goroutine runs but the one
//     that stopped it, and none starts until STW_END.
// Goroutines already running or parked when the trace began are taken as
// they come: their first event sets what is known of them. At most `limit`
// lines, then one saying how many more.
std::vector<std::string> validate(const Trace& t, std::size_t limit = 100);

// How many events of each type (index: enum gort_trace_event).
std::array<std::uint64_t, GORT_TRACE_EV_COUNT> count_events(const Trace& t);

}  // namespace gort::trace
