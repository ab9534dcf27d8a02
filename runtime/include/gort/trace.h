// The execution trace: what the scheduler does, event by event (Go's
// runtime/trace). Open a recording with `gort trace FILE` (docs/trace.md).
//
//   gort::trace_start("app.trace");
//   ...                               // the part of the program to look at
//   gort::trace_stop();
//
// GORTDEBUG=trace=FILE records the whole run instead, and
// `gort trace PID --duration 1s -o FILE` records a running process from
// outside.
#pragma once

#include <string>

namespace gort {

// Starts recording into path (created or truncated). Throws
// std::logic_error if a trace is already being recorded,
// std::system_error if the file cannot be written. From a goroutine or any
// other thread.
void trace_start(const std::string& path);

// Stops recording and completes the file; returns when it is written.
// Returns false if no trace was being recorded. A trace still running when
// main returns is completed then.
bool trace_stop();

}  // namespace gort
