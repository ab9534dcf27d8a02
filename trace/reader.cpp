// The trace file reader: see reader.h.
//
// A quick count of the events first, so that the event vector is allocated
// once at its size (a big trace has millions; growing the vector would copy
// it and, for a while, hold it twice). Then two passes. The first walks the
// records, bounds-checking every length against what is left of the file,
// and decodes the batches' events with their raw ticks. The second turns
// ticks into ns (once every SYNC record is known) and merges the threads'
// batches by time (merge.h's order: what a stable sort would give).
#include "reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <numeric>

#include "merge.h"

namespace gort::trace {

namespace {

constexpr int kNargs[] = GORT_TRACE_NARGS_INIT;
static_assert(sizeof kNargs / sizeof kNargs[0] == GORT_TRACE_EV_COUNT, "GORT_TRACE_NARGS_INIT has one entry per event");

constexpr const char* kEventNames[] = {
    "NONE",        "PROC_START", "PROC_STOP",    "GO_CREATE",   "GO_START",   "GO_END",  "GO_SCHED",
    "GO_PREEMPT",  "GO_PARK",    "GO_READY",     "GO_SYSCALL",  "GO_SYSEXIT", "GO_BLOCKED",
    "PROC_HANDOFF", "PREEMPT_REQ", "STEAL",       "RUNQ_PUTSLOW", "M_START",   "M_STOP",  "M_SPIN",
    "STW_BEGIN",   "STW_END",    "NETPOLL",      "TIMER",       "PROC_STATUS", "M_WAKE",  "GO_EXISTING",
    "GO_STATE",
};
static_assert(sizeof kEventNames / sizeof kEventNames[0] == GORT_TRACE_EV_COUNT, "one name per event");

// Far beyond a real trace. What the reader allocates is proportional to
// the file (at most about 28 bytes per byte of it, for the events), never
// to a length field read from it.
constexpr std::uint64_t kMaxFileBytes = 4ull << 30;

std::uint32_t u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint64_t u64(const unsigned char* p) { return u32(p) | static_cast<std::uint64_t>(u32(p + 4)) << 32; }

struct Sync {
  std::uint64_t ticks, ns;
};

class Parser {
 public:
  Parser(std::string_view data, const std::string& name)
      : d_(reinterpret_cast<const unsigned char*>(data.data())), size_(data.size()), name_(name) {}

  Trace run();

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(name_ + ": " + what); }
  [[noreturn]] void fail_at(const char* what, std::size_t off) const {
    fail(std::string(what) + " at offset " + std::to_string(off));
  }

  void header();
  // The events the batches hold, as far as a quick look can tell: exact
  // for a well-formed trace, never more than the file's bytes.
  std::size_t count_events() const;
  void record(std::size_t off);
  void batch(std::size_t body, std::size_t end);
  // A uvarint at *pos, below end; advances *pos. `at` and `what` name the
  // event or record it is in.
  std::uint64_t uvarint(std::size_t* pos, std::size_t end, std::size_t at, const char* what = "event") const;
  void convert_time();

  const unsigned char* d_;
  std::size_t size_;
  std::string name_;
  Trace t_;
  std::uint64_t start_ticks_ = 0, start_ns_ = 0;
  std::vector<Sync> syncs_;
  // Until convert_time, an event's ts holds its raw ticks (as the same bits).
  std::size_t unknown_types_ = 0, after_end_ = 0;
};

Trace Parser::run() {
  t_.name = name_;
  header();
  t_.events.reserve(count_events());
  std::size_t off = GORT_TRACE_HEADER_SIZE;
  while (off < size_) {
    if (size_ - off < 5) fail_at("truncated record", off);
    const std::uint32_t len = u32(d_ + off + 1);
    if (len > size_ - off - 5) fail_at("truncated record", off);
    record(off);
    off += 5 + static_cast<std::size_t>(len);
  }
  convert_time();
  if (!t_.complete)
    t_.warnings.push_back(name_ + ": no END record: the trace is incomplete (the recorder did not finish); showing what it has");
  if (t_.lost > 0)
    t_.warnings.push_back(name_ + ": the recorder lost " + std::to_string(t_.lost) +
                          " events (its writer could not keep up): the timeline has gaps");
  if (unknown_types_ > 0)
    t_.warnings.push_back(name_ + ": " + std::to_string(unknown_types_) +
                          " batches end early at an event type this gort does not know (a newer recorder?)");
  if (after_end_ > 0) t_.warnings.push_back(name_ + ": " + std::to_string(after_end_) + " records after END");
  return std::move(t_);
}

void Parser::header() {
  if (size_ < 8 || std::memcmp(d_, GORT_TRACE_MAGIC, 8) != 0) fail("not a gort trace (bad magic)");
  if (size_ < GORT_TRACE_HEADER_SIZE) fail("truncated header (" + std::to_string(size_) + " bytes)");
  t_.version = u32(d_ + 8);
  if (t_.version < GORT_TRACE_MIN_VERSION || t_.version > GORT_TRACE_VERSION)
    fail("trace version " + std::to_string(t_.version) + " is not supported (this gort reads versions " +
         std::to_string(GORT_TRACE_MIN_VERSION) + " to " + std::to_string(GORT_TRACE_VERSION) + ")");
  t_.flags = u32(d_ + 12);
  t_.ticks_per_second = u64(d_ + 16);
  start_ticks_ = u64(d_ + 24);
  start_ns_ = u64(d_ + 32);
}

std::size_t Parser::count_events() const {
  std::size_t n = 0;
  for (std::size_t off = GORT_TRACE_HEADER_SIZE; size_ - off >= 5;) {
    const std::size_t len = u32(d_ + off + 1);
    if (len > size_ - off - 5) break;
    if (d_[off] == GORT_TRACE_REC_BATCH && len >= 16) {
      const std::size_t end = off + 5 + len;
      for (std::size_t pos = off + 5 + 16; pos < end; ++n) {
        const int nargs = event_nargs(d_[pos++]);
        if (nargs < 0) break;
        // The delta and the arguments: a varint ends at a byte below 0x80.
        for (int v = 0; v <= nargs && pos < end; ++v)
          while (pos < end && d_[pos++] >= 0x80) {
          }
      }
    }
    off += 5 + len;
  }
  return n;
}

void Parser::record(std::size_t off) {
  const std::uint8_t kind = d_[off];
  const std::size_t body = off + 5, len = u32(d_ + off + 1), end = body + len;
  if (t_.complete) after_end_++;
  switch (kind) {
    case GORT_TRACE_REC_BATCH:
      if (len < 16) fail_at("short BATCH record", off);
      batch(body, end);
      break;
    case GORT_TRACE_REC_SYNC:
      if (len < 16) fail_at("short SYNC record", off);
      syncs_.push_back({u64(d_ + body), u64(d_ + body + 8)});
      break;
    case GORT_TRACE_REC_STRING: {
      std::size_t pos = body;
      std::uint64_t id = uvarint(&pos, end, off, "STRING record");
      t_.strings[id].assign(reinterpret_cast<const char*>(d_ + pos), end - pos);
      break;
    }
    case GORT_TRACE_REC_MODULE:
      if (len < 8) fail_at("short MODULE record", off);
      t_.modules.push_back({u64(d_ + body), std::string(reinterpret_cast<const char*>(d_ + body + 8), len - 8)});
      break;
    case GORT_TRACE_REC_END:
      if (len < 16) fail_at("short END record", off);
      t_.lost = u64(d_ + body);
      t_.recorded = u64(d_ + body + 8);
      t_.complete = true;
      break;
    default:
      break;  // a newer recorder's record: skipped by its length
  }
}

std::uint64_t Parser::uvarint(std::size_t* pos, std::size_t end, std::size_t at, const char* what) const {
  // Most values (small ids, tick deltas) are one or two bytes.
  if (*pos < end && d_[*pos] < 0x80) return d_[(*pos)++];
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= end) fail_at((std::string("truncated ") + what).c_str(), at);
    const unsigned char b = d_[(*pos)++];
    if (shift == 63 && b > 1) break;
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) return v;
  }
  fail_at((std::string("bad varint in ") + what).c_str(), at);
}

void Parser::batch(std::size_t body, std::size_t end) {
  const std::uint32_t m = u32(d_ + body), tid = u32(d_ + body + 4);
  std::uint64_t ticks = u64(d_ + body + 8);
  std::size_t pos = body + 16;
  while (pos < end) {
    const std::size_t at = pos;
    const std::uint8_t type = d_[pos++];
    const int n = event_nargs(type);
    if (n < 0) {
      // Its arguments' count is unknown, so is where the next event starts.
      unknown_types_++;
      return;
    }
    ticks += uvarint(&pos, end, at);
    Event& e = t_.events.emplace_back();
    e.type = type;
    e.m = m;
    e.tid = tid;
    e.ts = static_cast<std::int64_t>(ticks);
    for (int i = 0; i < n; ++i) e.args[i] = uvarint(&pos, end, at);
  }
}

// Ticks to ns. With the TSC, a line through the first and the last SYNC
// (the recorder writes one with every drain, so the line spans the trace);
// with one SYNC, that point and the header's rate. Without the TSC the
// ticks are CLOCK_MONOTONIC ns already.
void Parser::convert_time() {
  long double slope = 1, t0 = 0, n0 = 0;
  if (t_.flags & GORT_TRACE_FLAG_TSC) {
    Sync first{start_ticks_, start_ns_}, last = first;
    if (!syncs_.empty()) first = syncs_.front(), last = syncs_.back();
    t0 = static_cast<long double>(first.ticks);
    n0 = static_cast<long double>(first.ns);
    if (last.ticks > first.ticks && last.ns > first.ns) {
      slope = static_cast<long double>(last.ns - first.ns) / static_cast<long double>(last.ticks - first.ticks);
    } else if (t_.ticks_per_second != 0) {
      slope = 1e9L / static_cast<long double>(t_.ticks_per_second);
    } else if (!t_.events.empty()) {
      fail("no clock rate: ticks_per_second is 0 and the SYNC records do not give one");
    }
  }
  // Clamped so that differences of two times fit in an int64.
  constexpr long double kLimit = 4e18L;
  std::int64_t first = 0;
  for (std::size_t i = 0; i < t_.events.size(); ++i) {
    const auto ticks = static_cast<std::uint64_t>(t_.events[i].ts);
    long double ns = n0 + (static_cast<long double>(ticks) - t0) * slope;
    if (!(ns > -kLimit)) ns = -kLimit;  // also NaN
    if (ns > kLimit) ns = kLimit;
    t_.events[i].ts = static_cast<std::int64_t>(std::llround(ns));
    if (i == 0 || t_.events[i].ts < first) first = t_.events[i].ts;
  }
  for (Event& e : t_.events) e.ts -= first;
  // A thread's events are in order in its batches, and its batches in
  // file order: the merge keeps that order among equal times.
  merge_by_time(t_.events);
  t_.duration = t_.events.empty() ? 0 : t_.events.back().ts;
}

}  // namespace

std::string Trace::str(std::uint64_t id, bool fallback) const {
  auto it = strings.find(id);
  if (it != strings.end()) return it->second;
  return fallback ? "string " + std::to_string(id) : std::string();
}

int event_nargs(std::uint8_t type) {
  if (type == GORT_TRACE_EV_NONE || type >= GORT_TRACE_EV_COUNT) return -1;
  return kNargs[type];
}

std::string event_name(std::uint8_t type) {
  if (type >= GORT_TRACE_EV_COUNT) return "event " + std::to_string(type);
  return kEventNames[type];
}

Trace parse_trace(std::string_view data, const std::string& name) { return Parser(data, name).run(); }

Trace read_trace(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": is a directory, not a trace");
  }
  // Read to the end rather than trusting st_size: a pipe has none.
  std::string data;
  if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) <= kMaxFileBytes)
    data.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      throw Error(path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxFileBytes) {
      ::close(fd);
      throw Error(path + ": larger than 4 GiB: not a trace this gort reads");
    }
  }
  ::close(fd);
  return parse_trace(data, path);
}

}  // namespace gort::trace
