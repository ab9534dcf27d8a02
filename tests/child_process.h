// Runs a program (usually gort_probe) as a child process with a controlled
// environment and captures its stdout, stderr and exit status. Used by the
// suites that test what only a separate process shows: GOMAXPROCS read at
// start-up, gort::run's exit status, misuse before gort::run.
//
// The output goes to memfds rather than pipes, so the child can never block
// on a full pipe while the parent waits for it. The calling goroutine blocks
// its thread in waitpid; that is fine for a short-lived child.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_env.h"
#include "command_testing.h"
#include "test_util.h"

extern char** environ;

namespace gort_test {

struct ChildResult {
  int exit_code = -1;    // WEXITSTATUS, or -1 if it did not exit normally
  int term_signal = 0;   // WTERMSIG if it was killed by a signal
  bool timed_out = false;  // still running after the timeout: killed with SIGKILL
  std::string out;
  std::string err;
};

// Runs argv[0] with argv. The child's environment is ours with the runtime's
// variables (GOMAXPROCS, GORTDEBUG, GOTRACEBACK) removed, then `env` applied:
// a value sets the variable, std::nullopt leaves it unset. A child that has
// not exited after `timeout` (a hang, not a slow run) is killed.
inline ChildResult run_child(const std::vector<std::string>& argv,
                             const std::map<std::string, std::optional<std::string>>& env = {},
                             std::chrono::seconds timeout = std::chrono::seconds(60)) {
  std::vector<std::string> envs = child_env(env);

  std::vector<char*> cargv = gort_test::c_strings(argv), cenv = gort_test::c_strings(envs);

  int out = memfd_create("child-stdout", MFD_CLOEXEC);
  int err = memfd_create("child-stderr", MFD_CLOEXEC);
  if (out < 0 || err < 0) throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out, 1);  // dup2 clears FD_CLOEXEC on the copy
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    close(out);
    close(err);
    throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
  }
  g_child_pid.store(pid);
  ChildResult r;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline && !r.timed_out) {
      r.timed_out = true;
      kill(pid, SIGKILL);
    }
    usleep(1000);  // blocks this goroutine's thread briefly; fine for a test
  }
  g_child_pid.store(0);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
  r.out = command_testing::slurp_fd(out);
  r.err = command_testing::slurp_fd(err);
  close(out);
  close(err);
  return r;
}

}  // namespace gort_test
