// Synthetic execution traces for the trace tool's suites, written byte by
// byte per gort/trace_format.h (independently of the runtime's recorder):
// the header, then records in the order the test adds them.
//
//   TraceBuilder b;                       // header: ticks are ns
//   b.string(1, "chan receive");
//   b.batch(0, 100, {{GORT_TRACE_EV_GO_START, 1000, {7, 0}}, ...});
//   b.end();
//   Trace t = parse_trace(b.bytes(), "t.bin");
#pragma once

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "gort/trace_format.h"

namespace trace_testing {

// One event: its type, its absolute ticks (a batch's must not decrease)
// and its arguments (as many as the type has, or more or fewer on purpose).
struct Ev {
  std::uint8_t type;
  std::uint64_t ticks;
  std::vector<std::uint64_t> args;
};

inline void put_u32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>(v >> (8 * i));
}
inline void put_u64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) s += static_cast<char>(v >> (8 * i));
}
inline void put_uvarint(std::string& s, std::uint64_t v) {
  while (v >= 0x80) {
    s += static_cast<char>(v | 0x80);
    v >>= 7;
  }
  s += static_cast<char>(v);
}

class TraceBuilder {
 public:
  struct Header {
    std::uint32_t version = GORT_TRACE_VERSION;
    std::uint32_t flags = 0;  // ticks are ns
    std::uint64_t ticks_per_second = 1'000'000'000;
    std::uint64_t start_ticks = 0, start_ns = 0;
  };

  TraceBuilder() : TraceBuilder(Header{}) {}
  explicit TraceBuilder(const Header& h) {
    data_.append(GORT_TRACE_MAGIC, 8);
    put_u32(data_, h.version);
    put_u32(data_, h.flags);
    put_u64(data_, h.ticks_per_second);
    put_u64(data_, h.start_ticks);
    put_u64(data_, h.start_ns);
  }

  // Any record, as the format frames it.
  TraceBuilder& record(std::uint8_t kind, const std::string& body) {
    data_ += static_cast<char>(kind);
    put_u32(data_, static_cast<std::uint32_t>(body.size()));
    data_ += body;
    return *this;
  }
  TraceBuilder& sync(std::uint64_t ticks, std::uint64_t ns) {
    std::string b;
    put_u64(b, ticks);
    put_u64(b, ns);
    return record(GORT_TRACE_REC_SYNC, b);
  }
  TraceBuilder& string(std::uint64_t id, const std::string& text) {
    std::string b;
    put_uvarint(b, id);
    return record(GORT_TRACE_REC_STRING, b + text);
  }
  TraceBuilder& module(std::uint64_t bias, const std::string& path) {
    std::string b;
    put_u64(b, bias);
    return record(GORT_TRACE_REC_MODULE, b + path);
  }
  TraceBuilder& end(std::uint64_t lost = 0, std::uint64_t recorded = 0) {
    std::string b;
    put_u64(b, lost);
    put_u64(b, recorded);
    return record(GORT_TRACE_REC_END, b);
  }
  // One thread's batch; base_ticks is the first event's.
  TraceBuilder& batch(std::uint32_t m, std::uint32_t tid, const std::vector<Ev>& evs) {
    return record(GORT_TRACE_REC_BATCH, batch_body(m, tid, evs));
  }
  static std::string batch_body(std::uint32_t m, std::uint32_t tid, const std::vector<Ev>& evs) {
    std::string b;
    put_u32(b, m);
    put_u32(b, tid);
    std::uint64_t last = evs.empty() ? 0 : evs.front().ticks;
    put_u64(b, last);
    for (const Ev& e : evs) {
      if (e.ticks < last) throw std::logic_error("a batch's ticks must not decrease");
      b += static_cast<char>(e.type);
      put_uvarint(b, e.ticks - last);
      last = e.ticks;
      for (std::uint64_t a : e.args) put_uvarint(b, a);
    }
    return b;
  }
  // Raw bytes, for damaged files.
  TraceBuilder& raw(const std::string& bytes) {
    data_ += bytes;
    return *this;
  }

  const std::string& bytes() const { return data_; }
  std::size_t size() const { return data_.size(); }

  void write(const std::string& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(data_.data(), static_cast<std::streamsize>(data_.size()));
    if (!f) throw std::runtime_error("cannot write " + path);
  }

 private:
  std::string data_;
};

// The scheduler scenario most suites share: two Ms (0 and 1, tids 100 and
// 101) on P0 and P1, sysmon (M2, tid 102); times in ns (= ticks). In order:
//   1000 P0, P1 start          1100 G1 creates G7        1200 G1 runs on P0
//   1300 G1 readies G8         1500 G1 parks (chan receive)
//   1550 P1 steals 2 from P0   1600 G8 runs on P1        1650 sysmon: preempt G8 (async)
//   1700 G8 preempted (async)  1800 G7 runs on P0        1900 G7 returns
//   2000 G8 runs on P1         2100 G8 enters a syscall  2200 sysmon hands P1 off from M1
//   2300 G8 back without a P (queued)                     2400-2600 stop the world (gomaxprocs, by M0)
//   2650 netpoll: 3 ready      2700 G8 runs on P0        2800 G8 gosched
// Strings: 1 "chan receive", 14 "gomaxprocs".
inline TraceBuilder scenario(bool complete = true) {
  TraceBuilder b;
  b.sync(1000, 1000);
  b.string(1, "chan receive").string(14, "gomaxprocs");
  // The batches are written out of time order, as a recorder's drains are.
  b.batch(1, 101, {
                      {GORT_TRACE_EV_PROC_START, 1000, {1}},
                      {GORT_TRACE_EV_STEAL, 1550, {0, 2, 1}},
                      {GORT_TRACE_EV_GO_START, 1600, {8, 1}},
                      {GORT_TRACE_EV_GO_PREEMPT, 1700, {8, GORT_TRACE_PREEMPT_ASYNC, 100}},
                      {GORT_TRACE_EV_GO_START, 2000, {8, 1}},
                      {GORT_TRACE_EV_GO_SYSCALL, 2100, {8, 1}},
                      {GORT_TRACE_EV_GO_SYSEXIT, 2300, {8, GORT_TRACE_NO_P}},
                  });
  b.batch(0, 100, {
                      {GORT_TRACE_EV_PROC_START, 1000, {0}},
                      {GORT_TRACE_EV_GO_CREATE, 1100, {7, 1, 0x1000, 0}},
                      {GORT_TRACE_EV_GO_START, 1200, {1, 0}},
                      {GORT_TRACE_EV_GO_READY, 1300, {8, 1}},
                      {GORT_TRACE_EV_GO_PARK, 1500, {1, 1}},
                      {GORT_TRACE_EV_GO_START, 1800, {7, 0}},
                      {GORT_TRACE_EV_GO_END, 1900, {7}},
                      {GORT_TRACE_EV_STW_BEGIN, 2400, {14}},
                      {GORT_TRACE_EV_STW_END, 2600, {}},
                      {GORT_TRACE_EV_NETPOLL, 2650, {3}},
                      {GORT_TRACE_EV_GO_START, 2700, {8, 0}},
                      {GORT_TRACE_EV_GO_SCHED, 2800, {8}},
                  });
  b.batch(2, 102, {
                      {GORT_TRACE_EV_PREEMPT_REQ, 1650, {8, 1, GORT_TRACE_PREEMPT_ASYNC}},
                      {GORT_TRACE_EV_PROC_HANDOFF, 2200, {1, 1}},
                  });
  b.sync(3000, 3000);
  if (complete) b.end(0, 21);
  return b;
}

}  // namespace trace_testing
