// The trace as Chrome Trace Event JSON, for Perfetto (ui.perfetto.dev) and
// chrome://tracing: the "timeline" section of docs/trace.md. One track per
// P (pid 1), per M (pid 2), and the stop-the-world pauses (pid 3).
#pragma once

#include <cstdio>
#include <string>

#include "reader.h"

namespace gort::trace {

// The whole document: {"traceEvents": [...], "displayTimeUnit": "ns",
// "otherData": {...}}. Always valid JSON, whatever the trace held.
std::string chrome_json(const Trace& t);

// The same document written to f as it is made, through a buffer: a big
// trace's JSON is several times the memory of its events. False if a write
// failed (errno says why); f stays open.
bool write_chrome_json(const Trace& t, std::FILE* f);

}  // namespace gort::trace
