// gort trace PID: live tracing of a running gort program from outside
// (cli/trace_live.cpp, runtime/trace_control.cpp). The target is
// examples/inspectee: it goes on running, untraced, and the file it wrote
// is a complete trace in which the scheduler's invariants hold.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <map>
#include <string>

#include "gort/trace_format.h"
#include "inspect_testing.h"
#include "trace_testing.h"
#include "timeline.h"
#include "validate.h"

namespace {

using namespace inspect_testing;
namespace tr = gort::trace;

class TraceLive : public InspecteeTest {
 protected:
  void SetUp() override {
    InspecteeTest::SetUp();
    dir_ = std::make_unique<TempDir>("trace_live");
  }
  std::string pid() const { return std::to_string(want_.pid); }
  std::string file(const char* name) const { return dir_->path() + "/" + name; }

  void expect_good_trace(const std::string& path, bool ran = true) {
    tr::Trace t = tr::read_trace(path);
    trace_testing::expect_complete_and_valid(t);
    // The inspectee's spinners hold the Ps all the time: goroutines run in
    // the trace, from its start (GO_STATE) if nothing else. (Under ASan
    // and a loaded machine 200 ms can pass without a switch: the
    // spinners' signals land in the sanitizer's code, no safe point.)
    if (ran) {
      EXPECT_GT(tr::build_timeline(t).slices.size(), 0u);
    }
  }

  std::unique_ptr<TempDir> dir_;
};

TEST_F(TraceLive, RecordsForTheDurationAndLeavesTheTargetRunning) {
  for (const char* name : {"one.trace", "two.trace"}) {  // and again: nothing was left behind
    Result r = gort_cli({"trace", pid(), "--duration", "200ms", "-o", file(name)});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("gort trace: recorded 0."), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Open it: gort trace " + file(name) + " --html"), std::string::npos) << r.out;
    expect_good_trace(file(name));
    expect_running_untraced();
  }
  // It begins with every goroutine alive (GO_EXISTING) and what it was doing
  // (GO_STATE): the parked ones by their wait reasons, though they record
  // nothing else while the trace runs.
  tr::Trace t = tr::read_trace(file("one.trace"));
  std::map<std::string, int> waiting;
  int existing = 0;
  for (const tr::Event& e : t.events) {
    if (e.type == GORT_TRACE_EV_GO_EXISTING) existing++;
    if (e.type == GORT_TRACE_EV_GO_STATE && e.arg(1) == GORT_TRACE_GSTATE_WAITING) waiting[t.str(e.arg(2))]++;
  }
  EXPECT_EQ(existing, want_.goroutines);
  for (const char* reason : {"chan receive", "chan send", "select", "sync.Mutex.Lock", "semacquire", "IO wait"})
    EXPECT_EQ(waiting[reason], want_.by_state[reason]) << reason;
  // And the CLI reads what it recorded.
  Result c = gort_cli({"trace", file("one.trace"), "--check"});
  EXPECT_EQ(c.status, 0) << c.out << c.err;
}

// Ctrl-C stops the recording early and still completes the file.
TEST_F(TraceLive, InterruptedRecordingIsComplete) {
  Process cli({GORT_CLI, "trace", pid(), "--duration", "60s", "-o", file("int.trace")}, {});
  // The file exists once the process has started recording.
  struct stat st;
  for (int i = 0; i < 5000 && ::stat(file("int.trace").c_str(), &st) != 0; ++i) ::usleep(1000);
  ASSERT_EQ(::stat(file("int.trace").c_str(), &st), 0) << "the process never started recording";
  ::kill(cli.pid(), SIGINT);
  ASSERT_TRUE(cli.finish());
  EXPECT_TRUE(WIFEXITED(cli.status()) && WEXITSTATUS(cli.status()) == 0) << cli.err();
  EXPECT_NE(cli.out().find("(interrupted)"), std::string::npos) << cli.out();
  expect_good_trace(file("int.trace"), /*ran=*/false);  // it may have been stopped at once
  expect_running_untraced();
}

TEST_F(TraceLive, BadRequestsAreOneLine) {
  Result nofile = gort_cli({"trace", pid()});
  EXPECT_EQ(nofile.status, 2);
  EXPECT_NE(nofile.err.find("needs -o FILE"), std::string::npos) << nofile.err;
  Result baddir = gort_cli({"trace", pid(), "-o", "/nonexistent-dir/x.trace"});
  EXPECT_EQ(baddir.status, 1);
  EXPECT_EQ(lines(baddir.err).size(), 1u) << baddir.err;
  // The process cannot write there: it says so, and is not left tracing.
  Result denied = gort_cli({"trace", pid(), "--duration", "10ms", "-o", "/proc/x.trace"});
  EXPECT_EQ(denied.status, 1);
  EXPECT_NE(denied.err.find("cannot trace: /proc/x.trace"), std::string::npos) << denied.err;
  Result ok = gort_cli({"trace", pid(), "--duration", "10ms", "-o", file("after.trace")});
  EXPECT_EQ(ok.status, 0) << ok.err;
  expect_running_untraced();
}

}  // namespace
