// SIGQUIT: Go's goroutine dump (runtime/sigquit.cpp). A child program is sent
// SIGQUIT once it says it is ready; it must print `SIGQUIT: quit`, the PC
// line and every goroutine in the traceback format, and exit with status 2.
// Go's rules for whose signal it is: a handler the program installed before
// gort::run is kept; an inherited SIG_IGN is taken over (a script's
// background job), and the program may ignore it once running.
//
// The children are examples/inspectee (goroutines in every state, and the
// list of what to expect on its stdout) and gort_probe. Waiting is bounded
// everywhere: a child that is never ready or never exits fails the test
// (and is killed) instead of hanging it.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "child_env.h"
#include "inspectee_expectations.h"
#include "test_util.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;

constexpr auto kReadyTimeout = 60s;  // a loaded machine under ASan; a hang is what this catches
constexpr auto kExitTimeout = 60s;

std::int64_t ms_left(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
  return left > 0 ? left : 0;
}

// A child with its stdout on a pipe (read line by line, to see `ready`) and
// its stderr in a memfd (read once it has exited; it can never block on it).
// SIGQUIT starts with its default action in the child whatever ours is (a
// test run from a background job inherits it ignored).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::optional<std::string>>& env = {}) {
    std::vector<std::string> envs = gort_test::child_env(env);
    std::vector<char*> cargv = gort_test::c_strings(argv), cenv = gort_test::c_strings(envs);

    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    err_ = memfd_create("child-stderr", MFD_CLOEXEC);
    if (err_ < 0) throw std::runtime_error("memfd_create");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def, none;
    sigemptyset(&def);
    sigaddset(&def, SIGQUIT);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    int rc = posix_spawn(&pid_, cargv[0], &fa, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out[1]);
    out_ = out[0];
    if (rc != 0) throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
    gort_test::g_child_pid.store(pid_);
  }
  ~Child() {
    if (pid_ > 0) {  // the test failed before the child exited
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      gort_test::g_child_pid.store(0);
    }
    close(out_);
    close(err_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads stdout until a line equal to `line`. false: EOF or timeout.
  bool wait_for_line(const std::string& line) {
    const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
    for (;;) {
      std::size_t nl;
      while ((nl = pending_.find('\n')) != std::string::npos) {
        std::string l = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        out_text_ += l + "\n";
        if (l == line) return true;
      }
      pollfd p{out_, POLLIN, 0};
      int r = gort::syscall([&] { return poll(&p, 1, static_cast<int>(ms_left(deadline))); });
      if (r == 0) return false;
      if (r < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      char buf[4096];
      ssize_t n = gort::syscall([&] { return read(out_, buf, sizeof buf); });
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }

  void signal(int sig) { ASSERT_EQ(kill(pid_, sig), 0); }

  // Waits for the child to end (a pidfd: no polling). false: still running
  // after kExitTimeout (it is then killed by the destructor).
  bool wait_exit() {
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) return false;
    pollfd p{pidfd, POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
    int r;
    do r = gort::syscall([&] { return poll(&p, 1, static_cast<int>(ms_left(deadline))); });
    while (r < 0 && errno == EINTR);
    close(pidfd);
    if (r != 1) return false;
    if (waitpid(pid_, &status_, 0) != pid_) return false;
    pid_ = -1;
    gort_test::g_child_pid.store(0);
    // The rest of stdout, and stderr.
    char buf[4096];
    ssize_t n;
    while ((n = read(out_, buf, sizeof buf)) > 0) pending_.append(buf, static_cast<std::size_t>(n));
    out_text_ += pending_;
    pending_.clear();
    lseek(err_, 0, SEEK_SET);
    while ((n = read(err_, buf, sizeof buf)) > 0) err_text_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int status() const { return status_; }
  const std::string& out() const { return out_text_; }
  const std::string& err() const { return err_text_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  int status_ = 0;
  std::string pending_;
  std::string out_text_;
  std::string err_text_;
};

// One `goroutine N [state]:` block of a dump.
struct Block {
  long goid = 0;
  std::string state;  // the bracket's first item: "chan receive", not ", 5 minutes"
  std::string text;   // the frames and `created by` lines
};

std::vector<Block> parse_dump(const std::string& err) {
  std::vector<Block> blocks;
  static const std::regex header(R"(^goroutine (\d+) \[([^\],]*)[^\]]*\]:$)");
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, header)) {
      blocks.push_back({std::stol(m[1]), m[2], ""});
    } else if (!blocks.empty()) {
      blocks.back().text += line + "\n";
    }
  }
  return blocks;
}


bool has(std::initializer_list<std::string> v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}
bool has(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

// The dump of an inspectee that was sent SIGQUIT once ready: every
// goroutine, each where the inspectee says it is.
void check_inspectee_dump(const std::string& goroutines, const std::string& gomaxprocs) {
  Child child({GORT_INSPECTEE, "--goroutines", goroutines, "--exit-after", "300"}, {{"GOMAXPROCS", gomaxprocs}});
  ASSERT_TRUE(child.wait_for_line("ready")) << "inspectee not ready; stdout:\n" << child.out();
  child.signal(SIGQUIT);
  ASSERT_TRUE(child.wait_exit()) << "no exit after SIGQUIT";
  const std::string& err = child.err();
  ASSERT_TRUE(WIFEXITED(child.status())) << "status " << child.status() << "\n" << err;
  EXPECT_EQ(WEXITSTATUS(child.status()), 2);

  ASSERT_EQ(err.rfind("SIGQUIT: quit\n", 0), 0u) << err.substr(0, 500);
  std::string second = err.substr(14, err.find('\n', 14) - 14);
  EXPECT_TRUE(std::regex_match(second, std::regex(R"(PC=0x[0-9a-f]+ m=-?\d+ sigcode=0)"))) << second;  // kill(2): SI_USER
  EXPECT_EQ(err.compare(14 + second.size(), 2, "\n\n"), 0) << "an empty line before the goroutines";

  gort_test::Expectations want = gort_test::parse_expectations(child.out());
  ASSERT_GT(want.goroutines, 0) << child.out();
  std::vector<Block> blocks = parse_dump(err);
  EXPECT_EQ(static_cast<int>(blocks.size()), want.goroutines) << err;
  int created_by = 0;
  bool main_seen = false;
  for (const Block& b : blocks) {
    if (b.goid == 1) main_seen = true;
    else if (b.text.find("\ncreated by ") != std::string::npos || b.text.rfind("created by ", 0) == 0) created_by++;
  }
  EXPECT_TRUE(main_seen) << "no goroutine 1";
  EXPECT_EQ(created_by, want.goroutines - 1) << "every goroutine but main says who created it";

  // A parked goroutine shows its state and its own function among its
  // frames. Goroutines that run (spinners, yielders) show a stack when the
  // dump's freeze stopped them, "stack unavailable" otherwise; a goroutine
  // in a system call keeps running its call. Those are counted by state.
  std::map<std::string, int> want_running, have_running;  // key: the states, as "running|runnable"
  for (const gort_test::Expectations::Role& r : want.roles) {
    const std::string& key = r.states;
    std::vector<std::string> states = r.state_list();
    bool parked = states.size() == 1 && !has({"running", "runnable", "syscall"}, states[0]);
    if (parked) {
      int n = 0;
      for (const Block& b : blocks)
        if (b.state == states[0] && b.text.find("\n" + r.fn + "()\n") != std::string::npos) n++;
      EXPECT_EQ(n, r.count) << r.fn << " [" << key << "]";
    } else {
      want_running[key] += r.count;
      int n = 0;
      for (const Block& b : blocks)
        if (has(states, b.state)) n++;
      have_running[key] = n;
    }
  }
  EXPECT_EQ(have_running, want_running) << err;

  // The formats, as Go prints them (checked per block: std::regex recurses,
  // and this runs on a goroutine's stack).
  const std::regex user_frame(R"((^|\n)chan_receiver\(\)\n\t\S+inspectee\.cpp:\d+ \+0x[0-9a-f]+\n)");
  const std::regex created(R"(\ncreated by inspectee_main\(\) in goroutine 1\n\t\S+inspectee\.cpp:\d+ \+0x[0-9a-f]+\n)");
  bool receiver_frame = false, created_by_main = false;
  for (const Block& b : blocks) {
    if (b.state == "chan receive" && std::regex_search(b.text, user_frame)) receiver_frame = true;
    if (std::regex_search(b.text, created)) created_by_main = true;
  }
  EXPECT_TRUE(receiver_frame) << "no [chan receive] block with a chan_receiver() frame and its file:line";
  EXPECT_TRUE(created_by_main) << "no `created by inspectee_main() in goroutine 1` line with its file:line";
  EXPECT_NE(err.find("\ngoroutine 1 ["), std::string::npos);
  EXPECT_NE(err.find(" [sync.Mutex.Lock]:\n"), std::string::npos);
  EXPECT_NE(err.find(" [sleep]:\n"), std::string::npos);
}

TEST(Sigquit, DumpsEveryGoroutineAndExits2) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();  // the inspectee's spinners would keep its Ps
  check_inspectee_dump("0", "2");
}

TEST(Sigquit, DumpsHundredsOfParkedGoroutines) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  check_inspectee_dump("100", "4");
}

// A goroutine that cannot be stopped (a call-free loop, no preemption
// signals) does not hold the dump up: after its bounded wait the dump shows
// it running, as Go shows a goroutine on another thread.
TEST(Sigquit, RunningGoroutineDoesNotHoldTheDump) {
  Child child({GORT_PROBE, "sigquit-spin"}, {{"GOMAXPROCS", "2"}, {"GORTDEBUG", "asyncpreemptoff=1"}});
  ASSERT_TRUE(child.wait_for_line("ready")) << child.out();
  child.signal(SIGQUIT);
  ASSERT_TRUE(child.wait_exit()) << "no exit after SIGQUIT";
  ASSERT_TRUE(WIFEXITED(child.status())) << child.err();
  EXPECT_EQ(WEXITSTATUS(child.status()), 2);
  const std::string& err = child.err();
  EXPECT_EQ(err.rfind("SIGQUIT: quit\n", 0), 0u) << err;
  int running = 0;
  for (const Block& b : parse_dump(err))
    if (b.state == "running" && b.text.rfind("\tgoroutine running on other thread; stack unavailable\n", 0) == 0) running++;
  EXPECT_EQ(running, 1) << err;
  EXPECT_NE(err.find("\ngoroutine 1 [sleep]:\n"), std::string::npos) << err;
}

// Go's rule: the runtime takes SIGQUIT only if its action was the default.
TEST(Sigquit, ProgramHandlerIsKept) {
  if (gort_test::kNoAsyncPreemption) {  // true exactly under TSan
    GTEST_SKIP() << "ThreadSanitizer runs a program's signal handler only when the receiving thread runs "
                    "instrumented code, which the probe's threads (blocked in read, or idle) do not";
  }
  Child child({GORT_PROBE, "sigquit-handler"});
  ASSERT_TRUE(child.wait_for_line("ready")) << child.out();
  child.signal(SIGQUIT);
  ASSERT_TRUE(child.wait_exit()) << "the program's handler did not end its wait";
  ASSERT_TRUE(WIFEXITED(child.status())) << child.err();
  EXPECT_EQ(WEXITSTATUS(child.status()), 0) << child.err();
  EXPECT_NE(child.out().find("handler ran\n"), std::string::npos) << child.out();
  EXPECT_EQ(child.err().find("SIGQUIT"), std::string::npos) << child.err();
}

// A script's background job starts with SIGQUIT ignored: the runtime takes
// it over as Go does; ignoring it once running is the program's word.
TEST(Sigquit, InheritedIgnoreIsTakenOverAndTheProgramMayIgnoreItLater) {
  Child child({GORT_PROBE, "sigquit-ignored"});
  ASSERT_TRUE(child.wait_exit());
  ASSERT_TRUE(WIFEXITED(child.status())) << "status " << child.status() << "\n" << child.err();
  EXPECT_EQ(WEXITSTATUS(child.status()), 0) << child.err();
  EXPECT_EQ(child.out(), "taken over\nsurvived\n");
  EXPECT_EQ(child.err().find("SIGQUIT"), std::string::npos) << child.err();
}

// A SIGQUIT as soon as main runs, when the dump's thread may not have run
// yet: it must not be lost (it was: the request went only to a dumper that
// had said it was there). On one CPU (taskset) the new thread often has not
// run by then: that lost a quarter of these SIGQUITs.
TEST(Sigquit, ASigquitBeforeTheDumperRunsIsNotLost) {
  for (int i = 0; i < 20; ++i) {
    Child child({"/usr/bin/taskset", "-c", "0", GORT_PROBE, "sigquit-self"});
    ASSERT_TRUE(child.wait_exit()) << "run " << i << ": the SIGQUIT was lost";
    ASSERT_TRUE(WIFEXITED(child.status()) && WEXITSTATUS(child.status()) == 2) << child.status() << "\n" << child.err();
    ASSERT_EQ(child.err().rfind("SIGQUIT: quit\n", 0), 0u) << child.err();
  }
}

// GOTRACEBACK=crash: the dump, then death by SIGABRT (for a core file; none
// here: the children inherit a core size limit of 0).
TEST(Sigquit, GotracebackCrashAborts) {
  rlimit no_core{0, 0};
  ASSERT_EQ(setrlimit(RLIMIT_CORE, &no_core), 0);
  Child child({GORT_PROBE, "sigquit-spin"}, {{"GOMAXPROCS", "2"}, {"GOTRACEBACK", "crash"}});
  ASSERT_TRUE(child.wait_for_line("ready")) << child.out();
  child.signal(SIGQUIT);
  ASSERT_TRUE(child.wait_exit());
  ASSERT_TRUE(WIFSIGNALED(child.status())) << "status " << child.status() << "\n" << child.err();
  EXPECT_EQ(WTERMSIG(child.status()), SIGABRT);
  EXPECT_EQ(child.err().rfind("SIGQUIT: quit\n", 0), 0u) << child.err();
  EXPECT_NE(child.err().find("\ngoroutine 1 [sleep]:\n"), std::string::npos) << child.err();
}

}  // namespace
