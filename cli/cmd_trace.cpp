// gort trace: execution traces. FILE: a recorded trace as a timeline
// (Chrome Trace Event JSON or one HTML page), a summary, or a check of the
// scheduler's invariants (trace/). PID: record one from a live process.
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "chrome.h"
#include "commands.h"
#include "gort/inspect/error.h"
#include "html.h"
#include "reader.h"
#include "summary.h"
#include "trace_live.h"
#include "validate.h"

namespace gort::cli {

const char kTraceHelp[] =
    "Usage: gort trace FILE [-o OUT.json] [--html OUT.html] [--summary [--json]] [--check]\n"
    "       gort trace PID [--duration D] -o FILE\n"
    "\n"
    "Reads an execution trace (recorded with GORTDEBUG=trace=FILE, gort::trace_start, or\n"
    "gort trace PID) and shows what the scheduler did: when each goroutine ran on which P\n"
    "and thread, why it stopped, who readied it, steals, hand-offs, preemptions and\n"
    "stop-the-world pauses. See docs/trace.md. With no option, prints the summary.\n"
    "\n"
    "  -o, --output OUT    the timeline as Chrome Trace Event JSON, for https://ui.perfetto.dev\n"
    "                      or chrome://tracing ('-': standard output)\n"
    "  --html OUT          the timeline as one self-contained HTML page (no server needed)\n"
    "  --summary           scheduling latency (median, p99, max; the goroutines that waited\n"
    "                      longest), time per P running, idle, in syscall and stopped,\n"
    "                      preemptions (and how long after sysmon's request), steals,\n"
    "                      hand-offs, blocked-thread retakes, the longest stop-the-world pause;\n"
    "                      for a trace started mid-run, what the goroutines were doing then\n"
    "  --json              the summary as one JSON object (times in ns)\n"
    "  --check             check the scheduler's invariants (a goroutine on one P at a time,\n"
    "                      one goroutine per P, started only after being readied, nothing\n"
    "                      running while the world is stopped); exit status 1 if one fails\n"
    "\n"
    "With a PID, records a trace of the running process for --duration (default 1s) into\n"
    "the -o file.\n"
    "\n"
    "A trace without its END record (the program died while recording) is read as far as\n"
    "it goes, with a warning. A damaged file is one error line and exit status 1.\n";

namespace {

using inspect::UsageError;

struct TraceOptions {
  std::string input;          // FILE, or the PID as written
  std::string output, html;   // -o, --html
  bool summary = false, json = false, check = false;
  std::int64_t duration_ns = 1'000'000'000;  // --duration, live tracing
  bool duration_given = false;
};

// "500ms", "2s", "1.5s", "100us", "1m"; a bare number is seconds. At most a day.
bool parse_duration(const std::string& s, std::int64_t* ns) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !(v > 0)) return false;
  const std::string unit = end;
  double scale;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "ms") scale = 1e-3;
  else if (unit == "us" || unit == "µs") scale = 1e-6;
  else if (unit == "ns") scale = 1e-9;
  else if (unit == "m") scale = 60;
  else return false;
  const double secs = v * scale;
  if (!(secs <= 24 * 3600)) return false;
  *ns = static_cast<std::int64_t>(secs * 1e9);
  return *ns > 0;
}

TraceOptions parse(int argc, char** argv) {
  TraceOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto need = [&](const char* what) -> std::string {
      if (i + 1 >= argc) throw UsageError(a + " needs " + what);
      return argv[++i];
    };
    if (a == "-o" || a == "--output") {
      o.output = need("a file");
    } else if (a == "--html") {
      o.html = need("a file");
    } else if (a == "--summary") {
      o.summary = true;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--duration" || a == "-d") {
      if (!parse_duration(need("a duration"), &o.duration_ns))
        throw UsageError("--duration needs a time such as 500ms or 2s (at most a day)");
      o.duration_given = true;
    } else if (a.size() > 1 && a[0] == '-') {
      throw UsageError("unknown option " + a);
    } else if (o.input.empty()) {
      o.input = a;
    } else {
      throw UsageError("unexpected argument '" + a + "'");
    }
  }
  if (o.input.empty()) throw UsageError("no trace: give a trace FILE (or the PID of a process to trace)");
  if (o.json) o.summary = true;
  if (o.output.empty() && o.html.empty() && !o.check) o.summary = true;
  if (o.output == "-" && o.summary) throw UsageError("-o - and the summary would both go to standard output");
  return o;
}

// A number that names no file but a running process.
bool is_live_pid(const std::string& arg, int* pid) {
  if (arg.empty() || arg.size() > 9 || arg.find_first_not_of("0123456789") != std::string::npos) return false;
  struct stat st;
  if (::stat(arg.c_str(), &st) == 0) return false;  // a file called "1234"
  *pid = std::atoi(arg.c_str());
  return *pid > 0 && ::stat(("/proc/" + arg).c_str(), &st) == 0;
}

// ---- Live tracing -----------------------------------------------------------
// gort trace PID (trace_live.cpp): the process records into the -o file.
int live_trace(int pid, const TraceOptions& o) {
  if (o.output.empty() || o.output == "-") throw UsageError("tracing a live process needs -o FILE (the process writes it)");
  if (!o.html.empty() || o.summary || o.json || o.check)
    throw UsageError("with a PID, only --duration and -o apply: record first, then read the file");
  return cli::live_trace(static_cast<pid_t>(pid), o.duration_ns, o.output);
}

// The timeline JSON, or the page that embeds it, straight into the file
// through write(t, f): a big trace's is gigabytes.
template <class Write>
void write_streamed(const std::string& path, Write&& write) {
  if (path == "-") {
    if (!write(stdout) || std::fflush(stdout) != 0)
      throw trace::Error(std::string("cannot write the standard output: ") + std::strerror(errno));
    return;
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw trace::Error("cannot write " + path + ": " + std::strerror(errno));
  const bool ok = write(f);
  const int e = errno;
  if (std::fclose(f) != 0 || !ok) throw trace::Error("cannot write " + path + ": " + std::strerror(ok ? errno : e));
}

std::string base_name(const std::string& path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

int cmd_trace(int argc, char** argv) {
  const TraceOptions o = parse(argc, argv);
  int pid = 0;
  if (is_live_pid(o.input, &pid)) return live_trace(pid, o);
  if (o.duration_given) throw UsageError("--duration is for tracing a live process (gort trace PID)");

  const trace::Trace t = trace::read_trace(o.input);
  for (const std::string& w : t.warnings) std::fprintf(stderr, "gort trace: warning: %s\n", w.c_str());

  if (!o.output.empty() || !o.html.empty()) {
    if (!o.output.empty()) write_streamed(o.output, [&](std::FILE* f) { return trace::write_chrome_json(t, f); });
    const std::string title = "gort trace: " + base_name(o.input);
    if (!o.html.empty()) write_streamed(o.html, [&](std::FILE* f) { return trace::write_html_page(t, title, f); });
    // Where it went, unless the JSON itself is on stdout.
    if (o.output != "-") {
      std::string where = o.output.empty() ? o.html : o.html.empty() ? o.output : o.output + " and " + o.html;
      std::printf("%s: %zu events; open %s\n", where.c_str(), t.events.size(),
                  o.html.empty() ? "it in https://ui.perfetto.dev or chrome://tracing" : "the page in a browser");
    }
  }
  if (o.summary) {
    const trace::Summary s = trace::summarize(t);
    const std::string text = o.json ? trace::summary_json(s) : trace::summary_text(s);
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  if (o.check) {
    const std::vector<std::string> v = trace::validate(t);
    if (v.empty()) {
      std::printf("ok: %zu events, no violations\n", t.events.size());
    } else {
      for (const std::string& line : v) std::printf("%s\n", line.c_str());
      std::printf("FAIL: %zu events, the invariants above are violated\n", t.events.size());
    }
    std::fflush(stdout);
    if (!v.empty()) return 1;
  }
  return 0;
}

}  // namespace gort::cli
