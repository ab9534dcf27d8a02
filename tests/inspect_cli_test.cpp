// The gort CLI's process commands (goroutines, goroutine, threads, procs,
// sched) against a running examples/inspectee, as a user runs them: what
// they print is compared with what the inspectee announces about itself
// (how many goroutines run which function, in which state and wait reason)
// and with what /proc says about the process. Then the same through
// --stop (the target must run on afterwards: no thread left stopped or
// traced) and through a core file made with gcore. Bad input: each gives
// one line on stderr and exit status 1 (2 for usage errors).
#include <elf.h>
#include <gelf.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <sys/stat.h>

#include <cstddef>
#include <filesystem>
#include <set>

#include "gort/debug_layout.h"
#include "gort/inspect/error.h"
#include "gort/inspect/snapshot.h"
#include "gort/inspect/target.h"
#include "inspect_testing.h"
#include "json_testing.h"

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

using namespace inspect_testing;

using json_testing::Json;
using json_testing::JsonParser;

// ---- What the CLI prints ----

// `  Goroutine 7 - User: file:42 worker (0x55d0c1e2a1b3) [chan receive]`
// or `... (thread 1234)` for a running one; -t adds frame lines below it.
struct GLine {
  long long id = 0;
  std::string file, func, pc, status;  // status: the bracketed text, or "" if running
  int line = 0;
  pid_t thread = 0;
  std::vector<std::string> frames;  // the function of each -t frame
};

std::vector<GLine> parse_goroutines(const std::string& out) {
  static const std::regex g(R"(^  Goroutine (\d+) - User: (.+):(\d+) (.+) \((0x[0-9a-f]+)\) (\[(.*)\]|\(thread (\d+)\))$)");
  static const std::regex frame(R"(^\t\d+  0x[0-9a-f]{16} in (.+)$)");
  std::vector<GLine> gs;
  for (const std::string& l : lines(out)) {
    std::smatch m;
    if (std::regex_match(l, m, g)) {
      GLine x;
      x.id = std::stoll(m[1]);
      x.file = m[2];
      x.line = std::stoi(m[3]);
      x.func = m[4];
      x.pc = m[5];
      x.status = m[7];
      if (m[8].matched) x.thread = std::stoi(m[8]);
      gs.push_back(x);
    } else if (std::regex_match(l, m, frame) && !gs.empty()) {
      gs.back().frames.push_back(m[1]);
    }
  }
  return gs;
}

// "sleeper()" -> "sleeper": JSON has the full names, the text short ones.
std::string short_name(const std::string& f) {
  std::size_t paren = f.find('(');
  return paren == std::string::npos || f.back() != ')' ? f : f.substr(0, paren);
}

bool has_frame(const GLine& g, const std::string& fn) {
  return std::find(g.frames.begin(), g.frames.end(), fn) != g.frames.end();
}

// Whether g's state is one of a role's states ("running|runnable").
bool in_states(const GLine& g, const std::string& states) {
  std::string s = g.thread != 0 ? "running" : g.status;
  if (s == "preempted") s = "runnable";  // asynchronously preempted: runnable again once resumed
  std::istringstream in(states);
  for (std::string one; std::getline(in, one, '|');)
    if (one == s) return true;
  return false;
}

// The listing matches the inspectee's own account: the total, and per
// role how many goroutines show its function in one of its states.
void expect_matches(const std::vector<GLine>& gs, const Expectations& want, const std::string& text) {
  EXPECT_EQ(static_cast<int>(gs.size()), want.goroutines) << text;
  for (const Expectations::Role& r : want.roles) {
    int n = 0;
    for (const GLine& g : gs) {
      // The function, or a lambda in it (blocking_reader's system call:
      // "blocking_reader::{lambda}::operator()" from GCC's DWARF,
      // "blocking_reader()::$_0::operator()" from clang's).
      if (g.func != r.fn && g.func.rfind(r.fn + "::", 0) != 0 && g.func.rfind(r.fn + "()::", 0) != 0) continue;
      ++n;
      EXPECT_TRUE(in_states(g, r.states)) << "goroutine " << g.id << " (" << r.fn << ") is [" << g.status
                                          << "], expected " << r.states << "\n" << text;
      EXPECT_NE(g.file.find("examples/inspectee.cpp"), std::string::npos) << text;
    }
    EXPECT_EQ(n, r.count) << r.fn << "\n" << text;
  }
}

void expect_one_error_line(const Result& r, int status, const std::string& contains) {
  EXPECT_EQ(r.status, status) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  EXPECT_EQ(r.err.rfind("gort", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(contains), std::string::npos) << r.err;
}

class InspectCli : public InspecteeTest {
 protected:
  // gort goroutines, parsed; fails the test if it did not succeed.
  std::vector<GLine> goroutines(std::vector<std::string> extra, std::string* text = nullptr) {
    std::vector<std::string> args = {"goroutines", pid()};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = gort_cli(args);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find("\n[" + std::to_string(want_.goroutines) + " goroutines]\n"), std::string::npos) << r.out;
    if (text) *text = r.out;
    return parse_goroutines(r.out);
  }

  // The first goroutine shown running fn.
  static const GLine* find(const std::vector<GLine>& gs, const std::string& fn) {
    for (const GLine& g : gs)
      if (g.func == fn) return &g;
    return nullptr;
  }
};

const char* const kParkedRoles[] = {"sleeper", "mutex_waiter", "wg_waiter", "chan_receiver", "chan_sender", "selector"};

TEST_F(InspectCli, GoroutinesListsWhatTheInspecteeAnnounces) {
  std::string text;
  std::vector<GLine> gs = goroutines({}, &text);
  expect_matches(gs, want_, text);
  std::set<pid_t> live = tasks(want_.pid);
  for (const GLine& g : gs)
    if (g.thread != 0) {
      EXPECT_TRUE(live.count(g.thread)) << "goroutine " << g.id << " on thread " << g.thread;
    }
  // IDs from 1, in order, each once.
  for (std::size_t i = 0; i < gs.size(); ++i) EXPECT_EQ(gs[i].id, static_cast<long long>(i + 1)) << text;
}

TEST_F(InspectCli, BacktracesOfParkedGoroutinesReachTheirStartFunction) {
  std::string text;
  std::vector<GLine> gs = goroutines({"-t", "30"}, &text);
  expect_matches(gs, want_, text);
  for (const GLine& g : gs) {
    if (g.thread != 0 || g.status == "runnable" || g.status == "preempted") continue;
    // plain_reader is in a system call gort did not see: its walk starts
    // from the sp and pc where it entered the kernel, without rbp, and
    // under a sanitizer stops at its read interceptor (a frame-pointer
    // frame); its User location is then where it started.
    if (g.func == "plain_reader" && kSanitized) {
      EXPECT_TRUE(has_frame(g, "read")) << "goroutine " << g.id << "\n" << text;
      continue;
    }
    EXPECT_TRUE(has_frame(g, g.func)) << "goroutine " << g.id << "\n" << text;
    if (g.func != "inspectee_main") {
      EXPECT_TRUE(has_frame(g, "gort_gostart")) << "goroutine " << g.id << "\n" << text;
    }
  }
}

TEST_F(InspectCli, GroupCountsIdenticalStacks) {
  Result r = gort_cli({"goroutines", pid(), "--group"});
  ASSERT_EQ(r.status, 0) << r.err;
  // The three sleepers park at the same place, so do the two senders.
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)3 goroutines \[sleep\]: Goroutine \d+ - User: .*:\d+ sleeper )")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)2 goroutines \[chan send\]: Goroutine \d+ - User: .* chan_sender )")))
      << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\n\[(\d+) goroutines, (\d+) groups\]\n$)"))) << r.out;
  EXPECT_EQ(std::stoi(m[1]), want_.goroutines);
  EXPECT_LT(std::stoi(m[2]), want_.goroutines);
}

TEST_F(InspectCli, JsonParsesAndEveryParkedGobufIsInsideItsStack) {
  Result r = gort_cli({"goroutines", pid(), "--json", "-t", "20"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json doc;
  ASSERT_NO_THROW(doc = JsonParser(r.out).parse()) << r.out;
  EXPECT_EQ(doc["target"].str, "process " + pid());
  const Json& gs = doc["goroutines"];
  ASSERT_EQ(static_cast<int>(gs.arr.size()), want_.goroutines) << r.out;
  std::map<std::string, int> by_user;
  for (const Json& g : gs.arr) {
    std::string id = std::to_string(static_cast<long long>(g["id"].num));
    std::string user = short_name(g["user"]["func"].str);
    by_user[user]++;
    std::uint64_t lo = g["stack"]["lo"].hex(), hi = g["stack"]["hi"].hex();
    EXPECT_LT(lo, hi) << id;
    if (g["status"].str == "running" || g["status"].str == "syscall") continue;
    std::uint64_t sp = g["gobuf"]["sp"].hex();
    EXPECT_GE(sp, lo) << "goroutine " << id;
    EXPECT_LT(sp, hi) << "goroutine " << id;
    // A runnable G (the yielders, a preempted spinner) runs on while the
    // inspector reads: between the snapshot and the stack read it may have
    // run and switched out elsewhere, or be running (no frames without
    // --stop). A parked one stays put: its gobuf pc is where it resumes,
    // the first frame of its stack.
    if (g["status"].str != "waiting") continue;
    ASSERT_FALSE(g["frames"].arr.empty()) << id;
    EXPECT_EQ(g["frames"].arr[0]["pc"].str, g["gobuf"]["pc"].str) << "goroutine " << id;
    if (g["status"].str == "waiting") {
      EXPECT_FALSE(g["waitreason"].str.empty()) << id;
      // Started by the same function it is parked in (main's start is
      // gort::run's wrapper).
      if (user != "inspectee_main") {
        EXPECT_EQ(short_name(g["start"]["func"].str), user) << id;
      }
    }
  }
  for (const Expectations::Role& role : want_.roles) EXPECT_EQ(by_user[role.fn], role.count) << role.fn;
}

TEST_F(InspectCli, GoroutineShowsEachKindOfParkedGoroutineInFull) {
  std::vector<GLine> gs = goroutines({});
  for (const char* fn : kParkedRoles) {
    const GLine* g = find(gs, fn);
    ASSERT_NE(g, nullptr) << fn;
    Result r = gort_cli({"goroutine", pid(), std::to_string(g->id)});
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string& o = r.out;
    EXPECT_EQ(o.rfind("Goroutine " + std::to_string(g->id) + ":\n", 0), 0u) << o;
    EXPECT_NE(o.find("\tStatus:     waiting [" + g->status), std::string::npos) << o;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(o, m, std::regex(R"(\tGobuf:      sp=(0x[0-9a-f]+) pc=(0x[0-9a-f]+) bp=0x[0-9a-f]+\n)")))
        << o;
    std::uint64_t sp = std::stoull(m[1], nullptr, 16);
    std::string pc = m[2];
    ASSERT_TRUE(std::regex_search(o, m, std::regex(R"(\tStack:      \[(0x[0-9a-f]+), (0x[0-9a-f]+)\) \d+ KiB)"))) << o;
    EXPECT_GE(sp, std::stoull(m[1], nullptr, 16)) << o;
    EXPECT_LT(sp, std::stoull(m[2], nullptr, 16)) << o;
    EXPECT_NE(o.find("\tM:          none\n"), std::string::npos) << o;
    EXPECT_NE(o.find("\tCreated by: inspectee_main at "), std::string::npos) << o;
    EXPECT_NE(o.find(std::string("\tStart:      ") + fn + " at "), std::string::npos) << o;
    // The backtrace starts at the gobuf's pc and passes through fn.
    ASSERT_TRUE(std::regex_search(o, m, std::regex(R"(Backtrace:\n\t0  0x0*([0-9a-f]+) in )"))) << o;
    EXPECT_EQ("0x" + m[1].str(), pc) << o;
    EXPECT_NE(o.find(std::string(" in ") + fn + "\n"), std::string::npos) << o;
  }
}

TEST_F(InspectCli, GoroutineOfMainHasNoCreator) {
  Result r = gort_cli({"goroutine", pid(), "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\tStatus:     waiting [sleep"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Created by"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" in inspectee_main\n"), std::string::npos) << r.out;
}

TEST_F(InspectCli, ThreadsProcsAndSchedDescribeTheScheduler) {
  Result t = gort_cli({"threads", pid()});
  ASSERT_EQ(t.status, 0) << t.err;
  static const std::regex mline(R"(^  M(\d+) thread (\d+)( sysmon)?: p=(-?\d+) curg=(-?\d+) spinning=(true|false) .*)");
  std::set<pid_t> live = tasks(want_.pid);
  std::set<int> ps;
  int ms = 0, sysmons = 0;
  for (const std::string& l : lines(t.out)) {
    std::smatch m;
    if (!std::regex_match(l, m, mline)) continue;
    ++ms;
    if (m[3].matched) ++sysmons;
    if (l.find("(exited)") == std::string::npos && l.find("(starting") == std::string::npos) {
      EXPECT_TRUE(live.count(std::stoi(m[2]))) << l;
    }
    int p = std::stoi(m[4]);
    if (p >= 0) {
      EXPECT_LT(p, want_.gomaxprocs) << l;
      EXPECT_TRUE(ps.insert(p).second) << "P" << p << " on two Ms\n" << t.out;
    }
  }
  EXPECT_EQ(sysmons, 1) << t.out;
  EXPECT_GE(ms, want_.gomaxprocs + 1) << t.out;
  // plain_reader blocks its thread in read(2) without gort::syscall: its M
  // runs it without a P, shown blocked.
  int outside = 0;
  for (const std::string& l : lines(t.out)) {
    if (l.find("(outside gort::syscall: sysmon took its P)") == std::string::npos) continue;
    ++outside;
    EXPECT_NE(l.find(": p=-1 curg="), std::string::npos) << l;
    EXPECT_EQ(l.find("curg=-1"), std::string::npos) << l;
    EXPECT_NE(l.find(" blocked=true "), std::string::npos) << l;
  }
  EXPECT_EQ(outside, 1) << t.out;
  EXPECT_TRUE(std::regex_search(t.out, std::regex("\n\\[" + std::to_string(ms) + " threads(, \\d+ exited)?\\]\n$")))
      << t.out;

  Result p = gort_cli({"procs", pid()});
  ASSERT_EQ(p.status, 0) << p.err;
  int prows = 0;
  for (const std::string& l : lines(p.out))
    if (std::regex_match(l, std::regex(R"(^  P\d+ \w+: m=-?\d+ schedtick=\d+ .*)"))) ++prows;
  EXPECT_EQ(prows, want_.gomaxprocs) << p.out;
  EXPECT_TRUE(std::regex_search(p.out, std::regex(R"(\n\[2 procs, global runqueue \d+\]\n$)"))) << p.out;

  Result s = gort_cli({"sched", pid()});
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_TRUE(std::regex_search(s.out, std::regex(R"(^SCHED \d+ms: gomaxprocs=2 idleprocs=\d+ threads=\d+ )"))) << s.out;
  std::map<std::string, int> reasons;
  int grows = 0;
  for (const std::string& l : lines(s.out)) {
    std::smatch m;
    if (!std::regex_match(l, m, std::regex(R"(^  G\d+: status=(\d+)\(([^)]*)\) m=-?\d+ lockedm=-?\d+$)"))) continue;
    ++grows;
    if (m[1] == "4") reasons[m[2]]++;
  }
  EXPECT_EQ(grows, want_.goroutines) << s.out;
  for (const auto& [state, n] : want_.by_state)
    if (state != "running|runnable" && state != "syscall") {
      EXPECT_EQ(reasons[state], n) << state << "\n" << s.out;
    }
}

TEST_F(InspectCli, StopShowsRunningStacksAndLeavesTheTargetRunning) {
  std::string text;
  std::vector<GLine> gs = goroutines({"--stop", "-t", "30"}, &text);
  expect_matches(gs, want_, text);
  int running = 0;
  for (const GLine& g : gs) {
    if (g.thread == 0) continue;
    ++running;
    // Stopped, a running G's stack is read from its thread's registers.
    EXPECT_FALSE(g.frames.empty()) << "goroutine " << g.id << "\n" << text;
    EXPECT_TRUE(has_frame(g, g.func)) << "goroutine " << g.id << "\n" << text;
  }
  // Usually the spinners, but both Ms may be between goroutines just then.
  EXPECT_LE(running, want_.gomaxprocs) << text;
  expect_running_untraced();

  // threads --stop adds each thread's pc.
  Result t = gort_cli({"threads", pid(), "--stop"});
  ASSERT_EQ(t.status, 0) << t.err;
  int stopped = 0;
  for (const std::string& l : lines(t.out)) {
    if (l.rfind("  M", 0) != 0 || l.find("(exited)") != std::string::npos || l.find("(starting") != std::string::npos)
      continue;
    ++stopped;
    EXPECT_TRUE(std::regex_search(l, std::regex(R"(state=t \(tracing stop\) at 0x[0-9a-f]+ )"))) << l;
  }
  EXPECT_GE(stopped, want_.gomaxprocs + 1) << t.out;
  expect_running_untraced();
}

TEST_F(InspectCli, CoreFileShowsTheSameGoroutines) {
  TempDir dir("inspect_cli_test");
  ASSERT_FALSE(dir.path().empty());
  std::string skip, error;
  std::string core = make_core(want_.pid, dir.path(), &skip, &error);
  inspectee_->kill_and_reap();
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_TRUE(error.empty()) << error;

  Result r = gort_cli({"goroutines", "--core", core, "--exe", GORT_INSPECTEE, "-t", "30"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<GLine> gs = parse_goroutines(r.out);
  expect_matches(gs, want_, r.out);
  for (const GLine& g : gs) {
    if (g.status == "runnable" || g.status == "preempted" || g.status == "syscall") continue;
    // Parked or running (registers from the core's thread notes): a full stack.
    EXPECT_TRUE(has_frame(g, g.func)) << "goroutine " << g.id << "\n" << r.out;
  }
  const GLine* mw = find(gs, "mutex_waiter");
  ASSERT_NE(mw, nullptr);
  Result one = gort_cli({"goroutine", "--core", core, "--exe", GORT_INSPECTEE, std::to_string(mw->id)});
  ASSERT_EQ(one.status, 0) << one.err;
  EXPECT_NE(one.out.find("\tStatus:     waiting [sync.Mutex.Lock]\n"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find(" in mutex_waiter\n"), std::string::npos) << one.out;
}

// The CLI interrupted while it holds the target stopped: it resumes and
// detaches it before dying of the signal. To catch it in the act, the CLI
// is itself stopped (SIGSTOP) once the target's threads are traced, and
// only then sent SIGINT and SIGCONT; the handler runs before anything else
// the CLI would do. If it had already finished reading, it is tried again.
class InspectCliSignal : public InspecteeTest {
 protected:
  std::vector<std::string> inspectee_args() const override { return {"--goroutines", "3000"}; }
};

bool traced_by(pid_t target, pid_t tracer) {
  for (pid_t tid : tasks(target))
    if (task_status(target, tid, "TracerPid") == std::to_string(tracer)) return true;
  return false;
}

TEST_F(InspectCliSignal, SigintWhileStoppedDetachesTheTarget) {
  bool caught = false;
  for (int attempt = 0; attempt < 20 && !caught; ++attempt) {
    Process cli({GORT_CLI, "goroutines", pid(), "--stop", "-t", "100"}, {});
    const auto deadline = Clock::now() + kDeadline;
    bool exited = false;
    while (!traced_by(want_.pid, cli.pid())) {
      int st;
      if (waitpid(cli.pid(), &st, WNOHANG) == cli.pid()) {  // done before we looked
        exited = true;
        break;
      }
      ASSERT_LT(Clock::now(), deadline) << "gort never stopped the target";
      std::this_thread::yield();
    }
    if (exited) continue;
    kill(cli.pid(), SIGSTOP);
    int st = 0;
    ASSERT_EQ(waitpid(cli.pid(), &st, WUNTRACED), cli.pid());
    if (!WIFSTOPPED(st)) continue;      // it exited just before the SIGSTOP
    caught = traced_by(want_.pid, cli.pid());  // still holding the target?
    kill(cli.pid(), SIGINT);
    kill(cli.pid(), SIGCONT);
    ASSERT_TRUE(cli.finish());
    if (!caught) continue;
    EXPECT_TRUE(WIFSIGNALED(cli.status()) && WTERMSIG(cli.status()) == SIGINT) << "status " << cli.status();
  }
  if (!caught) GTEST_SKIP() << "gort finished reading before it could be interrupted, 20 times";
  for (pid_t tid : tasks(want_.pid)) {
    EXPECT_EQ(task_status(want_.pid, tid, "TracerPid"), "0") << "thread " << tid << " still traced";
    std::string state = task_status(want_.pid, tid, "State");
    EXPECT_TRUE(state.rfind("R", 0) == 0 || state.rfind("S", 0) == 0) << "thread " << tid << ": " << state;
  }
  // And it runs on: its goroutines are all still there.
  Result r = gort_cli({"goroutines", pid()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\n[" + std::to_string(want_.goroutines) + " goroutines]\n"), std::string::npos);
}

// ---- Bad input ----

TEST_F(InspectCli, NoSuchGoroutine) {
  expect_one_error_line(gort_cli({"goroutine", pid(), "999999"}), 1, "has no goroutine 999999");
  expect_one_error_line(gort_cli({"goroutine", pid(), "seven"}), 2, "'seven' is not a goroutine ID");
}

TEST(InspectCliBadTarget, NoTarget) {
  for (const char* cmd : {"goroutines", "goroutine", "threads", "procs", "sched"})
    expect_one_error_line(gort_cli({cmd}), 2, "");
}

TEST(InspectCliBadTarget, NoSuchProcess) {
  // pid_max itself is never a process ID (they stay below it).
  std::ifstream f("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  ASSERT_TRUE(f >> pid_max);
  for (const char* cmd : {"goroutines", "threads", "procs", "sched"})
    expect_one_error_line(gort_cli({cmd, std::to_string(pid_max)}), 1, "no such process " + std::to_string(pid_max));
}

TEST(InspectCliBadTarget, NotAGortProgram) {
  int in[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  Process cat({"/bin/cat"}, {}, in[0]);
  close(in[0]);
  // cat echoes a line once it runs its own code (not the exec in progress).
  ASSERT_EQ(write(in[1], "x\n", 2), 2);
  ASSERT_TRUE(cat.read_until([](const std::string& s) { return s == "x\n"; }));
  std::string p = std::to_string(cat.pid());
  expect_one_error_line(gort_cli({"goroutines", p}), 1, "is not a gort program");
  expect_one_error_line(gort_cli({"goroutines", p, "--stop"}), 1, "is not a gort program");
  EXPECT_EQ(task_status(cat.pid(), cat.pid(), "TracerPid"), "0");
  close(in[1]);
}

TEST(InspectCliBadTarget, ZombieSaysItExited) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  // Not reaped yet: a zombie until waitpid below. Wait until it is one.
  siginfo_t si{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &si, WEXITED | WNOWAIT), 0);
  expect_one_error_line(gort_cli({"goroutines", std::to_string(child)}), 1, "has exited");
  int st;
  waitpid(child, &st, 0);
}

TEST_F(InspectCli, TargetExitingBetweenReadsIsOneError) {
  auto target = gort::inspect::open_process(want_.pid, false);
  inspectee_->kill_and_reap();
  try {
    gort::inspect::read_snapshot(*target);
    FAIL() << "read a snapshot of a process that is gone";
  } catch (const gort::inspect::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("process " + pid() + " exited while being read"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

// A copy of the inspectee whose debug descriptor says another version.
std::string copy_with_descriptor_version(const std::string& dir, std::uint32_t version) {
  std::string out = dir + "/inspectee-v" + std::to_string(version);
  std::filesystem::copy_file(GORT_INSPECTEE, out, std::filesystem::copy_options::overwrite_existing);
  int fd = open(out.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return {};
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  std::size_t shstrndx = 0;
  off_t at = -1;
  if (elf != nullptr && elf_getshdrstrndx(elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr sh;
      const char* name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : nullptr;
      if (name && std::string(name) == ".gort_debug")
        at = static_cast<off_t>(sh.sh_offset + offsetof(gort_debug_descriptor, version));
    }
  }
  if (elf) elf_end(elf);
  bool ok = at >= 0 && pwrite(fd, &version, sizeof version, at) == sizeof version;
  close(fd);
  return ok ? out : std::string();
}

TEST(InspectCliBadTarget, AnotherDescriptorVersionNamesBoth) {
  TempDir dir("inspect_cli_test");
  ASSERT_FALSE(dir.path().empty());
  std::string exe = copy_with_descriptor_version(dir.path(), GORT_DEBUG_VERSION + 41);
  ASSERT_FALSE(exe.empty()) << "no .gort_debug section in " << GORT_INSPECTEE;
  Process p({exe}, {{"GOMAXPROCS", "2"}});
  ASSERT_TRUE(p.read_until([](const std::string& s) { return s.find("\nready\n") != std::string::npos; })) << p.out();
  std::string v = std::to_string(GORT_DEBUG_VERSION + 41), ours = std::to_string(GORT_DEBUG_VERSION);
  Result r = gort_cli({"goroutines", std::to_string(p.pid())});
  expect_one_error_line(r, 1, "of version " + v + "; this gort reads version " + ours);
}

// gort as an unprivileged user against the inspectee (ours, as root): the
// message says what to do. Needs root, to be able to become someone else.
TEST_F(InspectCli, PermissionDeniedSaysWhatToDo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run gort as another user";
  // A copy of the CLI that user 65534 may run: the build tree may be in a
  // folder only we can enter (a scratch clone made with mkdtemp).
  TempDir dir("gort-cli-test", "/tmp");
  ASSERT_FALSE(dir.path().empty());
  std::string cli = dir.path() + "/gort";
  std::filesystem::copy_file(GORT_CLI, cli);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(chmod(cli.c_str(), 0755), 0);
  int out = memfd_create("out", MFD_CLOEXEC), err = memfd_create("err", MFD_CLOEXEC);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(out, 1);
    dup2(err, 2);
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(126);
    execl(cli.c_str(), cli.c_str(), "goroutines", std::to_string(want_.pid).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  waitpid(child, &st, 0);
  Result r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp_fd(out);
  r.err = slurp_fd(err);
  close(out);
  close(err);
  ASSERT_NE(r.status, 126) << "cannot become user 65534";
  ASSERT_NE(r.status, 127) << "user 65534 cannot run " << cli;
  expect_one_error_line(r, 1, "cannot read process " + pid());
  EXPECT_TRUE(r.err.find("ptrace_scope") != std::string::npos || r.err.find("run gort as") != std::string::npos)
      << r.err;
}

TEST(InspectCliHelp, EveryCommandHasHelp) {
  for (const char* cmd : {"elf", "goroutines", "goroutine", "threads", "procs", "sched", "top"}) {
    Result r = gort_cli({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd << ": " << r.err;
    EXPECT_EQ(r.out.rfind(std::string("Usage: gort ") + cmd + " ", 0), 0u) << r.out;
  }
  Result r = gort_cli({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("goroutines"), std::string::npos);
  expect_one_error_line(gort_cli({"frobnicate"}), 2, "frobnicate");
}

}  // namespace
