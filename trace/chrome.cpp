// Chrome Trace Event JSON from the timeline: see chrome.h and docs/trace.md.
#include "chrome.h"

#include <charconv>

#include "gort/inspect/json.h"
#include "names.h"
#include "timeline.h"

namespace gort::trace {

namespace {

using inspect::append_json_string;
using inspect::JsonWriter;
// The same JSON goes into the HTML page (html.h): '<' is escaped.
constexpr bool kHtmlSafe = true;

constexpr int kProcs = 1, kThreads = 2, kStw = 3;

// Stop-the-world pauses are drawn on every P's track: a trace with very
// many of both (a damaged one, in practice) draws them on pid 3 only.
constexpr std::size_t kMaxStwCopies = 4'000'000;

const char* cname(SliceEnd why) {
  switch (why) {
    case SliceEnd::Returned: return "good";
    case SliceEnd::PreemptCoop:
    case SliceEnd::PreemptAsync: return "bad";
    case SliceEnd::Gosched: return "yellow";
    case SliceEnd::Parked: return "grey";
    case SliceEnd::Syscall: return "olive";
    case SliceEnd::Blocked: return "terrible";
    case SliceEnd::Cut:
    case SliceEnd::TraceEnd: return nullptr;
  }
  return nullptr;
}

// A slice's name and end are written for millions of slices from a few
// distinct strings: those are escaped once, and a name is put together in
// scratch_ (its capacity reused) rather than allocated per slice.
class Writer {
 public:
  Writer(const Trace& t, JsonWriter& j) : t_(t), tl_(build_timeline(t)), names_(goroutine_name_table(t)), j_(j) {
    for (const std::string& f : names_.functions) {
      std::string& e = fn_json_.emplace_back();
      if (f.empty()) continue;
      append_json_string(&e, " " + f, kHtmlSafe);
      e = e.substr(1, e.size() - 2);  // the body, to follow "G<goid>
    }
  }
  void run();

 private:
  void metadata();
  void metadata_entry(int pid, std::uint64_t tid, const char* what, const char* key, const std::string& name,
                      std::int64_t sort);
  void slices();
  void stw();
  void flows();
  void instants();
  // An event's common head: ph, pid, tid, ts, name (JSON text), cat.
  void head(const char* ph, int pid, std::uint64_t tid, std::int64_t ts, std::string_view name_json, const char* cat);
  void instant(int pid, std::uint64_t tid, std::int64_t ts, const std::string& name);
  // The P's track if p is one, else the recording thread's.
  void instant_on_p(std::uint64_t p, const Event& e, const std::string& name);
  std::string label(std::uint64_t goid) const { return goroutine_label(goid, names_); }
  // goroutine_label(goid) as JSON text, in scratch_.
  std::string_view label_json(std::uint64_t goid);
  // s as JSON text, in scratch_.
  std::string_view json(std::string_view s) {
    scratch_.clear();
    append_json_string(&scratch_, s, kHtmlSafe);
    return scratch_;
  }
  // slice_end_text as JSON text.
  const std::string& end_json(SliceEnd why, std::uint64_t reason);

  const Trace& t_;
  Timeline tl_;
  NameTable names_;
  std::vector<std::string> fn_json_;  // names_.functions as JSON text: " worker"
  std::unordered_map<std::uint64_t, std::string> end_json_;  // by SliceEnd and wait reason
  std::string scratch_;
  JsonWriter& j_;
  std::vector<std::string> notes_;
};

std::string_view Writer::label_json(std::uint64_t goid) {
  char digits[24];
  char* d_end = std::to_chars(digits, digits + sizeof digits, goid).ptr;
  auto it = names_.of.find(goid);
  const std::string& fn = fn_json_[it == names_.of.end() ? 0 : it->second];
  scratch_.assign("\"G");
  scratch_.append(digits, static_cast<std::size_t>(d_end - digits));
  scratch_.append(fn);
  scratch_ += '"';
  return scratch_;
}

const std::string& Writer::end_json(SliceEnd why, std::uint64_t reason) {
  // Only a parked slice's text depends on the reason.
  const std::uint64_t key = why == SliceEnd::Parked ? reason : UINT64_MAX - static_cast<std::uint64_t>(why);
  auto [it, fresh] = end_json_.try_emplace(key);
  if (fresh) append_json_string(&it->second, slice_end_text(t_, why, reason), kHtmlSafe);
  return it->second;
}

void Writer::run() {
  j_.begin_object();
  j_.begin_array("traceEvents");
  metadata();
  slices();
  stw();
  flows();
  instants();
  j_.end_array();
  j_.field("displayTimeUnit", "ns");
  j_.begin_object("otherData");
  j_.field("version", t_.version);
  j_.field("events", static_cast<std::uint64_t>(t_.events.size()));
  j_.field("lost", t_.lost);
  j_.field("goroutines", tl_.goroutines);
  j_.field("procs", static_cast<std::uint64_t>(tl_.procs.size()));
  j_.micros("duration_us", t_.duration);
  j_.field("complete", t_.complete);
  j_.begin_array("warnings");
  for (const std::string& w : t_.warnings) j_.value(w);
  for (const std::string& w : notes_) j_.value(w);
  j_.end_array();
  j_.end_object();
  j_.end_object();
}

void Writer::head(const char* ph, int pid, std::uint64_t tid, std::int64_t ts, std::string_view name_json,
                  const char* cat) {
  j_.begin_object();
  j_.field("ph", ph);
  j_.field("pid", pid);
  j_.field("tid", tid);
  j_.micros("ts", ts);
  j_.field_json("name", name_json);
  if (cat) j_.field("cat", cat);
}

void Writer::metadata_entry(int pid, std::uint64_t tid, const char* what, const char* key, const std::string& name,
                            std::int64_t sort) {
  j_.begin_object().field("ph", "M").field("pid", pid).field("tid", tid).field("name", what);
  j_.begin_object("args").field(key, name).end_object().end_object();
  const bool process = std::string_view(what) == "process_name";
  j_.begin_object().field("ph", "M").field("pid", pid).field("tid", tid);
  j_.field("name", process ? "process_sort_index" : "thread_sort_index");
  j_.begin_object("args").field("sort_index", sort).end_object().end_object();
}

void Writer::metadata() {
  metadata_entry(kProcs, 0, "process_name", "name", "Procs", kProcs);
  metadata_entry(kThreads, 0, "process_name", "name", "Threads", kThreads);
  metadata_entry(kStw, 0, "process_name", "name", "STW", kStw);
  for (std::uint32_t p : tl_.procs) metadata_entry(kProcs, p, "thread_name", "name", "P" + std::to_string(p), p);
  for (auto [key, tid] : tl_.threads) {
    std::string name = key >> 32 ? "thread " + std::to_string(tid) + " (not an M)"
           : tid == 0 ? "M" + std::to_string(key)  // named only by a GO_STATE: its tid is not in the trace
                      : "M" + std::to_string(key) + " (tid " + std::to_string(tid) + ")";
    metadata_entry(kThreads, key, "thread_name", "name", name, static_cast<std::int64_t>(key));
  }
  metadata_entry(kStw, 0, "thread_name", "name", "stop the world", 0);
}

void Writer::slices() {
  for (const Slice& s : tl_.slices) {
    const std::string& end = end_json(s.why, s.reason);
    for (int pid : {kProcs, kThreads}) {
      head("X", pid, pid == kProcs ? s.p : s.thread, s.start, label_json(s.goid), "goroutine");
      j_.micros("dur", s.end - s.start);
      if (const char* c = cname(s.why)) j_.field("cname", c);
      j_.begin_object("args").field("goid", s.goid).field("p", s.p);
      if (!(s.thread >> 32)) j_.field("m", s.thread);
      j_.field_json("end", end).end_object();
      j_.end_object();
    }
  }
  for (const SyscallSlice& s : tl_.syscalls) {
    head("X", kProcs, s.p, s.start, json("syscall G" + std::to_string(s.goid)), "syscall");
    j_.micros("dur", s.end - s.start);
    j_.begin_object("args").field("goid", s.goid).end_object();
    j_.end_object();
  }
}

void Writer::stw() {
  const bool on_ps = tl_.stws.size() * (tl_.procs.size() + 1) <= kMaxStwCopies;
  if (!on_ps) notes_.push_back("too many stop-the-world pauses to draw on every P: they are on the STW track only");
  for (const Stw& s : tl_.stws) {
    std::string name;
    append_json_string(&name, "STW: " + t_.str(s.reason), kHtmlSafe);
    auto one = [&](int pid, std::uint64_t tid) {
      head("X", pid, tid, s.start, name, "stw");
      j_.micros("dur", s.end - s.start);
      j_.field("cname", "black");
      j_.begin_object("args").field("reason", t_.str(s.reason)).end_object();
      j_.end_object();
    };
    one(kStw, 0);
    if (on_ps)
      for (std::uint32_t p : tl_.procs) one(kProcs, p);
  }
}

void Writer::flows() {
  std::uint64_t id = 0;
  for (const Flow& f : tl_.flows) {
    const Slice& to = tl_.slices[f.to];
    ++id;
    head("s", f.from_p ? kProcs : kThreads, f.from_track, f.ts, "\"ready\"", "ready");
    j_.field("id", id);
    j_.begin_object("args").field("by", f.by).field("goid", to.goid).end_object();
    j_.end_object();
    head("f", kProcs, to.p, to.start, "\"ready\"", "ready");
    j_.field("id", id).field("bp", "e");
    j_.end_object();
  }
}

void Writer::instant(int pid, std::uint64_t tid, std::int64_t ts, const std::string& name) {
  head("i", pid, tid, ts, json(name), "sched");
  j_.field("s", "t");
  j_.end_object();
}

void Writer::instant_on_p(std::uint64_t p, const Event& e, const std::string& name) {
  if (p <= UINT32_MAX && tl_.procs.count(static_cast<std::uint32_t>(p))) instant(kProcs, p, e.ts, name);
  else instant(kThreads, thread_key(e.m, e.tid), e.ts, name);
}

void Writer::instants() {
  for (const Event& e : t_.events) {
    switch (e.type) {
      case GORT_TRACE_EV_PREEMPT_REQ:
        instant_on_p(e.arg(1), e,
                     "preempt G" + std::to_string(e.arg(0)) +
                         (e.arg(2) == GORT_TRACE_PREEMPT_TIMER   ? " (slice timer)"
                          : e.arg(2) == GORT_TRACE_PREEMPT_ASYNC ? " (async)"
                                                                 : " (coop)"));
        break;
      case GORT_TRACE_EV_STEAL:
        instant_on_p(e.arg(2), e, "steal " + std::to_string(e.arg(1)) + " from P" + std::to_string(e.arg(0)));
        break;
      case GORT_TRACE_EV_PROC_HANDOFF:
        instant_on_p(e.arg(0), e, "handoff P" + std::to_string(e.arg(0)) + " from M" + std::to_string(e.arg(1)));
        break;
      case GORT_TRACE_EV_GO_BLOCKED:
        instant_on_p(e.arg(1), e, "blocked " + label(e.arg(0)) + ": P" + std::to_string(e.arg(1)) + " retaken");
        break;
      case GORT_TRACE_EV_NETPOLL:
        instant(kThreads, thread_key(e.m, e.tid), e.ts, "netpoll: " + std::to_string(e.arg(0)) + " ready");
        break;
      default:
        break;
    }
  }
}

}  // namespace

std::string chrome_json(const Trace& t) {
  std::string out;
  out.reserve(256 + t.events.size() * 160);
  JsonWriter j(&out, kHtmlSafe);
  Writer(t, j).run();
  j.raw('\n');
  j.flush();
  return out;
}

bool write_chrome_json(const Trace& t, std::FILE* f) {
  JsonWriter j(f, kHtmlSafe);
  Writer(t, j).run();
  j.raw('\n');
  return j.flush();
}

}  // namespace gort::trace
