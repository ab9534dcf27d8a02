// gort trace PID: live tracing of a running gort process (trace_live.cpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace gort::cli {

// Records duration_ns of process pid's execution trace into out (written
// by the process itself). Prints what it recorded; throws inspect::Error.
int live_trace(pid_t pid, std::int64_t duration_ns, const std::string& out);

}  // namespace gort::cli
