// `gort trace FILE` as a user runs it, on synthetic trace files: the JSON
// timeline (checked by python3's json module too, when there is one), the
// HTML page, the summary, --check, and bad input: each gives one line on
// stderr and exit status 1 (2 for usage errors).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "command_testing.h"
#include "json_testing.h"
#include "trace_builder.h"

namespace {

using command_testing::lines;
using command_testing::Result;
using command_testing::run;
using json_testing::Json;
using json_testing::JsonParser;
using trace_testing::TraceBuilder;

class TraceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/trace_cli_test." + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    good_ = dir_ + "/good.bin";
    trace_testing::scenario().write(good_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Result gort(std::vector<std::string> args) {
    args.insert(args.begin(), {GORT_CLI, "trace"});
    return run(args);
  }
  // One error line on stderr, exit status `status`.
  static void expect_error(const Result& r, int status, const std::string& line) {
    EXPECT_EQ(r.status, status) << r.err;
    EXPECT_EQ(r.err, line + "\n");
    EXPECT_EQ(r.out, "");
  }

  std::string dir_, good_;
};

TEST_F(TraceCli, JsonTimeline) {
  const std::string out = dir_ + "/out.json";
  Result r = gort({good_, "-o", out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find(out + ": 21 events"), std::string::npos) << r.out;
  const std::string text = command_testing::read_file(out);
  Json j;
  ASSERT_NO_THROW(j = JsonParser(text).parse());
  EXPECT_EQ(j["otherData"]["events"].num, 21);
  EXPECT_GT(j["traceEvents"].arr.size(), 20u);
  if (std::system("command -v python3 >/dev/null 2>&1") == 0) {
    Result py = run({"python3", "-c", "import json,sys; json.load(open(sys.argv[1]))", out});
    EXPECT_EQ(py.status, 0) << py.err;
  }
}

TEST_F(TraceCli, JsonOnStdout) {
  Result r = gort({good_, "-o", "-"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json j;
  ASSERT_NO_THROW(j = JsonParser(r.out).parse());
  EXPECT_EQ(j["displayTimeUnit"].str, "ns");
}

TEST_F(TraceCli, Html) {
  const std::string out = dir_ + "/out.html";
  Result r = gort({good_, "--html", out});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string page = command_testing::read_file(out);
  EXPECT_NE(page.find("traceEvents"), std::string::npos);
  EXPECT_NE(page.find("html"), std::string::npos);
}

TEST_F(TraceCli, SummaryIsTheDefault) {
  Result a = gort({good_});
  Result b = gort({good_, "--summary"});
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out.find("Scheduling latency"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("Time per P"), std::string::npos) << a.out;
}

TEST_F(TraceCli, SummaryJson) {
  Result r = gort({good_, "--summary", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json j;
  ASSERT_NO_THROW(j = JsonParser(r.out).parse()) << r.out;
  EXPECT_EQ(j["events"].num, 21);
  EXPECT_EQ(j["latency"]["all"]["count"].num, 4);
}

TEST_F(TraceCli, Check) {
  Result r = gort({good_, "--check"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "ok: 21 events, no violations\n");

  TraceBuilder b;
  b.batch(0, 1, {{GORT_TRACE_EV_GO_START, 1000, {5, 0}}});
  b.batch(1, 2, {{GORT_TRACE_EV_GO_START, 1500, {5, 1}}});
  b.end();
  b.write(dir_ + "/bad.bin");
  r = gort({dir_ + "/bad.bin", "--check"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out,
            "0.000500ms: G5 starts on P1 while it runs on P0 (since 0.000000ms)\n"
            "FAIL: 2 events, the invariants above are violated\n");
}

TEST_F(TraceCli, IncompleteTraceIsAWarning) {
  const std::string path = dir_ + "/cut.bin";
  trace_testing::scenario(false).write(path);
  Result r = gort({path, "--check"});
  EXPECT_EQ(r.status, 0);
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("gort trace: warning: " + path + ": no END record", 0), 0u) << r.err;
  EXPECT_EQ(r.out, "ok: 21 events, no violations\n");
}

TEST_F(TraceCli, BadFiles) {
  expect_error(gort({dir_ + "/missing.bin"}), 1, "gort: " + dir_ + "/missing.bin: No such file or directory");

  const std::string elf = dir_ + "/notatrace";
  std::ofstream(elf) << "\x7f" "ELF and so on";
  expect_error(gort({elf, "-o", dir_ + "/x.json"}), 1, "gort: " + elf + ": not a gort trace (bad magic)");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.json"));

  TraceBuilder::Header h;
  h.version = 7;
  TraceBuilder(h).write(dir_ + "/v7.bin");
  expect_error(gort({dir_ + "/v7.bin"}), 1,
               "gort: " + dir_ + "/v7.bin: trace version 7 is not supported (this gort reads versions 1 to 3)");

  const std::string full = trace_testing::scenario().bytes();
  std::ofstream(dir_ + "/trunc.bin", std::ios::binary) << full.substr(0, full.size() - 3);
  expect_error(gort({dir_ + "/trunc.bin", "--check"}), 1,
               "gort: " + dir_ + "/trunc.bin: truncated record at offset " + std::to_string(full.size() - 21));

  expect_error(gort({dir_}), 1, "gort: " + dir_ + ": is a directory, not a trace");
}

TEST_F(TraceCli, UnwritableOutput) {
  expect_error(gort({good_, "-o", dir_ + "/no/such/dir/out.json"}), 1,
               "gort: cannot write " + dir_ + "/no/such/dir/out.json: No such file or directory");
}

TEST_F(TraceCli, Usage) {
  const std::string see = " (see 'gort trace --help')";
  expect_error(gort({}), 2, "gort trace: no trace: give a trace FILE (or the PID of a process to trace)" + see);
  expect_error(gort({good_, "--frobnicate"}), 2, "gort trace: unknown option --frobnicate" + see);
  expect_error(gort({good_, "-o"}), 2, "gort trace: -o needs a file" + see);
  expect_error(gort({good_, "extra"}), 2, "gort trace: unexpected argument 'extra'" + see);
  expect_error(gort({good_, "--duration", "2s"}), 2,
               "gort trace: --duration is for tracing a live process (gort trace PID)" + see);
  Result h = gort({"--help"});
  EXPECT_EQ(h.status, 0);
  EXPECT_EQ(h.out.rfind("Usage: gort trace FILE", 0), 0u) << h.out;
  Result top = run({GORT_CLI, "--help"});
  EXPECT_NE(top.out.find("  trace "), std::string::npos) << top.out;
}

// A number that is a running process is live tracing (trace_live_test); this
// test's process is not a gort program: one line, and status 1.
TEST_F(TraceCli, PidOfAProgramThatIsNotGort) {
  Result r = gort({std::to_string(::getpid()), "-o", dir_ + "/live.bin"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("is not a gort program"), std::string::npos) << r.err;
}

}  // namespace
