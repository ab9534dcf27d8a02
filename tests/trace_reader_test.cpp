// The trace file reader (trace/reader.h) on synthetic traces: records,
// events with their M and tid, ticks to ns through the SYNC records, the
// merge of the threads' batches by time, and damaged files, each of which
// must be one FormatError naming the file and what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "merge.h"
#include "reader.h"
#include "trace_builder.h"

namespace {

using namespace gort::trace;
using trace_testing::Ev;
using trace_testing::TraceBuilder;

std::string format_error(const std::string& bytes) {
  try {
    parse_trace(bytes, "t.bin");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TraceReader, ReadsRecords) {
  TraceBuilder b = trace_testing::scenario(false);
  b.module(0x5000, "/usr/bin/prog");
  b.end(0, 21);
  Trace t = parse_trace(b.bytes(), "t.bin");
  EXPECT_EQ(t.name, "t.bin");
  EXPECT_EQ(t.version, static_cast<std::uint32_t>(GORT_TRACE_VERSION));
  EXPECT_TRUE(t.complete);
  EXPECT_EQ(t.lost, 0u);
  EXPECT_EQ(t.recorded, 21u);
  EXPECT_EQ(t.events.size(), 21u);
  EXPECT_EQ(t.str(1), "chan receive");
  EXPECT_EQ(t.str(14), "gomaxprocs");
  EXPECT_EQ(t.str(99), "string 99");
  EXPECT_EQ(t.str(99, false), "");
  ASSERT_EQ(t.modules.size(), 1u);
  EXPECT_EQ(t.modules[0].bias, 0x5000u);
  EXPECT_EQ(t.modules[0].path, "/usr/bin/prog");
  EXPECT_TRUE(t.warnings.empty());
}

TEST(TraceReader, EventsCarryTheirArgumentsMAndTid) {
  TraceBuilder b;
  b.batch(3, 1234, {{GORT_TRACE_EV_GO_CREATE, 50, {7, 1, 0xdeadbeef, 0x1234567890}}});
  b.batch(GORT_TRACE_NO_M, 999, {{GORT_TRACE_EV_GO_READY, 60, {7, 0}}});
  b.end();
  Trace t = parse_trace(b.bytes(), "t.bin");
  ASSERT_EQ(t.events.size(), 2u);
  const Event& c = t.events[0];
  EXPECT_EQ(c.type, GORT_TRACE_EV_GO_CREATE);
  EXPECT_EQ(c.m, 3u);
  EXPECT_EQ(c.tid, 1234u);
  EXPECT_EQ(c.arg(0), 7u);
  EXPECT_EQ(c.arg(1), 1u);
  EXPECT_EQ(c.arg(2), 0xdeadbeefu);
  EXPECT_EQ(c.arg(3), 0x1234567890u);
  EXPECT_EQ(t.events[1].m, GORT_TRACE_NO_M);
  EXPECT_EQ(t.events[1].tid, 999u);
  EXPECT_EQ(event_name(GORT_TRACE_EV_GO_START), "GO_START");
  EXPECT_EQ(event_name(200), "event 200");
  EXPECT_EQ(event_nargs(GORT_TRACE_EV_GO_CREATE), 4);
  EXPECT_EQ(event_nargs(GORT_TRACE_EV_STW_END), 0);
  EXPECT_EQ(event_nargs(GORT_TRACE_EV_COUNT), -1);
}

// Batches of different threads interleave in time; the reader merges them,
// and a thread's events at the same tick keep their recorded order.
TEST(TraceReader, MergesBatchesByTime) {
  TraceBuilder b;
  b.batch(1, 11, {{GORT_TRACE_EV_GO_START, 200, {2, 1}}, {GORT_TRACE_EV_GO_END, 400, {2}}});
  b.batch(0, 10, {{GORT_TRACE_EV_GO_START, 100, {1, 0}},
                  {GORT_TRACE_EV_GO_SCHED, 300, {1}},
                  {GORT_TRACE_EV_GO_START, 300, {3, 0}},
                  {GORT_TRACE_EV_GO_END, 300, {3}}});
  b.batch(1, 11, {{GORT_TRACE_EV_GO_START, 500, {4, 1}}});
  Trace t = parse_trace(b.bytes(), "t.bin");
  std::vector<std::pair<std::int64_t, std::uint64_t>> got;
  for (const Event& e : t.events) got.emplace_back(e.ts, e.arg(0));
  // ns since the first event (ticks are ns here)
  std::vector<std::pair<std::int64_t, std::uint64_t>> want = {{0, 1}, {100, 2}, {200, 1}, {200, 3},
                                                              {200, 3}, {300, 2}, {400, 4}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(t.events[2].type, GORT_TRACE_EV_GO_SCHED);
  EXPECT_EQ(t.events[3].type, GORT_TRACE_EV_GO_START);
  EXPECT_EQ(t.events[4].type, GORT_TRACE_EV_GO_END);
  EXPECT_EQ(t.duration, 400);
}

// With the TSC, ns come from the line through the first and the last SYNC,
// whatever the header's rate estimate says.
TEST(TraceReader, TscTicksFollowTheSyncRecords) {
  TraceBuilder::Header h;
  h.flags = GORT_TRACE_FLAG_TSC;
  h.ticks_per_second = 1;  // a bad estimate: ignored with two SYNCs
  TraceBuilder b(h);
  b.sync(10'000, 5'000'000);
  b.batch(0, 1, {{GORT_TRACE_EV_M_SPIN, 10'000, {1}}, {GORT_TRACE_EV_M_SPIN, 11'000, {0}}});
  b.sync(20'000, 5'005'000);  // 2 ticks per ns
  b.batch(1, 2, {{GORT_TRACE_EV_M_SPIN, 30'000, {1}}});
  b.sync(30'000, 5'010'000);
  b.end();
  Trace t = parse_trace(b.bytes(), "t.bin");
  ASSERT_EQ(t.events.size(), 3u);
  EXPECT_EQ(t.events[0].ts, 0);
  EXPECT_EQ(t.events[1].ts, 500);
  EXPECT_EQ(t.events[2].ts, 10'000);
}

TEST(TraceReader, OneSyncUsesTheHeaderRate) {
  TraceBuilder::Header h;
  h.flags = GORT_TRACE_FLAG_TSC;
  h.ticks_per_second = 3'000'000'000;  // 3 ticks per ns
  TraceBuilder b(h);
  b.sync(3000, 1'000'000);
  b.batch(0, 1, {{GORT_TRACE_EV_M_SPIN, 6000, {1}}, {GORT_TRACE_EV_M_SPIN, 9000, {0}}});
  b.end();
  Trace t = parse_trace(b.bytes(), "t.bin");
  ASSERT_EQ(t.events.size(), 2u);
  EXPECT_EQ(t.events[1].ts - t.events[0].ts, 1000);
}

TEST(TraceReader, NoClockRateIsAFormatError) {
  TraceBuilder::Header h;
  h.flags = GORT_TRACE_FLAG_TSC;
  h.ticks_per_second = 0;
  TraceBuilder b(h);
  b.batch(0, 1, {{GORT_TRACE_EV_M_SPIN, 6000, {1}}});
  EXPECT_EQ(format_error(b.bytes()), "t.bin: no clock rate: ticks_per_second is 0 and the SYNC records do not give one");
}

TEST(TraceReader, WithoutEndTheTraceIsIncompleteButRead) {
  Trace t = parse_trace(trace_testing::scenario(false).bytes(), "t.bin");
  EXPECT_FALSE(t.complete);
  EXPECT_EQ(t.events.size(), 21u);
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_NE(t.warnings[0].find("t.bin: no END record"), std::string::npos) << t.warnings[0];
}

TEST(TraceReader, LostEventsAreAWarning) {
  TraceBuilder b;
  b.batch(0, 1, {{GORT_TRACE_EV_M_SPIN, 10, {1}}});
  b.end(42, 1);
  Trace t = parse_trace(b.bytes(), "t.bin");
  EXPECT_EQ(t.lost, 42u);
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_NE(t.warnings[0].find("lost 42 events"), std::string::npos) << t.warnings[0];
}

TEST(TraceReader, UnknownRecordKindsAreSkipped) {
  TraceBuilder b;
  b.record(99, std::string(37, '\xff'));
  b.batch(0, 1, {{GORT_TRACE_EV_M_SPIN, 10, {1}}});
  b.record(200, "");
  b.end();
  Trace t = parse_trace(b.bytes(), "t.bin");
  EXPECT_EQ(t.events.size(), 1u);
  EXPECT_TRUE(t.complete);
  EXPECT_TRUE(t.warnings.empty());
}

// Its arguments' count is unknown: the rest of its batch cannot be read,
// but the next batch can.
TEST(TraceReader, UnknownEventTypeEndsItsBatch) {
  TraceBuilder b;
  b.batch(0, 1, {{GORT_TRACE_EV_M_SPIN, 10, {1}}, {77, 20, {1, 2, 3}}, {GORT_TRACE_EV_M_SPIN, 30, {0}}});
  b.batch(1, 2, {{GORT_TRACE_EV_M_SPIN, 40, {1}}});
  b.end();
  Trace t = parse_trace(b.bytes(), "t.bin");
  ASSERT_EQ(t.events.size(), 2u);
  EXPECT_EQ(t.events[0].m, 0u);
  EXPECT_EQ(t.events[1].m, 1u);
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_NE(t.warnings[0].find("1 batches end early"), std::string::npos) << t.warnings[0];
}

TEST(TraceReader, EmptyTraceIsFine) {
  TraceBuilder b;
  b.end();
  Trace t = parse_trace(b.bytes(), "t.bin");
  EXPECT_TRUE(t.events.empty());
  EXPECT_EQ(t.duration, 0);
}

// ---- Damaged files: one FormatError each, naming the file ----

TEST(TraceReader, NotATrace) {
  EXPECT_EQ(format_error(""), "t.bin: not a gort trace (bad magic)");
  EXPECT_EQ(format_error("gort"), "t.bin: not a gort trace (bad magic)");
  EXPECT_EQ(format_error("\x7f" "ELF\x02\x01\x01" + std::string(100, '\0')), "t.bin: not a gort trace (bad magic)");
  EXPECT_EQ(format_error(std::string("gorttrce\x01\0\0\0", 12)), "t.bin: truncated header (12 bytes)");
}

TEST(TraceReader, OtherVersion) {
  TraceBuilder::Header h;
  h.version = 7;
  EXPECT_EQ(format_error(TraceBuilder(h).bytes()), "t.bin: trace version 7 is not supported (this gort reads versions 1 to 3)");
  h.version = 0;
  EXPECT_EQ(format_error(TraceBuilder(h).bytes()), "t.bin: trace version 0 is not supported (this gort reads versions 1 to 3)");
}

// Version 1 (session 7's recorder) is version 2 without GO_EXISTING and GO_STATE.
TEST(TraceReader, ReadsVersion1) {
  TraceBuilder::Header h;
  h.version = 1;
  TraceBuilder b(h);
  b.batch(0, 100, {{GORT_TRACE_EV_GO_START, 1000, {7, 0}}, {GORT_TRACE_EV_GO_END, 1500, {7}}});
  b.end(0, 2);
  Trace t = parse_trace(b.bytes(), "t.bin");
  EXPECT_EQ(t.version, 1u);
  EXPECT_TRUE(t.complete);
  EXPECT_EQ(t.events.size(), 2u);
}

TEST(TraceReader, TruncatedRecord) {
  const std::string full = trace_testing::scenario().bytes();
  // Cut inside the END record (the last 21 bytes): its header is at size - 21.
  const std::size_t end_at = full.size() - 21;
  EXPECT_EQ(format_error(full.substr(0, full.size() - 1)), "t.bin: truncated record at offset " + std::to_string(end_at));
  EXPECT_EQ(format_error(full.substr(0, end_at + 3)), "t.bin: truncated record at offset " + std::to_string(end_at));
  // Cut exactly between records: a trace without END.
  EXPECT_NO_THROW(parse_trace(full.substr(0, end_at), "t.bin"));
}

// Every prefix of a trace is either a usable (incomplete) trace or one
// FormatError: never anything else.
TEST(TraceReader, EveryPrefixReadsOrFailsCleanly) {
  const std::string full = trace_testing::scenario().bytes();
  std::size_t ok = 0;
  for (std::size_t n = 0; n < full.size(); ++n) {
    try {
      Trace t = parse_trace(full.substr(0, n), "t.bin");
      EXPECT_FALSE(t.complete);
      ok++;
    } catch (const FormatError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("t.bin: ", 0), 0u) << e.what();
    }
  }
  EXPECT_GE(ok, 6u);  // the header alone and each cut between records
}

TEST(TraceReader, LengthBeyondTheFile) {
  TraceBuilder b;
  b.raw("\x01\xff\xff\xff\x7f");  // a BATCH claiming 2 GiB
  b.raw(std::string(16, '\0'));
  EXPECT_EQ(format_error(b.bytes()), "t.bin: truncated record at offset 40");
}

TEST(TraceReader, ShortRecords) {
  EXPECT_EQ(format_error(TraceBuilder().record(GORT_TRACE_REC_SYNC, std::string(8, '\0')).bytes()),
            "t.bin: short SYNC record at offset 40");
  EXPECT_EQ(format_error(TraceBuilder().record(GORT_TRACE_REC_END, "").bytes()), "t.bin: short END record at offset 40");
  EXPECT_EQ(format_error(TraceBuilder().record(GORT_TRACE_REC_BATCH, std::string(15, '\0')).bytes()),
            "t.bin: short BATCH record at offset 40");
  EXPECT_EQ(format_error(TraceBuilder().record(GORT_TRACE_REC_MODULE, "abc").bytes()),
            "t.bin: short MODULE record at offset 40");
  EXPECT_EQ(format_error(TraceBuilder().record(GORT_TRACE_REC_STRING, "").bytes()),
            "t.bin: truncated STRING record at offset 40");
}

TEST(TraceReader, TruncatedEventInABatch) {
  // GO_CREATE needs four arguments; the batch ends after two.
  std::string body = TraceBuilder::batch_body(0, 1, {{GORT_TRACE_EV_GO_CREATE, 5, {7, 1}}});
  TraceBuilder b;
  b.record(GORT_TRACE_REC_BATCH, body);
  // The event starts after the record header (5) and the batch header (16).
  EXPECT_EQ(format_error(b.bytes()), "t.bin: truncated event at offset " + std::to_string(40 + 5 + 16));
}

TEST(TraceReader, OverlongVarint) {
  std::string body = TraceBuilder::batch_body(0, 1, {});
  body += static_cast<char>(GORT_TRACE_EV_M_SPIN);
  body += std::string(10, '\xff');
  body += '\x01';
  EXPECT_EQ(format_error(TraceBuilder().record(GORT_TRACE_REC_BATCH, body).bytes()),
            "t.bin: bad varint in event at offset 61");
}

// Times at the edges of uint64 do not overflow into nonsense or traps.
TEST(TraceReader, ExtremeTicks) {
  TraceBuilder::Header h;
  h.flags = GORT_TRACE_FLAG_TSC;
  h.ticks_per_second = 1;
  TraceBuilder b(h);
  b.sync(UINT64_MAX, 0);
  b.batch(0, 1, {{GORT_TRACE_EV_M_SPIN, 0, {1}}, {GORT_TRACE_EV_M_SPIN, UINT64_MAX, {0}}});
  Trace t = parse_trace(b.bytes(), "t.bin");
  ASSERT_EQ(t.events.size(), 2u);
  EXPECT_GE(t.events[1].ts, t.events[0].ts);
  EXPECT_GE(t.events[0].ts, 0);
}

TEST(TraceReader, Files) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/trace_reader_test." + std::to_string(::getpid()) + ".bin";
  trace_testing::scenario().write(path);
  Trace t = read_trace(path);
  EXPECT_EQ(t.name, path);
  EXPECT_EQ(t.events.size(), 21u);
  std::filesystem::remove(path);
  try {
    read_trace(path);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const FormatError&) {
    ADD_FAILURE() << "a missing file is not a format error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": No such file or directory");
  }
  EXPECT_THROW(read_trace(dir), Error);
}

}  // namespace

namespace {

// The reader's merge of the batches orders events as a stable sort by time
// would: sorted runs from a few threads, times that go back, equal times.
TEST(TraceMerge, IsAStableSortByTime) {
  std::uint64_t seed = 42;
  auto rnd = [&seed](std::uint64_t n) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (seed >> 33) % n;
  };
  for (int round = 0; round < 200; ++round) {
    std::vector<Event> events;
    const std::uint64_t threads = 1 + rnd(5), batches = 1 + rnd(40);
    std::vector<std::int64_t> now(threads, 0);
    for (std::uint64_t b = 0; b < batches; ++b) {
      const std::uint64_t th = rnd(threads), len = rnd(30);
      if (round % 7 == 0) now[th] = static_cast<std::int64_t>(rnd(100));  // a thread's time goes back
      for (std::uint64_t i = 0; i < len; ++i) {
        Event e;
        now[th] += static_cast<std::int64_t>(rnd(4));  // equal times too
        e.ts = now[th];
        e.tid = static_cast<std::uint32_t>(th);
        e.args[0] = events.size();  // the original position
        events.push_back(e);
      }
    }
    std::vector<Event> want = events;
    std::stable_sort(want.begin(), want.end(), [](const Event& a, const Event& b) { return a.ts < b.ts; });
    merge_by_time(events);
    ASSERT_EQ(events.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(events[i].ts, want[i].ts) << "round " << round << " at " << i;
      ASSERT_EQ(events[i].args[0], want[i].args[0]) << "round " << round << " at " << i;
    }
  }
}

}  // namespace
