// What the inspector's suites share: child processes (examples/inspectee as
// the target, the gort CLI as a user runs it), what the inspectee announces
// it will show, and a fixture that starts it. Every wait is for output or an
// exit, bounded by a deadline that only turns a hang into a failure.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_env.h"
#include "command_testing.h"
#include "inspectee_expectations.h"
#include "gort/inspect/snapshot.h"
#include "gort/inspect/target.h"

extern char** environ;

namespace inspect_testing {

using gort_test::Expectations;
using gort_test::parse_expectations;

using Clock = std::chrono::steady_clock;
// Generous: only a hang reaches it (sanitizer builds on a busy machine are slow).
inline constexpr auto kDeadline = std::chrono::seconds(90);

inline int remaining_ms(Clock::time_point deadline) {
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
    std::map<std::string, std::optional<std::string>> set(env.begin(), env.end());
    std::vector<std::string> envs = gort_test::child_env(set);
    std::vector<char*> cargv = gort_test::c_strings(argv), cenv = gort_test::c_strings(envs);
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

  // Reaps the child if it has ended; true then (or if it was reaped before).
  bool try_reap() {
    if (pid_ <= 0) return true;
    pid_t r;
    while ((r = waitpid(pid_, &status_, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == 0) return false;
    pid_ = -1;
    return true;
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



using command_testing::lines;
using command_testing::Result;
using command_testing::run;
using command_testing::slurp_fd;
using command_testing::spawn;

// gcore -o DIR/core PID: the core is DIR/core.PID. Returns its path; sets
// *skip if gcore is missing or may not attach (ptrace permission), *error
// on any other failure.
inline std::string make_core(pid_t pid, const std::string& dir, std::string* skip, std::string* error) {
  // Not of an AddressSanitizer or ThreadSanitizer build: its shadow memory
  // (terabytes reserved) makes gcore take minutes, when it finishes at all.
  {
    const std::string text = command_testing::read_file("/proc/" + std::to_string(pid) + "/maps");
    if (text.find("/libasan.so") != std::string::npos || text.find("/libtsan.so") != std::string::npos) {
      *skip = "no core of a sanitizer build (gcore would dump its shadow memory)";
      return {};
    }
  }
  const std::string log = dir + "/gcore.log";
  std::vector<std::string> argv = {"gcore", "-o", dir + "/core", std::to_string(pid)};
  std::vector<char*> cargv = gort_test::c_strings(argv);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t g = -1;
  int rc = posix_spawnp(&g, "gcore", &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    *skip = std::string("cannot run gcore: ") + std::strerror(rc);
    return {};
  }
  int status = 0;
  while (::waitpid(g, &status, 0) < 0 && errno == EINTR) {
  }
  const std::string core = dir + "/core." + std::to_string(pid);
  struct stat st;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && ::stat(core.c_str(), &st) == 0 && st.st_size > 0) return core;
  const std::string out = command_testing::read_file(log);
  if (out.find("ptrace") != std::string::npos || out.find("not permitted") != std::string::npos ||
      out.find("Could not attach") != std::string::npos) {
    *skip = "gcore cannot attach to the child: " + out;
  } else {
    *error = "gcore failed (status " + std::to_string(status) + "): " + out;
  }
  return {};
}

// A scratch folder, base/prefix.XXXXXX (base: the tests' build folder
// unless given), removed with all it holds when it goes, also when an
// assertion ends the test early. path() is empty if it could not be made.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix, const std::string& base = GORT_TESTS_BINARY_DIR) {
    std::string tmpl = base + "/" + prefix + ".XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::set<pid_t> tasks(pid_t pid) {
  std::set<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
    out.insert(std::stoi(e.path().filename().string()));
  return out;
}

// A field of /proc/PID/task/TID/status ("State", "TracerPid").
inline std::string task_status(pid_t pid, pid_t tid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status");
  for (std::string l; std::getline(f, l);)
    if (l.rfind(field + ":", 0) == 0) {
      std::size_t b = l.find_first_not_of(" \t", field.size() + 1);
      return b == std::string::npos ? "" : l.substr(b);
    }
  return "";
}

// The gort CLI (the suites' GORT_CLI) with these arguments.
inline Result gort_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {GORT_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

// The inspectee, started with GOMAXPROCS=2 and read up to `ready`.
class InspecteeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> argv = {GORT_INSPECTEE};
    for (const std::string& a : inspectee_args()) argv.push_back(a);
    inspectee_ = std::make_unique<Process>(argv, std::map<std::string, std::string>{{"GOMAXPROCS", "2"}});
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
  virtual std::vector<std::string> inspectee_args() const { return {}; }
  // Every thread of the inspectee runs or sleeps, and none is traced: a
  // tool that looked at it left it as it was.
  void expect_running_untraced() {
    for (pid_t tid : tasks(want_.pid)) {
      EXPECT_EQ(task_status(want_.pid, tid, "TracerPid"), "0") << "thread " << tid << " still traced";
      std::string state = task_status(want_.pid, tid, "State");
      EXPECT_TRUE(state.rfind("R", 0) == 0 || state.rfind("S", 0) == 0) << "thread " << tid << ": " << state;
    }
  }

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

}  // namespace inspect_testing
