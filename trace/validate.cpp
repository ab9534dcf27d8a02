// The scheduler's invariants on a trace: see validate.h.
//
// A state machine of its own over the events, not the timeline's: the
// timeline repairs what it cannot explain (a slice without an end is cut at
// the next start), and that repair is exactly what must be reported here.
#include "validate.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include "timeline.h"

namespace gort::trace {

namespace {

std::string at(std::int64_t ns) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%lld.%06lldms", static_cast<long long>(ns / 1000000),
                static_cast<long long>(ns % 1000000));
  return buf;
}

std::string g(std::uint64_t goid) { return "G" + std::to_string(goid); }
std::string p(std::uint64_t pid) { return "P" + std::to_string(pid); }

struct Running {
  std::uint64_t p;
  ThreadKey thread;
  std::int64_t since;
};

class Checker {
 public:
  Checker(const Trace& t, std::size_t limit) : t_(t), limit_(limit) {}
  std::vector<std::string> run();

 private:
  void event(const Event& e);
  void violation(std::int64_t ts, const std::string& what) {
    if (out_.size() < limit_) out_.push_back(at(ts) + ": " + what);
    else more_++;
  }
  void start(std::uint64_t goid, std::uint64_t pid, ThreadKey th, std::int64_t ts);
  bool stop(std::uint64_t goid);  // false if it was not running

  const Trace& t_;
  std::size_t limit_;
  std::vector<std::string> out_;
  std::size_t more_ = 0;
  std::unordered_map<std::uint64_t, Running> running_;       // by goid
  std::unordered_map<std::uint64_t, std::uint64_t> on_p_;    // P -> goid
  std::unordered_map<std::uint64_t, std::int64_t> parked_;   // goid -> since, until its GO_READY
  std::unordered_set<std::uint64_t> known_;                  // goids whose running state we know
  bool in_stw_ = false;
  std::int64_t stw_since_ = 0;
  std::string stw_reason_;
  ThreadKey stopper_ = 0;
  std::vector<std::string> stopped_late_;
};

std::vector<std::string> Checker::run() {
  for (const Event& e : t_.events) event(e);
  if (more_ > 0) out_.push_back("... and " + std::to_string(more_) + " more");
  return std::move(out_);
}

bool Checker::stop(std::uint64_t goid) {
  auto it = running_.find(goid);
  if (it == running_.end()) return false;
  if (auto q = on_p_.find(it->second.p); q != on_p_.end() && q->second == goid) on_p_.erase(q);
  running_.erase(it);
  return true;
}

void Checker::start(std::uint64_t goid, std::uint64_t pid, ThreadKey th, std::int64_t ts) {
  if (auto it = running_.find(goid); it != running_.end()) {
    const Running r = it->second;
    if (r.p == pid)
      violation(ts, g(goid) + " starts on " + p(pid) + " again without stopping (running since " + at(r.since) + ")");
    else
      violation(ts, g(goid) + " starts on " + p(pid) + " while it runs on " + p(r.p) + " (since " + at(r.since) + ")");
    stop(goid);
  }
  if (auto q = on_p_.find(pid); q != on_p_.end()) {
    const std::uint64_t other = q->second;
    violation(ts, p(pid) + " starts " + g(goid) + " while it runs " + g(other) + " (since " +
                      at(running_[other].since) + ")");
    stop(other);
  }
  if (auto it = parked_.find(goid); it != parked_.end()) {
    violation(ts, g(goid) + " starts on " + p(pid) + " but has been parked since " + at(it->second) +
                      " with no GO_READY for it yet");
    parked_.erase(it);
  }
  if (in_stw_ && th != stopper_)
    violation(ts, g(goid) + " starts on " + p(pid) + " while the world is stopped (since " + at(stw_since_) + ", " +
                      stw_reason_ + ")");
  running_[goid] = Running{pid, th, ts};
  on_p_[pid] = goid;
  known_.insert(goid);
}

void Checker::event(const Event& e) {
  const ThreadKey th = thread_key(e.m, e.tid);
  const std::uint64_t goid = e.arg(0);
  switch (e.type) {
    case GORT_TRACE_EV_GO_CREATE:
      known_.insert(goid);
      break;
    case GORT_TRACE_EV_GO_START:
      start(goid, e.arg(1), th, e.ts);
      break;
    case GORT_TRACE_EV_GO_SYSEXIT:  // a GO_START follows if it has a P
      known_.insert(goid);
      break;
    case GORT_TRACE_EV_GO_PREEMPT:
      if (!stop(goid) && known_.count(goid))
        violation(e.ts, "GO_PREEMPT of " + g(goid) + ", which is not running");
      known_.insert(goid);
      break;
    case GORT_TRACE_EV_GO_PARK:
      stop(goid);
      parked_[goid] = e.ts;
      known_.insert(goid);
      break;
    case GORT_TRACE_EV_GO_END:
      stop(goid);
      parked_.erase(goid);
      known_.insert(goid);
      break;
    case GORT_TRACE_EV_GO_SCHED:
    case GORT_TRACE_EV_GO_SYSCALL:
    case GORT_TRACE_EV_GO_BLOCKED:
      stop(goid);
      known_.insert(goid);
      break;
    case GORT_TRACE_EV_GO_READY:
      parked_.erase(goid);
      break;
    case GORT_TRACE_EV_GO_EXISTING:
    case GORT_TRACE_EV_GO_STATE:
      // Not evidence: a goroutine's state at the trace's start is read while
      // the program runs, and the event that changed it just before (a
      // gosched, a wake-up) may have been recorded by no one. Its next event
      // says where it is, as for a trace without them.
      break;
    case GORT_TRACE_EV_STW_BEGIN:
      if (in_stw_) break;
      in_stw_ = true;
      stw_since_ = e.ts;
      stw_reason_ = t_.str(goid);
      stopper_ = th;
      // Recorded once every P has stopped: only the stopper's own G runs.
      for (const auto& [id, r] : running_)
        if (r.thread != th)
          stopped_late_.push_back(g(id) + " runs on " + p(r.p) + " when the world has stopped (" + stw_reason_ +
                                  "; running since " + at(r.since) + ")");
      std::sort(stopped_late_.begin(), stopped_late_.end());
      for (const std::string& v : stopped_late_) violation(e.ts, v);
      stopped_late_.clear();
      break;
    case GORT_TRACE_EV_STW_END:
      in_stw_ = false;
      break;
    default:
      break;
  }
}

}  // namespace

std::vector<std::string> validate(const Trace& t, std::size_t limit) { return Checker(t, limit).run(); }

std::array<std::uint64_t, GORT_TRACE_EV_COUNT> count_events(const Trace& t) {
  std::array<std::uint64_t, GORT_TRACE_EV_COUNT> n{};
  for (const Event& e : t.events)
    if (e.type < GORT_TRACE_EV_COUNT) n[e.type]++;
  return n;
}

}  // namespace gort::trace
