// Option parsing and target opening shared by the commands: see options.h.
#include "options.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gort/inspect/error.h"

namespace gort::cli {

using inspect::UsageError;

namespace {

bool parse_int(const char* s, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// A stopped target must never stay stopped: on SIGINT, SIGTERM or SIGHUP
// resume and detach it, then die of the signal as we would have.
void on_fatal_signal(int sig) {
  inspect::detach_all_on_signal();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

Options parse_options(int argc, char** argv, unsigned accepted, int npositional) {
  Options o;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need_value = [&](const char* what) -> std::string {
      if (i + 1 >= argc) throw UsageError(a + " needs " + what);
      return argv[++i];
    };
    if (a == "--core") {
      o.core = need_value("a core file");
    } else if (a == "--exe") {
      o.exe = need_value("the executable the core came from");
    } else if (a == "--stop" && (accepted & kOptStop)) {
      o.stop = true;
    } else if (a == "--json" && (accepted & kOptJson)) {
      o.json = true;
    } else if (a == "--group" && (accepted & kOptGroup)) {
      o.group = true;
    } else if ((a == "-t" || a == "--stacks") && (accepted & kOptStacks)) {
      o.depth = 10;  // dlv's default depth
      long long d = 0;
      if (i + 1 < argc && parse_int(argv[i + 1], 1, 10000, &d)) {
        o.depth = static_cast<int>(d);
        ++i;
      }
    } else if ((a == "-n" || a == "--iterations") && (accepted & kOptTop)) {
      long long n = 0;
      if (!parse_int(need_value("a count").c_str(), 1, INT_MAX, &n)) throw UsageError("-n needs a positive count");
      o.iterations = static_cast<int>(n);
    } else if ((a == "-d" || a == "--interval") && (accepted & kOptTop)) {
      std::string v = need_value("seconds");
      char* end = nullptr;
      o.interval = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(o.interval >= 0.05 && o.interval <= 3600))
        throw UsageError("--interval needs seconds between 0.05 and 3600");
    } else if (a.size() > 1 && a[0] == '-') {
      throw UsageError("unknown option " + a);
    } else {
      pos.push_back(a);
    }
  }
  // The target: a PID first, unless --core names one; a core's executable
  // may also follow it as a positional argument (gort goroutines --core CORE BIN).
  if (o.core.empty()) {
    if (pos.empty()) throw UsageError("no target: give a PID or --core CORE --exe BIN");
    long long pid = 0;
    if (!parse_int(pos[0].c_str(), 1, INT_MAX, &pid)) throw UsageError("'" + pos[0] + "' is not a process ID");
    o.pid = static_cast<pid_t>(pid);
    pos.erase(pos.begin());
  } else {
    if (o.exe.empty()) {
      if (pos.empty()) throw UsageError("--core needs the executable too: --exe BIN");
      o.exe = pos[0];
      pos.erase(pos.begin());
    }
    if (o.stop) throw UsageError("--stop is for live processes; a core file does not run");
  }
  if (static_cast<int>(pos.size()) != npositional) {
    if (static_cast<int>(pos.size()) < npositional) throw UsageError("missing argument");
    throw UsageError("unexpected argument '" + pos[static_cast<std::size_t>(npositional)] + "'");
  }
  o.positional = std::move(pos);
  return o;
}

std::unique_ptr<inspect::Target> open_target(const Options& o) {
  if (!o.core.empty()) return inspect::open_core(o.core, o.exe);
  if (o.stop) {
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::sigaction(sig, &sa, nullptr);
  }
  return inspect::open_process(o.pid, o.stop);
}

Output::Output(bool buffered) {
  if (!buffered) return;
  f_ = open_memstream(&buf_, &len_);
  if (f_ == nullptr) throw inspect::Error(std::string("cannot buffer the output: ") + std::strerror(errno));
}

Output::~Output() {
  if (f_ != stdout) std::fclose(f_);
  std::free(buf_);
}

void Output::release(std::unique_ptr<inspect::Target>& target) {
  target.reset();
  if (f_ == stdout) return;
  std::fclose(f_);
  f_ = stdout;
  std::fwrite(buf_, 1, len_, stdout);
}

std::string short_path(const std::string& path) {
  static const std::string cwd = [] {
    char buf[PATH_MAX];
    return ::getcwd(buf, sizeof buf) ? std::string(buf) + "/" : std::string();
  }();
  if (!cwd.empty() && path.compare(0, cwd.size(), cwd) == 0) return path.substr(cwd.size());
  return path;
}

std::string where(const inspect::SourceFrame& f) {
  if (f.file.empty()) return "?:0";
  return short_path(f.file) + ":" + std::to_string(f.line);
}

}  // namespace gort::cli
