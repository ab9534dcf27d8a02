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

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
// Generous: only a hang reaches it (sanitizer builds on a busy machine are slow).
constexpr auto kDeadline = std::chrono::seconds(90);

// Our environment without the runtime's variables, plus `set`.
std::vector<std::string> child_env(const std::map<std::string, std::string>& set) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (key == "GOMAXPROCS" || key == "GORTDEBUG" || key == "GOTRACEBACK" || set.count(key)) continue;
    env.push_back(kv);
  }
  for (const auto& [k, v] : set) env.push_back(k + "=" + v);
  return env;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// A child process whose fds 0, 1, 2 are given (-1: a new pipe for 1 and 2,
// /dev/null for 0). Killed and reaped by the destructor whatever happened.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int in_fd = -1,
          int out_fd = -1, int err_fd = -1) {
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    if (out_fd < 0 && pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    if (err_fd < 0 && pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0) posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd >= 0 ? err_fd : err_pipe[1], 2);
    std::vector<std::string> envs = child_env(env);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    for (int fd : {out_pipe[1], err_pipe[1]})
      if (fd >= 0) close(fd);
    out_ = out_pipe[0];
    err_ = err_pipe[0];
    if (rc != 0) {
      pid_ = -1;
      for (int fd : {out_, err_})
        if (fd >= 0) close(fd);
      throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
    }
  }
  ~Process() {
    kill_and_reap();
    for (int fd : {out_, err_})
      if (fd >= 0) close(fd);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_text_; }
  const std::string& err() const { return err_text_; }
  int status() const { return status_; }

  // Reads stdout (and stderr) until done(stdout) holds; false at EOF or
  // the deadline.
  bool read_until(const std::function<bool(const std::string&)>& done) {
    const auto deadline = Clock::now() + kDeadline;
    while (!done(out_text_)) {
      if (!pump(deadline)) return done(out_text_);
    }
    return true;
  }

  // Reads both pipes to EOF and reaps the child; false if it had to be
  // killed at the deadline.
  bool finish() {
    const auto deadline = Clock::now() + kDeadline;
    while (pump(deadline)) {
    }
    bool in_time = Clock::now() < deadline;
    if (!in_time) kill(pid_, SIGKILL);
    reap();
    return in_time;
  }

  // SIGKILL, then reaped: afterwards the PID is gone (not a zombie).
  void kill_and_reap() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    reap();
  }

  void reap() {
    if (pid_ <= 0) return;
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  // One poll over the open pipes; false when both are at EOF or at the deadline.
  bool pump(Clock::time_point deadline) {
    pollfd fds[2];
    int n = 0;
    if (out_ >= 0) fds[n++] = {out_, POLLIN, 0};
    if (err_ >= 0) fds[n++] = {err_, POLLIN, 0};
    if (n == 0) return false;
    int r = poll(fds, static_cast<nfds_t>(n), remaining_ms(deadline));
    if (r < 0 && errno == EINTR) return true;
    if (r <= 0) return false;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      bool is_out = fds[i].fd == out_;
      if (got > 0) {
        (is_out ? out_text_ : err_text_).append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        (is_out ? out_ : err_) = -1;
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  int status_ = 0;
  std::string out_text_, err_text_;
};

// What examples/inspectee announces before `ready`.
struct Expectations {
  pid_t pid = 0;
  int gomaxprocs = 0;
  int goroutines = 0;
  std::map<std::string, int> by_state;  // "sleep" -> 4, "running|runnable" -> 6
};

Expectations parse_expectations(const std::string& out) {
  Expectations e;
  std::istringstream in(out);
  std::string line;
  static const std::regex role(R"(^expect \w+ (\d+) (.+)$)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("inspectee pid ", 0) == 0) e.pid = std::stoi(line.substr(14));
    else if (line.rfind("expect gomaxprocs ", 0) == 0) e.gomaxprocs = std::stoi(line.substr(18));
    else if (line.rfind("expect goroutines ", 0) == 0) e.goroutines = std::stoi(line.substr(18));
    else if (std::regex_match(line, m, role)) e.by_state[m[2]] += std::stoi(m[1]);
  }
  return e;
}

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

// The inspectee, started with GOMAXPROCS=2 and read up to `ready`.
class InspectTop : public ::testing::Test {
 protected:
  void SetUp() override {
    inspectee_ = std::make_unique<Process>(std::vector<std::string>{GORT_INSPECTEE}, std::map<std::string, std::string>{
                                                                                         {"GOMAXPROCS", "2"}});
    ASSERT_TRUE(inspectee_->read_until([](const std::string& s) { return s.find("\nready\n") != std::string::npos; }))
        << "inspectee not ready; stdout:\n"
        << inspectee_->out();
    want_ = parse_expectations(inspectee_->out());
    ASSERT_EQ(want_.pid, inspectee_->pid());
    ASSERT_EQ(want_.gomaxprocs, 2);
    ASSERT_GT(want_.goroutines, 0);
    ASSERT_EQ(want_.by_state["sleep"], 4) << "3 sleepers and main";
    wait_for_main_asleep();
  }
  void TearDown() override { inspectee_.reset(); }

  // Main prints `ready` and then goes to sleep: until it has, it is one
  // goroutine short of the `sleep` the inspectee announces. Waits (through
  // the inspector itself) until goroutine 1 sleeps.
  void wait_for_main_asleep() {
    auto target = gort::inspect::open_process(want_.pid, false);
    const auto deadline = Clock::now() + kDeadline;
    for (;;) {
      gort::inspect::Snapshot s = gort::inspect::read_snapshot(*target);
      const gort::inspect::GState* g = s.find_g(1);
      if (g != nullptr && g->status == GORT_GWAITING && g->waitreason == "sleep") return;
      ASSERT_LT(Clock::now(), deadline) << "goroutine 1 never went to sleep after `ready`";
      std::this_thread::yield();
    }
  }

  std::string pid() const { return std::to_string(want_.pid); }

  std::unique_ptr<Process> inspectee_;
  Expectations want_;
};

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
  top->reap();
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
