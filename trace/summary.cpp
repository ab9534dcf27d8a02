// The trace's numbers: see summary.h.
#include "summary.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <unordered_map>

#include "gort/inspect/json.h"
#include "names.h"
#include "timeline.h"

namespace gort::trace {

namespace {

using inspect::JsonWriter;

constexpr std::size_t kTopGoroutines = 10;
constexpr int kCauses = 5;

// Times in a damaged trace may be anything up to 4e18 ns: sums saturate.
std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  return r;
}
std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

// Nearest-rank percentiles of v (reordered here). Selection, not a sort:
// a big trace has millions of waits.
LatencyStats stats(std::vector<std::int64_t>& v) {
  LatencyStats s;
  if (v.empty()) return s;
  const std::size_t n = v.size(), median = (n + 1) / 2 - 1, p99 = (n * 99 + 99) / 100 - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(p99), v.end());
  s.p99 = v[p99];
  s.max = *std::max_element(v.begin() + static_cast<std::ptrdiff_t>(p99), v.end());
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(median), v.begin() + static_cast<std::ptrdiff_t>(p99) + 1);
  s.median = v[median];
  s.count = n;
  for (std::int64_t x : v) s.total = sat_add(s.total, x);
  return s;
}

// Time covered by the stop-the-world pauses (sorted, disjoint) before x.
class StwCover {
 public:
  explicit StwCover(const std::vector<Stw>& stws) : stws_(stws) {
    std::int64_t sum = 0;
    for (const Stw& s : stws) {
      cum_.push_back(sum);
      sum = sat_add(sum, s.end - s.start);
    }
  }
  std::int64_t before(std::int64_t x) const {
    auto it = std::lower_bound(stws_.begin(), stws_.end(), x, [](const Stw& s, std::int64_t v) { return s.start < v; });
    if (it == stws_.begin()) return 0;
    const std::size_t i = static_cast<std::size_t>(it - stws_.begin()) - 1;
    return sat_add(cum_[i], std::min(x, stws_[i].end) - stws_[i].start);
  }
  std::int64_t overlap(std::int64_t a, std::int64_t b) const { return std::max<std::int64_t>(0, before(b) - before(a)); }

 private:
  const std::vector<Stw>& stws_;
  std::vector<std::int64_t> cum_;
};

std::string fmt_dur(std::int64_t ns) {
  char buf[32];
  const double v = static_cast<double>(ns);
  if (ns < 1000) std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
  else if (ns < 1'000'000) std::snprintf(buf, sizeof buf, "%.1fµs", v / 1e3);
  else if (ns < 1'000'000'000) std::snprintf(buf, sizeof buf, "%.1fms", v / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2fs", v / 1e9);
  return buf;
}

std::string pct(std::int64_t part, std::int64_t whole) {
  if (whole <= 0) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

// Display width: UTF-8 continuation bytes take no column.
std::size_t width(const std::string& s) {
  std::size_t w = 0;
  for (unsigned char c : s) w += (c & 0xc0) != 0x80;
  return w;
}

// Rows of cells: the first column left-aligned, the others right-aligned.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], width(r[i]));
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line = "  ";
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(w[i] - width(r[i]), ' ');
      line += i == 0 ? r[i] + pad : "  " + pad + r[i];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::vector<std::string> latency_row(const std::string& what, const LatencyStats& s) {
  return {what, std::to_string(s.count), fmt_dur(s.median), fmt_dur(s.p99), fmt_dur(s.max)};
}

void latency_json(JsonWriter& j, const char* key, const LatencyStats& s) {
  j.begin_object(key);
  j.field("count", s.count).field("median_ns", s.median).field("p99_ns", s.p99).field("max_ns", s.max);
  j.field("total_ns", s.total);
  j.end_object();
}

// Request to preempted: from the first PREEMPT_REQ of a goroutine's slice
// to the GO_PREEMPT that ends it. A slice that ends otherwise (or a new one)
// drops the request.
std::vector<std::int64_t> preemption_delays(const Trace& t) {
  std::unordered_map<std::uint64_t, std::int64_t> asked;  // goid -> its slice's first request
  std::vector<std::int64_t> out;
  for (const Event& e : t.events) {
    switch (e.type) {
      case GORT_TRACE_EV_PREEMPT_REQ:
        asked.try_emplace(e.arg(0), e.ts);
        break;
      case GORT_TRACE_EV_GO_PREEMPT:
        if (auto it = asked.find(e.arg(0)); it != asked.end()) out.push_back(e.ts - it->second);
        [[fallthrough]];
      case GORT_TRACE_EV_GO_START:
      case GORT_TRACE_EV_GO_END:
      case GORT_TRACE_EV_GO_SCHED:
      case GORT_TRACE_EV_GO_PARK:
      case GORT_TRACE_EV_GO_SYSCALL:
      case GORT_TRACE_EV_GO_BLOCKED:
        asked.erase(e.arg(0));
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace

const char* runnable_cause_name(int cause) {
  static const char* const names[kCauses] = {"created", "readied", "preempted", "gosched", "syscall exit"};
  return cause >= 0 && cause < kCauses ? names[cause] : "?";
}

Summary summarize(const Trace& t) {
  Summary s;
  const Timeline tl = build_timeline(t);
  s.name = t.name;
  s.duration = t.duration;
  s.events = t.events.size();
  s.lost = t.lost;
  s.complete = t.complete;
  s.goroutines = tl.goroutines;
  s.warnings = t.warnings;

  // Scheduling latency: overall, by cause, by goroutine.
  std::vector<std::int64_t> all, by_cause[kCauses];
  all.reserve(tl.latencies.size());
  std::unordered_map<std::uint64_t, std::int64_t> longest;  // goid -> its longest wait
  for (const Latency& l : tl.latencies) {
    all.push_back(l.ns);
    by_cause[static_cast<int>(l.cause)].push_back(l.ns);
    auto [it, fresh] = longest.try_emplace(l.goid, l.ns);
    if (!fresh && l.ns > it->second) it->second = l.ns;
  }
  s.latency = stats(all);
  for (int c = 0; c < kCauses; ++c) s.latency_by_cause[c] = stats(by_cause[c]);
  // The goroutines with the longest waits are ranked by that wait alone:
  // only theirs need every wait and a name (there may be millions).
  std::vector<std::pair<std::int64_t, std::uint64_t>> ranked;  // (longest, goid)
  ranked.reserve(longest.size());
  for (auto [goid, ns] : longest) ranked.emplace_back(ns, goid);
  const auto before = [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; };
  const std::size_t ntop = std::min(kTopGoroutines, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(ntop), ranked.end(), before);
  ranked.resize(ntop);
  std::unordered_map<std::uint64_t, std::vector<std::int64_t>> waits;
  for (auto [ns, goid] : ranked) waits[goid];
  for (const Latency& l : tl.latencies)
    if (auto it = waits.find(l.goid); it != waits.end()) it->second.push_back(l.ns);
  const NameTable names = goroutine_name_table(t);
  for (auto [ns, goid] : ranked) s.top.push_back({goid, goroutine_label(goid, names), stats(waits[goid])});

  // Stop the world.
  for (const Stw& w : tl.stws) {
    s.stw_count++;
    s.stw_total = sat_add(s.stw_total, w.end - w.start);
    if (w.end - w.start > s.stw_longest || s.stw_count == 1) {
      s.stw_longest = w.end - w.start;
      s.stw_longest_at = w.start;
      s.stw_longest_reason = t.str(w.reason);
    }
  }

  // Each P's time. Every P exists for the whole trace (GOMAXPROCS changes
  // are stop-the-world pauses, and stopped time is counted apart).
  const StwCover stw(tl.stws);
  std::unordered_map<std::uint32_t, ProcTime> procs;
  for (std::uint32_t p : tl.procs) procs[p].p = p;
  for (const Slice& sl : tl.slices) {
    ProcTime& pt = procs[sl.p];
    pt.slices++;
    pt.running = sat_add(pt.running, (sl.end - sl.start) - stw.overlap(sl.start, sl.end));
  }
  for (const SyscallSlice& sc : tl.syscalls) {
    ProcTime& pt = procs[sc.p];
    pt.syscall = sat_add(pt.syscall, (sc.end - sc.start) - stw.overlap(sc.start, sc.end));
  }
  for (auto& [p, pt] : procs) {
    pt.stopped = s.stw_total;
    pt.idle = std::max<std::int64_t>(0, s.duration - sat_add(sat_add(pt.running, pt.syscall), pt.stopped));
    s.procs.push_back(pt);
  }
  std::sort(s.procs.begin(), s.procs.end(), [](const ProcTime& a, const ProcTime& b) { return a.p < b.p; });

  std::map<std::string, std::uint64_t> waiting;  // GO_STATE: wait reason -> goroutines
  for (const Event& e : t.events) {
    switch (e.type) {
      case GORT_TRACE_EV_GO_PREEMPT:
        (e.arg(1) == GORT_TRACE_PREEMPT_ASYNC ? s.preempt_async : s.preempt_coop)++;
        break;
      case GORT_TRACE_EV_PREEMPT_REQ:
        (e.arg(2) == GORT_TRACE_PREEMPT_TIMER   ? s.preempt_req_timer
         : e.arg(2) == GORT_TRACE_PREEMPT_ASYNC ? s.preempt_req_async
                                                : s.preempt_req_coop)++;
        break;
      case GORT_TRACE_EV_GO_SCHED: s.gosched++; break;
      case GORT_TRACE_EV_GO_PARK: s.parks++; break;
      case GORT_TRACE_EV_GO_SYSCALL: s.syscalls++; break;
      case GORT_TRACE_EV_STEAL:
        s.steals++;
        s.stolen = sat_add(s.stolen, e.arg(1));
        break;
      case GORT_TRACE_EV_PROC_HANDOFF: s.handoffs++; break;
      case GORT_TRACE_EV_GO_BLOCKED: s.blocked_retakes++; break;
      case GORT_TRACE_EV_GO_STATE:
        switch (e.arg(1)) {
          case GORT_TRACE_GSTATE_RUNNING: s.at_start.running++; break;
          case GORT_TRACE_GSTATE_RUNNABLE: s.at_start.runnable++; break;
          case GORT_TRACE_GSTATE_SYSCALL: s.at_start.syscall++; break;
          case GORT_TRACE_GSTATE_WAITING:
            s.at_start.waiting++;
            waiting[t.str(e.arg(2))]++;
            break;
          default: break;
        }
        break;
      default: break;
    }
  }
  std::vector<std::int64_t> delays = preemption_delays(t);
  s.preempt_delay = stats(delays);
  s.at_start.waiting_by_reason.assign(waiting.begin(), waiting.end());
  std::stable_sort(s.at_start.waiting_by_reason.begin(), s.at_start.waiting_by_reason.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return s;
}

std::string summary_text(const Summary& s) {
  std::string out;
  out += "Trace " + s.name + (s.complete ? "" : " (incomplete: no END record)") + "\n";
  out += table({{"duration", fmt_dur(s.duration)},
                {"events", std::to_string(s.events) + (s.lost ? " (" + std::to_string(s.lost) + " lost)" : "")},
                {"goroutines", std::to_string(s.goroutines)},
                {"Ps", std::to_string(s.procs.size())}});

  if (const StartStates& a = s.at_start; a.total() > 0) {
    out += "\nGoroutines when the trace started\n";
    std::vector<std::vector<std::string>> rows = {{"running", std::to_string(a.running)},
                                                  {"runnable", std::to_string(a.runnable)},
                                                  {"in syscall", std::to_string(a.syscall)},
                                                  {"waiting", std::to_string(a.waiting)}};
    for (const auto& [reason, n] : a.waiting_by_reason) rows.push_back({"  " + reason, std::to_string(n)});
    out += table(rows);
  }

  out += "\nScheduling latency (runnable until running)\n";
  std::vector<std::vector<std::string>> rows = {{"", "count", "median", "p99", "max"}, latency_row("all", s.latency)};
  for (int c = 0; c < kCauses; ++c)
    if (s.latency_by_cause[c].count) rows.push_back(latency_row("  " + std::string(runnable_cause_name(c)), s.latency_by_cause[c]));
  out += table(rows);

  if (!s.top.empty()) {
    out += "\nLongest waits\n";
    rows = {{"goroutine", "count", "median", "p99", "max"}};
    for (const GoroutineLatency& g : s.top) rows.push_back(latency_row(g.label, g.stats));
    out += table(rows);
  }

  if (!s.procs.empty()) {
    out += "\nTime per P\n";
    rows = {{"P", "running", "", "idle", "", "syscall", "", "stopped", "", "runs"}};
    for (const ProcTime& p : s.procs)
      rows.push_back({"P" + std::to_string(p.p), fmt_dur(p.running), pct(p.running, s.duration), fmt_dur(p.idle),
                      pct(p.idle, s.duration), fmt_dur(p.syscall), pct(p.syscall, s.duration), fmt_dur(p.stopped),
                      pct(p.stopped, s.duration), std::to_string(p.slices)});
    out += table(rows);
  }

  out += "\nScheduler\n";
  out += table({
      {"preemptions", std::to_string(s.preempt_coop + s.preempt_async) + " (" + std::to_string(s.preempt_coop) +
                          " coop, " + std::to_string(s.preempt_async) + " async)"},
      {"preemption requests", std::to_string(s.preempt_req_coop + s.preempt_req_async + s.preempt_req_timer) + " (" +
                                  std::to_string(s.preempt_req_coop) + " coop, " + std::to_string(s.preempt_req_async) +
                                  " async, " + std::to_string(s.preempt_req_timer) + " slice timer)"},
      {"request to preempted", s.preempt_delay.count ? "median " + fmt_dur(s.preempt_delay.median) + ", p99 " +
                                                          fmt_dur(s.preempt_delay.p99) + ", max " + fmt_dur(s.preempt_delay.max)
                                                    : "-"},
      {"gosched", std::to_string(s.gosched)},
      {"parks", std::to_string(s.parks)},
      {"syscalls", std::to_string(s.syscalls)},
      {"steals", std::to_string(s.steals) + " (" + std::to_string(s.stolen) + " goroutines)"},
      {"P hand-offs", std::to_string(s.handoffs)},
      {"blocked-thread retakes", std::to_string(s.blocked_retakes)},
  });

  out += "\nStop the world\n";
  std::vector<std::vector<std::string>> stw = {{"pauses", std::to_string(s.stw_count)},
                                               {"total", fmt_dur(s.stw_total)}};
  if (s.stw_count)
    stw.push_back({"longest", fmt_dur(s.stw_longest) + " (" + s.stw_longest_reason + ") at " + fmt_dur(s.stw_longest_at)});
  out += table(stw);
  return out;
}

std::string summary_json(const Summary& s) {
  std::string out;
  JsonWriter j(&out);
  j.begin_object();
  j.field("trace", s.name).field("complete", s.complete).field("duration_ns", s.duration);
  j.field("events", s.events).field("lost", s.lost).field("goroutines", s.goroutines);
  j.begin_object("latency");
  latency_json(j, "all", s.latency);
  for (int c = 0; c < kCauses; ++c) latency_json(j, runnable_cause_name(c), s.latency_by_cause[c]);
  j.end_object();
  j.begin_array("top");
  for (const GoroutineLatency& g : s.top) {
    j.begin_object().field("goid", g.goid).field("name", g.label);
    latency_json(j, "latency", g.stats);
    j.end_object();
  }
  j.end_array();
  j.begin_array("procs");
  for (const ProcTime& p : s.procs) {
    j.begin_object().field("p", p.p).field("running_ns", p.running).field("idle_ns", p.idle);
    j.field("syscall_ns", p.syscall).field("stopped_ns", p.stopped).field("runs", p.slices).end_object();
  }
  j.end_array();
  j.begin_object("preemptions").field("coop", s.preempt_coop).field("async", s.preempt_async).end_object();
  j.begin_object("preemption_requests")
      .field("coop", s.preempt_req_coop)
      .field("async", s.preempt_req_async)
      .field("timer", s.preempt_req_timer)
      .end_object();
  latency_json(j, "preemption_delay", s.preempt_delay);
  j.field("gosched", s.gosched).field("parks", s.parks).field("syscalls", s.syscalls);
  j.begin_object("steals").field("events", s.steals).field("goroutines", s.stolen).end_object();
  j.field("handoffs", s.handoffs).field("blocked_retakes", s.blocked_retakes);
  j.begin_object("stw").field("count", s.stw_count).field("total_ns", s.stw_total);
  j.field("longest_ns", s.stw_longest).field("longest_reason", s.stw_longest_reason);
  j.field("longest_at_ns", s.stw_longest_at).end_object();
  j.begin_object("at_start").field("running", s.at_start.running).field("runnable", s.at_start.runnable);
  // Wait reasons come from the file: values, never keys (keys are written unescaped).
  j.field("syscall", s.at_start.syscall).field("waiting", s.at_start.waiting).begin_array("waiting_by_reason");
  for (const auto& [reason, n] : s.at_start.waiting_by_reason)
    j.begin_object().field("reason", reason).field("goroutines", n).end_object();
  j.end_array().end_object();
  j.begin_array("warnings");
  for (const std::string& w : s.warnings) j.value(w);
  j.end_array();
  j.end_object();
  j.raw('\n');
  j.flush();  // the writer's buffer into out
  return out;
}

}  // namespace gort::trace
