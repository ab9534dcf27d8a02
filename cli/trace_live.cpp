// gort trace PID: record a running gort process's execution trace from
// outside, without stopping it and without the program's cooperation.
//
// The runtime exports struct gort_trace_ctl (gort/trace_format.h), and its
// debug descriptor says where. This tool writes a request there with
// process_vm_writev (the access ptrace would need, nothing more: the
// process is never stopped or attached) and sends SIGURG. gort's SIGURG
// handler takes a signal that is not the runtime's own for a tool's
// request and wakes sysmon, which starts the recorder into the file named
// in the request (the process writes it, as itself). After the duration
// the tool asks it to stop the same way and waits until the file is
// complete.
//
// Nothing is left behind if the tool dies: the START request carries a
// deadline after which sysmon stops the recorder by itself.
#include "trace_live.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "gort/debug_layout.h"
#include "gort/inspect/error.h"
#include "gort/inspect/snapshot.h"
#include "gort/inspect/target.h"
#include "gort/trace_format.h"

namespace gort::cli {

namespace {

using inspect::Error;

// How long the process has to answer a request: sysmon serves it within a
// round (at most 10 ms) once the signal has woken it.
constexpr std::chrono::seconds kAnswerTimeout{5};
// The runtime stops by itself this long after the requested duration if no
// STOP came (the tool was killed).
constexpr std::uint64_t kSafetyNs = 10'000'000'000;

// Ctrl-C (SIGINT) and SIGTERM end the recording early. They are blocked
// and taken synchronously (sigtimedwait) rather than by a handler: under
// TSan a handler runs only at the thread's next intercepted call, and a
// SIGINT was seen to go unnoticed for the whole recording.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

bool interrupted = false;

// Sleeps ms milliseconds, or until SIGINT or SIGTERM (then interrupted).
void sleep_ms(int ms) {
  if (interrupted) return;
  const sigset_t set = stop_signals();
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000L};
  if (sigtimedwait(&set, nullptr, &ts) > 0) interrupted = true;
}

void write_remote(pid_t pid, std::uint64_t addr, const void* buf, std::size_t len) {
  iovec local{const_cast<void*>(buf), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(len))
    throw Error("cannot write to process " + std::to_string(pid) + "'s memory: " +
                std::strerror(n < 0 ? errno : EIO));
}

class Control {
 public:
  Control(inspect::Target& t, std::uint64_t addr) : t_(t), addr_(addr) {}

  // Sends one request and waits for its answer; throws Error if refused.
  void request(std::uint32_t what, const std::string& path, std::uint64_t stop_after_ns) {
    gort_trace_ctl c{};
    t_.read(addr_, &c, sizeof c);
    if (c.seq != c.done_seq)
      throw Error("process " + std::to_string(t_.pid()) + " has a trace request pending from another tool");
    if (what == GORT_TRACE_CTL_START) {
      write_field(offsetof(gort_trace_ctl, stop_after_ns), &stop_after_ns, sizeof stop_after_ns);
      char p[sizeof c.path] = {};
      std::memcpy(p, path.data(), path.size());
      write_field(offsetof(gort_trace_ctl, path), p, sizeof p);
    }
    write_field(offsetof(gort_trace_ctl, request), &what, sizeof what);
    // seq last: the runtime reads the other fields after it sees seq change.
    const std::uint32_t seq = c.seq + 1;
    write_field(offsetof(gort_trace_ctl, seq), &seq, sizeof seq);
    if (kill(t_.pid(), SIGURG) != 0) throw Error("cannot signal process " + std::to_string(t_.pid()) + ": " + std::strerror(errno));
    auto deadline = std::chrono::steady_clock::now() + kAnswerTimeout;
    for (;;) {
      t_.read(addr_, &c, sizeof c);
      if (c.done_seq == seq) break;
      if (std::chrono::steady_clock::now() > deadline)
        throw Error("process " + std::to_string(t_.pid()) + " did not answer the trace request within 5 s");
      sleep_ms(1);
    }
    if (c.result != 0) {
      c.error[sizeof c.error - 1] = 0;
      std::string why = c.error[0] ? c.error : std::strerror(c.result);
      throw Error("process " + std::to_string(t_.pid()) + " cannot trace: " + why);
    }
  }

 private:
  void write_field(std::size_t off, const void* p, std::size_t n) { write_remote(t_.pid(), addr_ + off, p, n); }

  inspect::Target& t_;
  std::uint64_t addr_;
};

// The file the process writes: absolute (its working directory is not
// ours), in a directory that exists.
std::string absolute_path(const std::string& out) {
  std::string dir = ".", base = out;
  if (std::size_t slash = out.rfind('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : out.substr(0, slash);
    base = out.substr(slash + 1);
  }
  if (base.empty()) throw inspect::UsageError("-o " + out + " names a directory, not a file");
  char real[PATH_MAX];
  if (realpath(dir.c_str(), real) == nullptr) throw Error(out + ": " + std::strerror(errno));
  std::string abs = std::string(real) + (std::strcmp(real, "/") == 0 ? "" : "/") + base;
  if (abs.size() >= sizeof(gort_trace_ctl{}.path)) throw inspect::UsageError("-o " + out + ": path too long");
  return abs;
}

}  // namespace

int live_trace(pid_t pid, std::int64_t duration_ns, const std::string& out) {
  const std::string path = absolute_path(out);
  std::unique_ptr<inspect::Target> t = inspect::open_process(pid, /*stop=*/false);
  gort_debug_descriptor d{};
  const std::uint64_t daddr = inspect::find_descriptor(*t);
  t->read(daddr, &d, std::min<std::size_t>(sizeof d, 4096));
  if (d.size < offsetof(gort_debug_descriptor, trace_ctl) + sizeof d.trace_ctl || d.trace_ctl == 0)
    throw Error("process " + std::to_string(pid) + "'s gort runtime cannot be traced from outside (it predates live tracing)");
  Control ctl(*t, d.trace_ctl);

  // Ctrl-C ends the recording early (and still completes the file).
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  ctl.request(GORT_TRACE_CTL_START, path, static_cast<std::uint64_t>(duration_ns) + kSafetyNs);
  const auto until = t0 + std::chrono::nanoseconds(duration_ns);
  while (!interrupted && std::chrono::steady_clock::now() < until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    sleep_ms(static_cast<int>(std::clamp<long long>(left, 1, 100)));
    if (kill(pid, 0) != 0 && errno == ESRCH) throw Error("process " + std::to_string(pid) + " exited while being traced");
  }
  ctl.request(GORT_TRACE_CTL_STOP, "", 0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  struct stat sb{};
  const long long bytes = stat(path.c_str(), &sb) == 0 ? static_cast<long long>(sb.st_size) : -1;
  std::printf("gort trace: recorded %.2f s of process %d into %s (%lld bytes)%s\n", secs, static_cast<int>(pid),
              path.c_str(), bytes, interrupted ? " (interrupted)" : "");
  std::printf("Open it: gort trace %s --html trace.html\n", out.c_str());
  return 0;
}

}  // namespace gort::cli
