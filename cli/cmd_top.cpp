// gort top: a live, refreshing view of a running gort program, the way
// top(1) shows a machine: the scheduler, the goroutines by state, the rates
// of preemption, and a row per P with its scheduling rates.
//
// Each frame is one snapshot (read_snapshot, without stopping the target:
// top must not disturb what it measures). Rates are the differences of the
// runtime's counters between two snapshots divided by the time between
// them, so the first frame has none and shows "-".
//
// Interactive when stdin and stdout are terminals (and no -n): the frame is
// redrawn in place on the alternate screen, stdin is in non-canonical,
// no-echo mode so that `q` is read as soon as it is typed, and the terminal
// is put back on every way out: q, an error, the target exiting, and the
// signals that end or suspend a process. Otherwise batch mode: plain
// frames separated by a blank line, no escape codes, for scripts and tests.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "gort/inspect/error.h"
#include "gort/inspect/snapshot.h"
#include "options.h"

namespace gort::cli {

using namespace gort::inspect;

const char kTopHelp[] =
    "Usage: gort top PID [-d SEC] [-n N]\n"
    "\n"
    "A live view of a running gort program, refreshed every interval: uptime, GOMAXPROCS,\n"
    "threads (spinning, idle), the global run queue, the goroutines by state (waiting ones\n"
    "by wait reason), preemptions per second (at yield points and by signal), and one row\n"
    "per P: status, M, the goroutine it runs, schedticks, syscallticks and preemption\n"
    "requests per second, run queue depth, runnext and timers. Rates need two snapshots:\n"
    "the first frame shows '-'. The process is read, never stopped.\n"
    "\n"
    "On a terminal the view is redrawn in place: q quits, space refreshes now. When stdout\n"
    "is not a terminal, or with -n, frames are printed one after another, separated by a\n"
    "blank line, without escape codes (batch mode).\n"
    "\n"
    "  -d, --interval SEC    seconds between frames (default 1; a fraction is allowed)\n"
    "  -n, --iterations N    print N frames and exit (batch mode)\n"
    "\n"
    "If the process exits, gort top says so and exits with status 1.\n";

namespace {

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// ---- The terminal ----
//
// The state the signal handlers need is global and only touched with
// async-signal-safe calls (write, tcsetattr, signal, raise).

termios g_saved_termios;                      // stdin's modes before we changed them
volatile sig_atomic_t g_screen_on = 0;        // the terminal is ours: restore it before dying
volatile sig_atomic_t g_winch = 0;            // the window changed size: redraw
volatile sig_atomic_t g_suspend = 0;          // Ctrl-Z (SIGTSTP): give the terminal back, then stop
volatile sig_atomic_t g_continued = 0;        // SIGCONT: the shell may have changed the modes meanwhile

// The alternate screen keeps the user's scrollback intact (as top, less and
// vim do); the cursor is hidden so it does not blink over the table.
constexpr char kEnterScreen[] = "\033[?1049h\033[?25l";
constexpr char kLeaveScreen[] = "\033[0m\033[?25h\033[?1049l";

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // nothing sensible to do about a broken terminal
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Async-signal-safe.
void restore_terminal() {
  if (!g_screen_on) return;
  g_screen_on = 0;
  write_all(STDOUT_FILENO, kLeaveScreen, sizeof kLeaveScreen - 1);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
}

// SIGINT (Ctrl-C), SIGTERM, SIGHUP, SIGQUIT: put the terminal back, then die
// of the signal as we would have (the shell sees how we ended).
void on_fatal_signal(int sig) {
  restore_terminal();
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // blocked while we are in the handler: delivered when it returns
}

// SIGTSTP (Ctrl-Z): the main loop stops us (Screen::suspend). Stopping
// there rather than in the handler lets it know when the stop is over,
// also when the kernel discards the stop (an orphaned process group).
void on_suspend(int) { g_suspend = 1; }

void on_continue(int) { g_continued = 1; }
void on_winch(int) { g_winch = 1; }

constexpr int kFatalSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

void install(int sig, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll returns EINTR and the loop looks at the flags at once
  ::sigaction(sig, &sa, nullptr);
}

// Blocks the signals whose handlers touch the terminal while the main line
// changes it, so that a handler never sees it half set up.
class SignalBlock {
 public:
  SignalBlock() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kFatalSignals) sigaddset(&set, sig);
    sigaddset(&set, SIGTSTP);
    ::sigprocmask(SIG_BLOCK, &set, &old_);
  }
  ~SignalBlock() { ::sigprocmask(SIG_SETMASK, &old_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;

 private:
  sigset_t old_;
};

// The interactive screen: entered once the first snapshot has been read
// (errors before it print on the normal screen), left by the destructor on
// every way out of cmd_top, exceptions included, before main prints them.
class Screen {
 public:
  Screen() {
    if (::tcgetattr(STDIN_FILENO, &g_saved_termios) != 0)
      throw Error(std::string("cannot read the terminal's modes: ") + std::strerror(errno));
    for (int sig : kFatalSignals) install(sig, on_fatal_signal);
    install(SIGCONT, on_continue);
    install(SIGWINCH, on_winch);
    enter();
  }
  ~Screen() { leave(); }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  // Also after a suspension, and again when continued after a stop that
  // was not ours (the shell may have reset the modes meanwhile).
  void enter() {
    SignalBlock block;
    install(SIGTSTP, on_suspend);
    // The modes to go back to: read again after a suspension (the user
    // may have run stty meanwhile), but never our own.
    if (!g_screen_on) ::tcgetattr(STDIN_FILENO, &g_saved_termios);
    termios raw = g_saved_termios;
    // Keys arrive one at a time and are not echoed over the frame. ISIG
    // stays on: Ctrl-C, Ctrl-\ and Ctrl-Z are signals, handled above.
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    write_all(STDOUT_FILENO, kEnterScreen, sizeof kEnterScreen - 1);
    g_screen_on = 1;
  }

  // Ctrl-Z: leave the screen, stop as SIGTSTP's default action does, and
  // take the terminal back when continued (fg).
  void suspend() {
    leave();
    ::signal(SIGTSTP, SIG_DFL);
    ::raise(SIGTSTP);  // not blocked: we stop before raise returns, until SIGCONT
    g_suspend = 0;
    enter();
  }

  void leave() {
    SignalBlock block;
    restore_terminal();
  }

  // The frame's lines from the top left corner, each cut to the width and
  // cleared to its end, and as many as fit in the height; clearing line by
  // line instead of the whole screen does not flicker.
  void draw(const std::vector<std::string>& lines) {
    winsize ws{};
    int rows = 24, cols = 80;  // when the terminal does not say (a fresh pty)
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
      rows = ws.ws_row;
      cols = ws.ws_col;
    }
    std::size_t fit = static_cast<std::size_t>(rows);
    std::vector<std::string> shown(lines.begin(),
                                   lines.begin() + static_cast<std::ptrdiff_t>(std::min(fit, lines.size())));
    if (lines.size() > fit && fit > 0)
      shown.back() = "... " + std::to_string(lines.size() - fit + 1) + " more lines: enlarge the window";
    std::string out = "\033[H";
    for (std::size_t i = 0; i < shown.size(); ++i) {
      // The last column stays empty: a character there leaves the cursor
      // waiting to wrap, and the erase after it would take the character.
      out += shown[i].substr(0, static_cast<std::size_t>(cols > 1 ? cols - 1 : cols));
      out += "\033[K";
      // None after the last row, or the screen scrolls (OPOST, left on, makes it \r\n).
      if (i + 1 < shown.size()) out += "\n";
    }
    out += "\033[J";
    write_all(STDOUT_FILENO, out.data(), out.size());
  }
};

// ---- Snapshots ----

struct Sample {
  Snapshot snap;
  std::int64_t when = 0;  // CLOCK_MONOTONIC ns
};

// Whether pid is gone or a zombie (which has no memory left to read).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!f || !std::getline(f, s)) return true;
  std::size_t rp = s.rfind(')');
  return rp != std::string::npos && rp + 2 < s.size() && (s[rp + 2] == 'Z' || s[rp + 2] == 'X');
}

// Reads a snapshot; false if the process has exited. A running process is
// read while it changes: a structure freed under the reader (allgs grown
// and reallocated) makes a read fail now and then, so a failure is retried
// before it is reported.
bool take_sample(Target& t, pid_t pid, Sample* out) {
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    try {
      out->when = now_ns();
      out->snap = read_snapshot(t);
      return true;
    } catch (const Error& e) {
      if (std::strstr(e.what(), "exited while being read") != nullptr || process_gone(pid)) return false;
      if (attempt == kAttempts) throw;
    }
  }
}

// ---- The frame ----

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// A rate per second, or "-" without a previous sample.
std::string rate_text(double r) {
  if (r < 0 || !std::isfinite(r)) return "-";
  return r >= 1000 ? format("%.0f", r) : format("%.1f", r);
}

std::string duration_text(std::int64_t ns) {
  if (ns < 0) return "?";
  std::int64_t s = ns / 1000000000;
  if (s < 60) return format("%.1fs", static_cast<double>(ns) / 1e9);
  if (s < 3600) return format("%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  if (s < 86400)
    return format("%lldh%02lldm%02llds", static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60),
                  static_cast<long long>(s % 60));
  return format("%lldd%02lldh%02lldm", static_cast<long long>(s / 86400), static_cast<long long>(s / 3600 % 24),
                static_cast<long long>(s / 60 % 60));
}

std::string id_text(std::int64_t id) { return id < 0 ? "-" : std::to_string(id); }

// /proc/PID/comm, made printable (it is the program's to set).
std::string process_name(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string s;
  std::getline(f, s);
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return s;
}

struct View {
  pid_t pid = 0;
  std::string name;
  double interval = 1;
  bool interactive = false;
};

// One frame, as lines without a newline and without blank lines (batch
// mode separates frames with one).
std::vector<std::string> render(const View& v, const Sample& cur, const Sample* prev) {
  const Snapshot& s = cur.snap;
  const SchedState& sc = s.sched;
  std::vector<std::string> out;
  const double elapsed = prev ? static_cast<double>(cur.when - prev->when) / 1e9 : 0;
  const bool rates = prev != nullptr && elapsed > 0;
  // A counter's rate; unsigned differences survive the 32-bit ticks wrapping.
  auto per_second = [&](std::uint64_t delta) { return rates ? static_cast<double>(delta) / elapsed : -1.0; };

  // Header: the target and the scheduler.
  std::time_t wall = std::time(nullptr);
  char clock[16] = "";
  std::tm tm{};
  if (::localtime_r(&wall, &tm)) std::strftime(clock, sizeof clock, "%H:%M:%S", &tm);
  std::string title = format("gort top - process %d", static_cast<int>(v.pid));
  if (!v.name.empty()) title += " (" + v.name + ")";
  title += format("  %s  up %s  every %gs", clock, sc.starttime ? duration_text(cur.when - sc.starttime).c_str() : "?",
                  v.interval);
  if (v.interactive) title += "  [q: quit]";
  out.push_back(title);
  int threads = 0;
  for (const MState& m : s.ms) threads += m.exited ? 0 : 1;
  out.push_back(format("gomaxprocs %d  threads %d  spinning %d  idle %d  global runq %d  goroutines %zu",
                       sc.gomaxprocs, threads, sc.nmspinning, sc.nmidle, sc.runqsize, s.gs.size()));

  // Preemptions taken, per second: at a yield point (the goroutine saw
  // the request itself) and by signal (sysmon had to interrupt it).
  double sync_rate = -1, async_rate = -1;
  if (rates && sc.npreemptsync >= prev->snap.sched.npreemptsync &&
      sc.npreemptasync >= prev->snap.sched.npreemptasync) {
    sync_rate = per_second(sc.npreemptsync - prev->snap.sched.npreemptsync);
    async_rate = per_second(sc.npreemptasync - prev->snap.sched.npreemptasync);
  }
  out.push_back(format("preemptions/s %s (yield points %s, signal %s)  total %" PRIu64,
                       rate_text(sync_rate < 0 ? -1 : sync_rate + async_rate).c_str(), rate_text(sync_rate).c_str(),
                       rate_text(async_rate).c_str(), sc.npreemptsync + sc.npreemptasync));

  // Goroutines by state; the waiting ones by wait reason, most first.
  std::map<std::uint32_t, std::size_t> by_status;
  std::map<std::string, std::size_t> by_reason;
  for (const GState& g : s.gs) {
    by_status[g.status]++;
    if (g.status == GORT_GWAITING) by_reason[g.waitreason.empty() ? "(no reason)" : g.waitreason]++;
  }
  out.push_back("goroutines by state:");
  auto state_line = [&](const char* name, std::uint32_t status) {
    out.push_back(format("  %-22s %6zu", name, by_status[status]));
  };
  state_line("running", GORT_GRUNNING);
  state_line("runnable", GORT_GRUNNABLE);
  state_line("syscall", GORT_GSYSCALL);
  state_line("waiting", GORT_GWAITING);
  std::vector<std::pair<std::string, std::size_t>> reasons(by_reason.begin(), by_reason.end());
  std::stable_sort(reasons.begin(), reasons.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [reason, n] : reasons) out.push_back(format("    %-20s %6zu", reason.c_str(), n));
  state_line("preempted", GORT_GPREEMPTED);
  std::size_t other = 0;
  for (const auto& [status, n] : by_status)
    if (status != GORT_GRUNNING && status != GORT_GRUNNABLE && status != GORT_GSYSCALL && status != GORT_GWAITING &&
        status != GORT_GPREEMPTED)
      other += n;
  if (other) out.push_back(format("  %-22s %6zu", "other", other));

  // One row per P. A P is matched with its previous self by id: if
  // GOMAXPROCS grew, the new Ps have no rates yet.
  std::map<int, const PState*> prev_ps;
  if (prev)
    for (const PState& p : prev->snap.ps) prev_ps[p.id] = &p;
  std::map<int, std::int64_t> curg_of_p;  // the goroutine running on each P, through its M
  for (const MState& m : s.ms)
    if (m.p_id >= 0 && !m.exited) curg_of_p[m.p_id] = m.curg_goid;
  out.push_back(format("%-4s %-8s %4s %6s %9s %9s %9s %5s %7s %6s", "P", "STATUS", "M", "G", "SCHED/s", "SYSCALL/s",
                       "PREEMPT/s", "RUNQ", "RUNNEXT", "TIMERS"));
  for (const PState& p : s.ps) {
    auto it = prev_ps.find(p.id);
    const PState* q = it == prev_ps.end() ? nullptr : it->second;
    double sched = -1, syscall = -1, preempt = -1;
    if (q) {
      sched = per_second(static_cast<std::uint32_t>(p.schedtick - q->schedtick));
      syscall = per_second(static_cast<std::uint32_t>(p.syscalltick - q->syscalltick));
      if (p.preemptcount >= q->preemptcount) preempt = per_second(p.preemptcount - q->preemptcount);
    }
    auto g = curg_of_p.find(p.id);
    out.push_back(format("%-4s %-8s %4s %6s %9s %9s %9s %5zu %7s %6u", ("P" + std::to_string(p.id)).c_str(),
                         pstatus_name(p.status), id_text(p.m_id).c_str(),
                         id_text(g == curg_of_p.end() ? -1 : g->second).c_str(), rate_text(sched).c_str(),
                         rate_text(syscall).c_str(), rate_text(preempt).c_str(), p.runq.size(),
                         id_text(p.runnext).c_str(), p.ntimers));
  }
  return out;
}

void print_frame(const std::vector<std::string>& lines, bool first) {
  if (!first) std::fputc('\n', stdout);
  for (const std::string& l : lines) std::printf("%s\n", l.c_str());
  std::fflush(stdout);  // a reader of the pipe sees each frame when it is complete
}

int report_exit(pid_t pid) {
  std::fprintf(stderr, "gort: process %d exited\n", static_cast<int>(pid));
  return 1;
}

// Waits until the monotonic clock reaches deadline (ns), through signals.
void wait_until(std::int64_t deadline) {
  timespec ts{static_cast<time_t>(deadline / 1000000000), static_cast<long>(deadline % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

int run_batch(Target& t, const View& v, int iterations, Sample cur) {
  const std::int64_t step = static_cast<std::int64_t>(v.interval * 1e9);
  Sample prev;
  bool have_prev = false;
  std::int64_t deadline = cur.when;
  for (int i = 0; iterations == 0 || i < iterations; ++i) {
    if (i > 0) {
      // The next frame on the interval's grid, so frames do not drift by
      // the time each read takes.
      deadline += step;
      wait_until(deadline);
      prev = std::move(cur);
      have_prev = true;
      if (!take_sample(t, v.pid, &cur)) return report_exit(v.pid);
      if (deadline + step <= cur.when) deadline = cur.when;  // fell behind (a slow read, a suspension)
    }
    print_frame(render(v, cur, have_prev ? &prev : nullptr), i == 0);
  }
  return 0;
}

int run_interactive(Target& t, const View& v, Sample cur) {
  const std::int64_t step = static_cast<std::int64_t>(v.interval * 1e9);
  Screen screen;
  Sample prev;
  bool have_prev = false;
  std::vector<std::string> frame = render(v, cur, nullptr);
  screen.draw(frame);
  std::int64_t deadline = cur.when + step;
  for (;;) {
    if (g_suspend) {
      screen.suspend();
      g_winch = 1;  // redraw, maybe at another size
    }
    if (g_continued) {  // stopped and continued by someone else: set our modes again
      g_continued = 0;
      screen.enter();
      g_winch = 1;
    }
    if (g_winch) {
      g_winch = 0;
      screen.draw(frame);
    }
    std::int64_t now = now_ns();
    if (now >= deadline) {
      prev = std::move(cur);
      have_prev = true;
      if (!take_sample(t, v.pid, &cur)) {
        screen.leave();  // the message goes to the normal screen, where it stays
        return report_exit(v.pid);
      }
      frame = render(v, cur, have_prev ? &prev : nullptr);
      screen.draw(frame);
      deadline += step;
      if (deadline <= cur.when) deadline = cur.when + step;  // fell behind (a slow read, a suspension)
      continue;
    }
    // The UI's tick: wait for the next frame or for a key, whichever is first.
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    int timeout_ms = static_cast<int>((deadline - now + 999999) / 1000000);
    int r = ::poll(&pfd, 1, timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;  // a signal: the flags above say what to do
      throw Error(std::string("poll: ") + std::strerror(errno));
    }
    if (r == 0) continue;
    char keys[64];
    ssize_t n = ::read(STDIN_FILENO, keys, sizeof keys);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return 0;  // the terminal is gone (hangup): nobody to show anything to
    for (ssize_t i = 0; i < n; ++i) {
      if (keys[i] == 'q' || keys[i] == 'Q' || keys[i] == 3 /* Ctrl-C, should ISIG be off */) return 0;
      if (keys[i] == ' ') deadline = now_ns();
    }
  }
}

}  // namespace

int cmd_top(int argc, char** argv) {
  // A core file is one instant: there is nothing to refresh and no rate.
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--core") == 0) throw UsageError("top needs a live process");
  Options o;
  try {
    o = parse_options(argc, argv, kOptTop, 0);
  } catch (const UsageError& e) {
    // The shared message offers --core, which top refuses.
    if (std::strncmp(e.what(), "no target", 9) == 0) throw UsageError("no target: give a PID");
    throw;
  }
  std::unique_ptr<Target> target;
  try {
    target = open_target(o);
  } catch (const Error&) {
    // A zombie still has its /proc entry but no memory: it has exited, and
    // saying so is clearer than the reason its memory cannot be read.
    if (::kill(o.pid, 0) == 0 && process_gone(o.pid)) return report_exit(o.pid);
    throw;
  }
  View v;
  v.pid = o.pid;
  v.name = process_name(o.pid);
  v.interval = o.interval;
  v.interactive = o.iterations == 0 && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  // The first snapshot before the screen changes: a target that is not a
  // gort program is reported on the normal screen.
  Sample first;
  if (!take_sample(*target, o.pid, &first)) return report_exit(o.pid);
  if (v.interactive) return run_interactive(*target, v, std::move(first));
  return run_batch(*target, v, o.iterations, std::move(first));
}

}  // namespace gort::cli
