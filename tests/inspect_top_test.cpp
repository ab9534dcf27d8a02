// gort top against examples/inspectee: batch frames whose counts are those
// the inspectee announces, rates from the second frame on, the target
// exiting under it, bad targets; and the interactive mode on a pseudo-
// terminal: q quits at once, and the terminal is restored after q, after
// SIGTERM and when the target exits.
//
// Nothing here waits by sleeping: every wait is for a line or a byte
// sequence (with a deadline that only turns a hang into a failure).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gort/inspect/error.h"
#include "gort/inspect/snapshot.h"
#include "gort/inspect/target.h"
#include "inspect_testing.h"

extern char** environ;

namespace {

using namespace inspect_testing;

// One frame of gort top's batch output.
struct Frame {
  std::string text;
  int goroutines = -1;
  std::map<std::string, int> states;   // "running", "waiting", ...
  std::map<std::string, int> reasons;  // the waiting ones: "sleep", ...
  struct P {
    std::string status, sched_rate;
  };
  std::map<int, P> ps;
};

std::vector<Frame> parse_frames(const std::string& out) {
  std::vector<Frame> frames;
  std::istringstream in(out);
  std::string line;
  static const std::regex header(R"(^gomaxprocs \d+ .* goroutines (\d+)$)");
  static const std::regex state(R"(^  (\S[^ ]*( [^ ]+)*) +(\d+)$)");
  static const std::regex reason(R"(^    (\S[^ ]*( [^ ]+)*) +(\d+)$)");
  // P, STATUS, M, G, SCHED/s, ...
  static const std::regex prow(R"(^P(\d+) +(\S+) +\S+ +\S+ +(\S+) +\S+ +\S+ +\d+ +\S+ +\d+$)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("gort top - process ", 0) == 0) frames.emplace_back();
    if (frames.empty() || line.empty()) continue;
    Frame& f = frames.back();
    f.text += line + "\n";
    if (std::regex_match(line, m, header)) f.goroutines = std::stoi(m[1]);
    else if (std::regex_match(line, m, reason)) f.reasons[m[1]] = std::stoi(m[3]);
    else if (std::regex_match(line, m, state)) f.states[m[1]] = std::stoi(m[3]);
    else if (std::regex_match(line, m, prow)) f.ps[std::stoi(m[1])] = {m[2], m[3]};
  }
  return frames;
}

bool is_number(const std::string& s) { return std::regex_match(s, std::regex(R"(\d+(\.\d+)?)")); }

class InspectTop : public InspecteeTest {};

// The counts of one frame are those the inspectee announced.
void check_counts(const Frame& f, const Expectations& want) {
  EXPECT_EQ(f.goroutines, want.goroutines) << f.text;
  int waiting = 0, runs = 0;
  for (const auto& [state, n] : want.by_state) {
    if (state == "running|runnable") {
      runs += n;
    } else if (state == "syscall") {
      EXPECT_EQ(f.states.count("syscall") ? f.states.at("syscall") : -1, n) << f.text;
    } else {
      EXPECT_EQ(f.reasons.count(state) ? f.reasons.at(state) : -1, n) << state << "\n" << f.text;
      waiting += n;
    }
  }
  ASSERT_TRUE(f.states.count("waiting") && f.states.count("running") && f.states.count("runnable") &&
              f.states.count("preempted"))
      << f.text;
  EXPECT_EQ(f.states.at("waiting"), waiting) << f.text;
  // Spinners and yielders move between running and runnable all the time:
  // only their sum is known.
  EXPECT_EQ(f.states.at("running") + f.states.at("runnable") + f.states.at("preempted"), runs) << f.text;
  EXPECT_EQ(static_cast<int>(f.ps.size()), want.gomaxprocs) << f.text;
}

TEST_F(InspectTop, BatchFramesShowTheInspecteesGoroutinesAndRates) {
  Process top({GORT_CLI, "top", pid(), "-n", "2", "-d", "0.2"}, {});
  ASSERT_TRUE(top.finish()) << "gort top did not exit";
  ASSERT_TRUE(WIFEXITED(top.status())) << top.status();
  EXPECT_EQ(WEXITSTATUS(top.status()), 0) << top.err();
  EXPECT_EQ(top.err(), "");
  EXPECT_EQ(top.out().find('\033'), std::string::npos) << "escape codes in batch mode";
  std::vector<Frame> frames = parse_frames(top.out());
  ASSERT_EQ(frames.size(), 2u) << top.out();
  EXPECT_EQ(top.out().find("\n\ngort top - process "), frames[0].text.size() - 1) << "one blank line between frames";
  for (const Frame& f : frames) check_counts(f, want_);
  // Rates need two snapshots.
  for (const auto& [id, p] : frames[0].ps) EXPECT_EQ(p.sched_rate, "-") << "P" << id << "\n" << frames[0].text;
  for (const auto& [id, p] : frames[1].ps) EXPECT_TRUE(is_number(p.sched_rate)) << "P" << id << "\n" << frames[1].text;
  EXPECT_NE(frames[0].text.find("\npreemptions/s - ("), std::string::npos) << frames[0].text;
  EXPECT_TRUE(std::regex_search(frames[1].text, std::regex(R"(\npreemptions/s \d+(\.\d)? \(yield points \d)")))
      << frames[1].text;
  for (int id = 0; id < want_.gomaxprocs; ++id) EXPECT_TRUE(frames[1].ps.count(id)) << "P" << id;
}

// The number of P rows that top's output has so far in its first frame.
bool first_frame_complete(const std::string& out, int gomaxprocs) {
  std::string last_row = "\nP" + std::to_string(gomaxprocs - 1) + " ";
  std::size_t at = out.find(last_row);
  return at != std::string::npos && out.find('\n', at + 1) != std::string::npos;
}

TEST_F(InspectTop, TargetExitingEndsTopWithOneLine) {
  // Batch mode without -n runs until the target goes.
  Process top({GORT_CLI, "top", pid(), "-d", "0.2"}, {});
  ASSERT_TRUE(top.read_until([&](const std::string& s) { return first_frame_complete(s, want_.gomaxprocs); }))
      << top.out() << top.err();
  inspectee_->kill_and_reap();
  ASSERT_TRUE(top.finish()) << "gort top did not notice that its target exited";
  ASSERT_TRUE(WIFEXITED(top.status())) << top.status();
  EXPECT_EQ(WEXITSTATUS(top.status()), 1);
  EXPECT_EQ(top.err(), "gort: process " + pid() + " exited\n");
}

TEST(InspectTopTarget, NoSuchProcess) {
  // pid_max itself is never a process ID (they stay below it).
  std::ifstream f("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  ASSERT_TRUE(f >> pid_max);
  Process top({GORT_CLI, "top", std::to_string(pid_max), "-n", "1"}, {});
  ASSERT_TRUE(top.finish());
  ASSERT_TRUE(WIFEXITED(top.status()));
  EXPECT_EQ(WEXITSTATUS(top.status()), 1);
  EXPECT_EQ(top.out(), "");
  ASSERT_FALSE(top.err().empty());
  EXPECT_EQ(top.err().find('\n'), top.err().size() - 1) << "one line: " << top.err();
  EXPECT_EQ(top.err().rfind("gort: ", 0), 0u) << top.err();
}

TEST(InspectTopTarget, CoreFileIsAUsageError) {
  Process top({GORT_CLI, "top", "--core", "x", "y"}, {});
  ASSERT_TRUE(top.finish());
  ASSERT_TRUE(WIFEXITED(top.status()));
  EXPECT_EQ(WEXITSTATUS(top.status()), 2);
  EXPECT_EQ(top.out(), "");
  EXPECT_NE(top.err().find("top needs a live process"), std::string::npos) << top.err();
}

// ---- Interactive mode, on a pseudo-terminal ----

constexpr char kEnterScreen[] = "\033[?1049h";
constexpr char kLeaveScreen[] = "\033[?1049l";
constexpr char kClearToEnd[] = "\033[J";

// A pseudo-terminal: the test holds the master and keeps the slave open
// (to read its modes, and so that the master never sees a hangup).
class Pty {
 public:
  Pty() {
    master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0) throw std::runtime_error("posix_openpt");
    char name[128];
    if (ptsname_r(master_, name, sizeof name) != 0) throw std::runtime_error("ptsname_r");
    slave_ = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave_ < 0) throw std::runtime_error("open pty slave");
    winsize ws{};
    ws.ws_row = 50;
    ws.ws_col = 120;
    ioctl(master_, TIOCSWINSZ, &ws);
  }
  ~Pty() {
    close(master_);
    close(slave_);
  }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;

  int slave() const { return slave_; }
  const std::string& out() const { return out_; }

  // Reads what the program wrote until done(all of it) holds; false at the deadline.
  bool read_until(const std::function<bool(const std::string&)>& done) {
    const auto deadline = Clock::now() + kDeadline;
    while (!done(out_)) {
      pollfd pfd{master_, POLLIN, 0};
      int r = poll(&pfd, 1, remaining_ms(deadline));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      char buf[4096];
      ssize_t n = read(master_, buf, sizeof buf);
      if (n <= 0) return done(out_);
      out_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  bool read_until_contains(const std::string& s, std::size_t from = 0) {
    return read_until([&](const std::string& o) { return o.find(s, from) != std::string::npos; });
  }

  // Reads what p writes until p has ended, then reaps it; false (p killed)
  // at the deadline. A program that writes to the pty while nobody reads
  // blocks once the pty's buffer is full, and under TSan a signal handler
  // runs only when the intercepted call returns: a SIGTERM that came just
  // before such a write was never handled (the test hung in waitpid).
  bool read_until_exit(Process& p) {
    const auto deadline = Clock::now() + kDeadline;
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, p.pid(), 0));
    if (pidfd < 0) throw std::runtime_error("pidfd_open");
    bool ended = false;
    while (!(ended = p.try_reap())) {
      pollfd fds[2] = {{master_, POLLIN, 0}, {pidfd, POLLIN, 0}};
      int r = poll(fds, 2, remaining_ms(deadline));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      if (fds[0].revents == 0) continue;
      char buf[4096];
      ssize_t n = read(master_, buf, sizeof buf);
      if (n > 0) out_.append(buf, static_cast<std::size_t>(n));
    }
    close(pidfd);
    if (!ended) p.kill_and_reap();
    return ended;
  }

  void type(const char* keys) {
    ASSERT_EQ(write(master_, keys, std::strlen(keys)), static_cast<ssize_t>(std::strlen(keys)));
  }

  // ICANON and ECHO: what top turns off and must turn back on.
  tcflag_t line_modes() const {
    termios t{};
    tcgetattr(slave_, &t);
    return t.c_lflag & (ICANON | ECHO);
  }

 private:
  int master_ = -1, slave_ = -1;
  std::string out_;
};

class InspectTopTty : public InspectTop {
 protected:
  // gort top on the pty, up to its first complete frame.
  std::unique_ptr<Process> start_top(Pty& pty, const char* interval) {
    EXPECT_EQ(pty.line_modes(), static_cast<tcflag_t>(ICANON | ECHO)) << "a fresh pty is in canonical mode";
    auto top = std::make_unique<Process>(std::vector<std::string>{GORT_CLI, "top", pid(), "-d", interval},
                                         std::map<std::string, std::string>{}, pty.slave(), pty.slave(), pty.slave());
    // A frame ends by clearing the rest of the screen.
    EXPECT_TRUE(pty.read_until([&](const std::string& s) {
      std::size_t at = s.find(kEnterScreen);
      return at != std::string::npos && s.find(kClearToEnd, at) != std::string::npos;
    })) << pty.out();
    // The modes were changed before the frame was drawn.
    EXPECT_EQ(pty.line_modes(), 0u) << "top reads keys one at a time, without echo";
    return top;
  }
};

TEST_F(InspectTopTty, QQuitsAtOnceAndRestoresTheTerminal) {
  Pty pty;
  // An hour between frames: only the key can end the wait.
  auto top = start_top(pty, "3600");
  EXPECT_NE(pty.out().find("[q: quit]"), std::string::npos) << pty.out();
  std::size_t seen = pty.out().size();
  pty.type("q");
  top->reap();
  ASSERT_TRUE(WIFEXITED(top->status())) << top->status();
  EXPECT_EQ(WEXITSTATUS(top->status()), 0);
  EXPECT_TRUE(pty.read_until_contains(kLeaveScreen, seen)) << pty.out();
  EXPECT_EQ(pty.line_modes(), static_cast<tcflag_t>(ICANON | ECHO));
}

TEST_F(InspectTopTty, SigtermRestoresTheTerminal) {
  Pty pty;
  auto top = start_top(pty, "0.2");
  std::size_t seen = pty.out().size();
  kill(top->pid(), SIGTERM);
  ASSERT_TRUE(pty.read_until_exit(*top)) << "still running after SIGTERM\n" << pty.out();
  ASSERT_TRUE(WIFSIGNALED(top->status())) << "dies of the signal, as it would have: " << top->status();
  EXPECT_EQ(WTERMSIG(top->status()), SIGTERM);
  EXPECT_TRUE(pty.read_until_contains(kLeaveScreen, seen)) << pty.out();
  EXPECT_EQ(pty.line_modes(), static_cast<tcflag_t>(ICANON | ECHO));
}

TEST_F(InspectTopTty, TargetExitingRestoresTheTerminalThenSaysSo) {
  Pty pty;
  auto top = start_top(pty, "0.2");
  std::size_t seen = pty.out().size();
  inspectee_->kill_and_reap();
  const std::string message = "gort: process " + pid() + " exited";
  EXPECT_TRUE(pty.read_until_contains(message, seen)) << pty.out();
  top->reap();
  ASSERT_TRUE(WIFEXITED(top->status())) << top->status();
  EXPECT_EQ(WEXITSTATUS(top->status()), 1);
  std::size_t leave = pty.out().find(kLeaveScreen, seen);
  ASSERT_NE(leave, std::string::npos) << pty.out();
  EXPECT_LT(leave, pty.out().find(message, seen)) << "the message is printed on the normal screen";
  EXPECT_EQ(pty.line_modes(), static_cast<tcflag_t>(ICANON | ECHO));
}

}  // namespace
