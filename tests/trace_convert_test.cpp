// The Chrome Trace Event JSON of a trace (trace/chrome.h) against the
// "timeline" section of docs/trace.md, on the shared scenario of
// trace_builder.h: the document parses, the P and M tracks are named, each
// run of a goroutine is a slice on its P and on its M with the colour of how
// it ended, a GO_READY is a flow to the readied goroutine's next run, and a
// stop-the-world pause is drawn on every P. Also goroutine names from the
// MODULE records (this test binary stands in for the traced program).
#include <gtest/gtest.h>
#include <link.h>
#include <unistd.h>

#include <cmath>

#include "chrome.h"
#include "json_testing.h"
#include "names.h"
#include "reader.h"
#include "trace_builder.h"

// The runtime's invoke thunk (gort/runtime.h), reproduced so that this
// binary has symbols named like a gort program's: the names code finds the
// goroutine's function through it.
namespace gort::detail {
template <class Fn>
[[gnu::noinline]] void start(void* p) {
  (*static_cast<Fn*>(p))();
}
}  // namespace gort::detail

[[gnu::noinline]] void trace_convert_worker() { asm volatile(""); }

namespace {

using namespace gort::trace;
using json_testing::Json;
using json_testing::JsonParser;
using trace_testing::TraceBuilder;

// One entry of traceEvents, flattened.
struct Ch {
  std::string ph, name, cat, cname;
  int pid = 0;
  double tid = 0, ts = 0, dur = 0;
  const Json* j = nullptr;
};

class TraceConvert : public ::testing::Test {
 protected:
  void SetUp() override { load(trace_testing::scenario()); }

  void load(const TraceBuilder& b) {
    Trace t = parse_trace(b.bytes(), "t.bin");
    text_ = chrome_json(t);
    ASSERT_NO_THROW(doc_ = JsonParser(text_).parse()) << text_;
    all_.clear();
    for (const Json& e : doc_["traceEvents"].arr) {
      Ch c;
      c.ph = e["ph"].str;
      c.name = e["name"].str;
      c.cat = e["cat"].str;
      c.cname = e["cname"].str;
      c.pid = static_cast<int>(e["pid"].num);
      c.tid = e["tid"].num;
      c.ts = e["ts"].num;
      c.dur = e["dur"].num;
      c.j = &e;
      all_.push_back(c);
    }
  }

  std::vector<Ch> find(const std::string& ph, int pid, double tid = -1) const {
    std::vector<Ch> out;
    for (const Ch& c : all_)
      if (c.ph == ph && c.pid == pid && (tid < 0 || c.tid == tid)) out.push_back(c);
    return out;
  }
  std::string thread_name(int pid, double tid) const {
    for (const Ch& c : find("M", pid, tid))
      if (c.name == "thread_name") return (*c.j)["args"]["name"].str;
    return "";
  }

  std::string text_;
  Json doc_;
  std::vector<Ch> all_;
};

bool near(double a, double b) { return std::fabs(a - b) < 1e-9; }

TEST_F(TraceConvert, Document) {
  EXPECT_EQ(doc_.kind, Json::Object);
  EXPECT_EQ(doc_["displayTimeUnit"].str, "ns");
  const Json& other = doc_["otherData"];
  EXPECT_EQ(other["version"].num, GORT_TRACE_VERSION);  // the file's (the scenario is written with it)
  EXPECT_EQ(other["events"].num, 21);
  EXPECT_EQ(other["lost"].num, 0);
  EXPECT_EQ(other["goroutines"].num, 3);  // G1, G7, G8
  EXPECT_EQ(other["complete"].b, true);
  EXPECT_EQ(other["warnings"].arr.size(), 0u);
}

TEST_F(TraceConvert, TracksAreNamed) {
  EXPECT_EQ(thread_name(1, 0), "P0");
  EXPECT_EQ(thread_name(1, 1), "P1");
  EXPECT_EQ(thread_name(2, 0), "M0 (tid 100)");
  EXPECT_EQ(thread_name(2, 1), "M1 (tid 101)");
  EXPECT_EQ(thread_name(2, 2), "M2 (tid 102)");
  std::map<int, std::string> procs;
  for (int pid : {1, 2, 3})
    for (const Ch& c : find("M", pid))
      if (c.name == "process_name") procs[pid] = (*c.j)["args"]["name"].str;
  EXPECT_EQ(procs, (std::map<int, std::string>{{1, "Procs"}, {2, "Threads"}, {3, "STW"}}));
}

TEST_F(TraceConvert, RunSlicesOnPsAndMs) {
  struct Want {
    double tid;
    std::string name;
    double ts, dur;
    std::string cname, end;
  };
  // (µs since the first event at 1000 ns)
  const std::vector<Want> p0 = {{0, "G1", 0.2, 0.3, "grey", "parked (chan receive)"},
                                {0, "G7", 0.8, 0.1, "good", "returned"},
                                {0, "G8", 1.7, 0.1, "yellow", "gosched"}};
  const std::vector<Want> p1 = {{1, "G8", 0.6, 0.1, "bad", "preempted (async)"},
                                {1, "G8", 1.0, 0.1, "olive", "syscall"}};
  for (const auto& [pid, wants] : {std::pair{1, p0}, std::pair{1, p1}}) {
    for (const Want& w : wants) {
      SCOPED_TRACE(w.name + " " + w.end);
      int found = 0;
      for (const Ch& c : find("X", pid, w.tid)) {
        if (c.cat != "goroutine" || !near(c.ts, w.ts)) continue;
        found++;
        EXPECT_EQ(c.name, w.name);
        EXPECT_TRUE(near(c.dur, w.dur)) << c.dur;
        EXPECT_EQ(c.cname, w.cname);
        EXPECT_EQ((*c.j)["args"]["end"].str, w.end);
        EXPECT_EQ((*c.j)["args"]["goid"].num, std::stod(w.name.substr(1)));
      }
      EXPECT_EQ(found, 1);
    }
  }
  // The same runs on the Ms that ran them: G1, G7 and the last G8 on M0; G8 twice on M1.
  std::vector<std::string> m0, m1;
  for (const Ch& c : find("X", 2, 0)) m0.push_back(c.name + "@" + std::to_string(static_cast<int>(c.ts * 10)));
  for (const Ch& c : find("X", 2, 1)) m1.push_back(c.name + "@" + std::to_string(static_cast<int>(c.ts * 10)));
  EXPECT_EQ(m0, (std::vector<std::string>{"G1@2", "G7@8", "G8@17"}));
  EXPECT_EQ(m1, (std::vector<std::string>{"G8@6", "G8@10"}));
  EXPECT_TRUE(find("X", 2, 2).empty());  // sysmon runs no goroutine
}

TEST_F(TraceConvert, SyscallHoldsTheP) {
  // G8's syscall from 2100 until sysmon hands P1 off at 2200.
  int found = 0;
  for (const Ch& c : find("X", 1, 1)) {
    if (c.cat != "syscall") continue;
    found++;
    EXPECT_EQ(c.name, "syscall G8");
    EXPECT_TRUE(near(c.ts, 1.1));
    EXPECT_TRUE(near(c.dur, 0.1));
  }
  EXPECT_EQ(found, 1);
}

TEST_F(TraceConvert, ReadyIsAFlow) {
  std::vector<Ch> s, f;
  for (const Ch& c : all_) {
    if (c.ph == "s") s.push_back(c);
    if (c.ph == "f") f.push_back(c);
  }
  ASSERT_EQ(s.size(), 1u);
  ASSERT_EQ(f.size(), 1u);
  // From G1 on P0 at 1300 to G8's next run on P1 at 1600.
  EXPECT_EQ(s[0].cat, "ready");
  EXPECT_EQ(s[0].pid, 1);
  EXPECT_EQ(s[0].tid, 0);
  EXPECT_TRUE(near(s[0].ts, 0.3));
  EXPECT_EQ(f[0].cat, "ready");
  EXPECT_EQ(f[0].pid, 1);
  EXPECT_EQ(f[0].tid, 1);
  EXPECT_TRUE(near(f[0].ts, 0.6));
  EXPECT_EQ((*f[0].j)["bp"].str, "e");
  EXPECT_EQ((*s[0].j)["id"].num, (*f[0].j)["id"].num);
}

TEST_F(TraceConvert, StopTheWorldOnEveryP) {
  std::vector<std::pair<int, double>> where;
  for (const Ch& c : all_) {
    if (c.ph != "X" || c.cat != "stw") continue;
    EXPECT_EQ(c.name, "STW: gomaxprocs");
    EXPECT_TRUE(near(c.ts, 1.4));
    EXPECT_TRUE(near(c.dur, 0.2));
    where.emplace_back(c.pid, c.tid);
  }
  std::sort(where.begin(), where.end());
  EXPECT_EQ(where, (std::vector<std::pair<int, double>>{{1, 0}, {1, 1}, {3, 0}}));
}

TEST_F(TraceConvert, Instants) {
  std::map<std::string, std::pair<int, double>> got;
  for (const Ch& c : all_)
    if (c.ph == "i") got[c.name] = {c.pid, c.tid};
  EXPECT_EQ(got, (std::map<std::string, std::pair<int, double>>{
                     {"preempt G8 (async)", {1, 1}},
                     {"steal 2 from P0", {1, 1}},
                     {"handoff P1 from M1", {1, 1}},
                     {"netpoll: 3 ready", {2, 0}},
                 }));
}

// Strings from the file are untrusted: quotes, control bytes, invalid
// UTF-8 and "</script>" still make valid JSON.
TEST_F(TraceConvert, HostileStringsStayValidJson) {
  TraceBuilder b;
  b.string(5, "a\"b\\c\n\x01\xff\xc3(</script>");
  b.batch(0, 1, {{GORT_TRACE_EV_GO_START, 10, {3, 0}}, {GORT_TRACE_EV_GO_PARK, 20, {3, 5}},
                 {GORT_TRACE_EV_STW_BEGIN, 30, {5}}});
  load(b);
  EXPECT_EQ(text_.find("</script"), std::string::npos);
  bool found = false;
  for (const Ch& c : all_)
    if (c.ph == "X" && c.cat == "goroutine") {
      EXPECT_EQ((*c.j)["args"]["end"].str, "parked (a\"b\\c\n\x01\xEF\xBF\xBD\xEF\xBF\xBD(</script>)");
      found = true;
    }
  EXPECT_TRUE(found);
}

// A run without an end event is cut at the next start on its P; one still
// running at the end lasts until the end.
TEST_F(TraceConvert, SlicesWithoutAnEnd) {
  TraceBuilder b;
  b.batch(0, 1, {{GORT_TRACE_EV_GO_START, 100, {3, 0}}, {GORT_TRACE_EV_GO_START, 300, {4, 0}},
                 {GORT_TRACE_EV_M_SPIN, 400, {1}}});
  load(b);
  std::vector<std::string> got;
  for (const Ch& c : find("X", 1, 0))
    got.push_back(c.name + " " + std::to_string(static_cast<int>(c.dur * 1000)) + " " +
                  (*c.j)["args"]["end"].str + " [" + c.cname + "]");
  EXPECT_EQ(got, (std::vector<std::string>{"G3 200 unknown (next start) []", "G4 100 trace end []"}));
}

// Running when the trace started (GO_STATE, recorded by the thread that
// started it): the slice starts there, on the P and on the M the state
// names, though that M records nothing itself until the G is preempted. The
// M's track then has its tid; a waiting G draws nothing.
TEST_F(TraceConvert, RunningWhenTheTraceStarted) {
  TraceBuilder b;
  b.batch(0, 1, {{GORT_TRACE_EV_GO_EXISTING, 100, {3, 1, 0, 0}},
                 {GORT_TRACE_EV_GO_STATE, 100, {3, GORT_TRACE_GSTATE_RUNNING, 1, 2}},
                 {GORT_TRACE_EV_GO_EXISTING, 110, {4, 1, 0, 0}},
                 {GORT_TRACE_EV_GO_STATE, 110, {4, GORT_TRACE_GSTATE_WAITING, 1, GORT_TRACE_NO_M}}});
  b.batch(2, 77, {{GORT_TRACE_EV_GO_PREEMPT, 500, {3, GORT_TRACE_PREEMPT_ASYNC, 10'000'000}}});
  load(b);
  std::vector<std::string> got;
  for (int pid : {1, 2})
    for (const Ch& c : find("X", pid))
      got.push_back(std::to_string(pid) + ":" + std::to_string(static_cast<int>(c.tid)) + " " + c.name + " " +
                    std::to_string(static_cast<int>(c.ts * 1000)) + "+" + std::to_string(static_cast<int>(c.dur * 1000)) +
                    " " + (*c.j)["args"]["end"].str);
  EXPECT_EQ(got, (std::vector<std::string>{"1:1 G3 0+400 preempted (async)", "2:2 G3 0+400 preempted (async)"}));
  EXPECT_EQ(thread_name(2, 2), "M2 (tid 77)");
  EXPECT_EQ(doc_["otherData"]["goroutines"].num, 2);
}

// ---- Goroutine names ----

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

std::uint64_t self_bias() {
  std::uint64_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* out) {
        *static_cast<std::uint64_t*>(out) = info->dlpi_addr;
        return 1;  // the first is the executable
      },
      &bias);
  return bias;
}

TEST(TraceNames, FromTheModules) {
  auto lambda = [] { trace_convert_worker(); };
  using Lambda = decltype(lambda);
  using FnPtr = void (*)();
  const auto thunk_lambda = reinterpret_cast<std::uint64_t>(&gort::detail::start<Lambda>);
  const auto thunk_fn = reinterpret_cast<std::uint64_t>(&gort::detail::start<FnPtr>);
  const auto worker = reinterpret_cast<std::uint64_t>(&trace_convert_worker);

  TraceBuilder b;
  b.module(self_bias(), self_exe());
  b.module(0, "/nonexistent/libgone.so");
  b.batch(0, 1, {{GORT_TRACE_EV_GO_CREATE, 10, {7, 1, thunk_fn, worker}},
                 {GORT_TRACE_EV_GO_CREATE, 20, {8, 1, thunk_lambda, 0}},
                 {GORT_TRACE_EV_GO_CREATE, 30, {9, 1, 0x10, 0}},
                 {GORT_TRACE_EV_GO_START, 40, {7, 0}}});
  Trace t = parse_trace(b.bytes(), "t.bin");
  auto names = goroutine_names(t);
  EXPECT_EQ(goroutine_label(7, names), "G7 trace_convert_worker");
  const std::string g8 = goroutine_label(8, names);
  EXPECT_EQ(g8.rfind("G8 ", 0), 0u) << g8;
  // The lambda's type: "...::TestBody()::{lambda()#1}" (GCC) or "...::TestBody()::$_0" (clang).
  EXPECT_NE(g8.find("TestBody()::"), std::string::npos) << g8;
  EXPECT_EQ(goroutine_label(9, names), "G9");    // an address in no module
  EXPECT_EQ(goroutine_label(10, names), "G10");  // created before the trace
  EXPECT_NE(chrome_json(t).find("\"name\":\"G7 trace_convert_worker\""), std::string::npos);
}

TEST(TraceNames, Shortened) {
  EXPECT_EQ(short_goroutine_name("(anonymous namespace)::skynet(gort::Chan<long>, long, long, long)::{lambda()#1}"),
            "skynet(...)::{lambda()#1}");
  EXPECT_EQ(short_goroutine_name("main()::{lambda()#1}"), "main()::{lambda()#1}");
  EXPECT_EQ(short_goroutine_name("std::function<void (int)>"), "std::function<void (int)>");
  EXPECT_EQ(short_goroutine_name("ns::outer(int)::inner(char)::{lambda(int)#2}"), "ns::outer(...)::inner(...)::{lambda(int)#2}");
  EXPECT_EQ(short_goroutine_name(std::string(200, 'x')).size(), 80u);
}

TEST(TraceNames, MissingFilesGiveNumbersOnly) {
  TraceBuilder b;
  b.module(0, "/nonexistent/prog");
  b.module(0, "relative/path");
  b.module(0, "/dev/null");  // not a regular file: never opened
  b.batch(0, 1, {{GORT_TRACE_EV_GO_CREATE, 10, {7, 1, 0x401000, 0x401000}}});
  auto names = goroutine_names(parse_trace(b.bytes(), "t.bin"));
  EXPECT_EQ(goroutine_label(7, names), "G7");
}

}  // namespace

namespace {

// write_chrome_json streams the document chrome_json returns, byte for byte.
TEST_F(TraceConvert, StreamedDocumentIsTheSame) {
  Trace t = parse_trace(trace_testing::scenario().bytes(), "t.bin");
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(write_chrome_json(t, f));
  std::string streamed;
  std::rewind(f);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) streamed.append(buf, n);
  std::fclose(f);
  EXPECT_EQ(streamed, chrome_json(t));
}

}  // namespace
