// Who switches the trace recorder on and off: the program
// (gort::trace_start / trace_stop), GORTDEBUG=trace=FILE, and a tool outside
// the process (gort trace PID) through gort_trace_ctl, which the debug
// descriptor points at and sysmon serves.
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "gort/syscall.h"
#include "gort/trace.h"
#include "runtime2.h"
#include "trace.h"
#include "traceback.h"

extern "C" {
// Written by the tool with process_vm_writev, read by sysmon: volatile
// accesses, as for memory another process shares.
__attribute__((used, visibility("default"))) struct gort_trace_ctl gort_trace_ctl = {};
}

namespace gort::rt::trace {

namespace {

volatile struct gort_trace_ctl& ctl() { return gort_trace_ctl; }

// nanotime() at which a trace the tool started stops by itself (0: none).
std::int64_t tool_deadline = 0;

void finish(int result, const std::string& error) {
  volatile struct gort_trace_ctl& c = ctl();
  std::size_t n = std::min(error.size(), sizeof c.error - 1);
  for (std::size_t i = 0; i < n; ++i) c.error[i] = error[i];
  c.error[n] = 0;
  c.result = result;
  // release: the tool reads result and error once it sees done_seq.
  __atomic_store_n(&c.done_seq, c.seq, __ATOMIC_RELEASE);
}

}  // namespace

bool request_pending() noexcept {
  volatile struct gort_trace_ctl& c = ctl();
  // acquire: the fields the tool wrote before seq.
  return __atomic_load_n(&c.seq, __ATOMIC_ACQUIRE) != __atomic_load_n(&c.done_seq, __ATOMIC_RELAXED);
}

void serve_requests() noexcept {
  if (tool_deadline != 0 && nanotime() >= tool_deadline) {
    tool_deadline = 0;
    stop();
  }
  if (!request_pending()) return;
  volatile struct gort_trace_ctl& c = ctl();
  const std::uint32_t request = c.request;
  if (request == GORT_TRACE_CTL_START) {
    char path[sizeof c.path];
    for (std::size_t i = 0; i < sizeof path; ++i) path[i] = c.path[i];
    path[sizeof path - 1] = 0;
    std::string err;
    int r = start(path, &err);
    if (r == 0 && c.stop_after_ns != 0) tool_deadline = nanotime() + static_cast<std::int64_t>(c.stop_after_ns);
    finish(r, err);
  } else if (request == GORT_TRACE_CTL_STOP) {
    tool_deadline = 0;
    finish(stop() ? 0 : ESRCH, "");
  } else {
    finish(EINVAL, "unknown request");
  }
}

void start_from_env() {
  std::string err;
  if (start(debug.trace.c_str(), &err) != 0) fdprintf(2, "gort: GORTDEBUG=trace: %s (not tracing)\n", err.c_str());
}

}  // namespace gort::rt::trace

namespace gort {

void trace_start(const std::string& path) {
  std::string err;
  int r = gort::syscall([&] { return rt::trace::start(path.c_str(), &err); });
  if (r == EBUSY) throw std::logic_error("gort: tracing is already enabled");
  if (r != 0) throw std::system_error(r, std::generic_category(), "gort::trace_start: " + path);
}

bool trace_stop() {
  return gort::syscall([] { return rt::trace::stop(); });
}

}  // namespace gort
