// Events to intervals: see timeline.h.
#include "timeline.h"

#include <unordered_map>

#include "goid_map.h"

namespace gort::trace {

namespace {

constexpr std::int64_t kOpen = -1;

struct RunnableSince {
  std::int64_t ts;
  Runnable cause;
};

class Builder {
 public:
  explicit Builder(const Trace& t)
      : t_(t),
        by_g_(dense_goids(t)),
        sys_by_g_(dense_goids(t)),
        runnable_(dense_goids(t)),
        flows_(dense_goids(t)),
        goids_(dense_goids(t)) {
    tl_.duration = t.duration;
  }
  Timeline run();

 private:
  void event(const Event& e);
  void proc(std::uint64_t p) {
    if (p != GORT_TRACE_NO_P && p <= UINT32_MAX) tl_.procs.insert(static_cast<std::uint32_t>(p));
  }
  void start(std::uint64_t goid, std::uint32_t p, ThreadKey th, std::int64_t ts);
  // Ends goid's run slice; returns its P (or the thread's last one), NO_P if unknown.
  std::uint32_t stop(std::uint64_t goid, ThreadKey th, std::int64_t ts, SliceEnd why, std::uint64_t reason = 0);
  void close(std::size_t i, std::int64_t ts, SliceEnd why, std::uint64_t reason = 0);
  void end_syscall_of_p(std::uint32_t p, std::int64_t ts);
  void end_syscall_of_g(std::uint64_t goid, std::int64_t ts);
  void runnable(std::uint64_t goid, std::int64_t ts, Runnable why) {
    if (goid != 0) runnable_.try_emplace(goid, RunnableSince{ts, why});
  }
  // Goids below this are kept in vectors: a trace names at most one
  // goroutine per event, and real goids count up from 1.
  static std::size_t dense_goids(const Trace& t) { return 2 * t.events.size() + 1024; }

  const Trace& t_;
  Timeline tl_;
  GoidMap<std::size_t> by_g_;   // open run slices
  std::unordered_map<std::uint32_t, std::size_t> by_p_;
  std::unordered_map<ThreadKey, std::size_t> by_thread_;
  std::unordered_map<ThreadKey, std::uint32_t> thread_p_;  // the P each M last acquired
  GoidMap<std::size_t> sys_by_g_;  // open syscall slices
  std::unordered_map<std::uint64_t, std::size_t> sys_by_p_;
  GoidMap<RunnableSince> runnable_;
  GoidMap<Flow> flows_;  // GO_READY waiting for the G's start
  GoidMap<bool> goids_;
  ThreadKey last_thread_ = ~ThreadKey{0};  // the last event's, known to be in tl_.threads
  bool in_stw_ = false;
  Stw stw_;
};

Timeline Builder::run() {
  for (const Event& e : t_.events) {
    event(e);
    // GO_EXISTING is always followed by its GO_STATE, which must see
    // whether an earlier event named the G.
    if (e.arg(0) != 0 && names_goroutine(e.type) && e.type != GORT_TRACE_EV_GO_EXISTING)
      goids_.try_emplace(e.arg(0), true);
  }
  tl_.goroutines = goids_.size();
  const std::int64_t end = tl_.duration;
  for (Slice& s : tl_.slices)
    if (s.end == kOpen) s.end = end;
  for (SyscallSlice& s : tl_.syscalls)
    if (s.end == kOpen) s.end = end;
  if (in_stw_) {
    stw_.end = end;
    tl_.stws.push_back(stw_);
  }
  return std::move(tl_);
}

void Builder::close(std::size_t i, std::int64_t ts, SliceEnd why, std::uint64_t reason) {
  Slice& s = tl_.slices[i];
  s.end = ts;
  s.why = why;
  s.reason = reason;
  if (const std::size_t* g = by_g_.find(s.goid); g && *g == i) by_g_.erase(s.goid);
  if (auto it = by_p_.find(s.p); it != by_p_.end() && it->second == i) by_p_.erase(it);
  if (auto it = by_thread_.find(s.thread); it != by_thread_.end() && it->second == i) by_thread_.erase(it);
}

void Builder::start(std::uint64_t goid, std::uint32_t p, ThreadKey th, std::int64_t ts) {
  // Whatever still runs where this G now runs did not record its end.
  if (const std::size_t* g = by_g_.find(goid)) close(*g, ts, SliceEnd::Cut);
  if (auto it = by_p_.find(p); it != by_p_.end()) close(it->second, ts, SliceEnd::Cut);
  if (auto it = by_thread_.find(th); it != by_thread_.end()) close(it->second, ts, SliceEnd::Cut);
  end_syscall_of_p(p, ts);
  const std::size_t i = tl_.slices.size();
  Slice s;
  s.goid = goid;
  s.p = p;
  s.thread = th;
  s.start = ts;
  s.end = kOpen;
  tl_.slices.push_back(s);
  by_g_.set(goid, i);
  by_p_[p] = i;
  by_thread_[th] = i;
  thread_p_[th] = p;
  tl_.procs.insert(p);
  if (const RunnableSince* r = runnable_.find(goid)) {
    tl_.latencies.push_back({goid, ts - r->ts, r->cause});
    runnable_.erase(goid);
  }
  if (Flow* f = flows_.find(goid)) {
    f->to = i;
    tl_.flows.push_back(*f);
    flows_.erase(goid);
  }
}

std::uint32_t Builder::stop(std::uint64_t goid, ThreadKey th, std::int64_t ts, SliceEnd why, std::uint64_t reason) {
  std::uint32_t p = GORT_TRACE_NO_P;
  if (auto it = thread_p_.find(th); it != thread_p_.end()) p = it->second;
  if (const std::size_t* g = by_g_.find(goid)) {
    p = tl_.slices[*g].p;
    close(*g, ts, why, reason);
  }
  return p;
}

void Builder::end_syscall_of_p(std::uint32_t p, std::int64_t ts) {
  auto it = sys_by_p_.find(p);
  if (it == sys_by_p_.end()) return;
  SyscallSlice& s = tl_.syscalls[it->second];
  s.end = ts;
  if (const std::size_t* g = sys_by_g_.find(s.goid); g && *g == it->second) sys_by_g_.erase(s.goid);
  sys_by_p_.erase(it);
}

void Builder::end_syscall_of_g(std::uint64_t goid, std::int64_t ts) {
  if (const std::size_t* g = sys_by_g_.find(goid)) end_syscall_of_p(tl_.syscalls[*g].p, ts);
}

void Builder::event(const Event& e) {
  const ThreadKey th = thread_key(e.m, e.tid);
  // Consecutive events are mostly one thread's: the map is looked at when it changes.
  if (th != last_thread_) {
    // A GO_STATE names a running G's M before the M's own events give its tid.
    if (auto [it, fresh] = tl_.threads.try_emplace(th, e.tid); !fresh && it->second == 0) it->second = e.tid;
    last_thread_ = th;
  }
  const std::uint64_t g = e.arg(0);
  const auto p32 = [](std::uint64_t p) { return p > UINT32_MAX ? GORT_TRACE_NO_P : static_cast<std::uint32_t>(p); };
  switch (e.type) {
    case GORT_TRACE_EV_GO_START: {
      const std::uint32_t p = p32(e.arg(1));
      if (p != GORT_TRACE_NO_P) start(g, p, th, e.ts);
      break;
    }
    case GORT_TRACE_EV_GO_END:
      stop(g, th, e.ts, SliceEnd::Returned);
      runnable_.erase(g);
      flows_.erase(g);
      break;
    case GORT_TRACE_EV_GO_SCHED:
      stop(g, th, e.ts, SliceEnd::Gosched);
      runnable(g, e.ts, Runnable::Gosched);
      break;
    case GORT_TRACE_EV_GO_PREEMPT:
      stop(g, th, e.ts, e.arg(1) == GORT_TRACE_PREEMPT_ASYNC ? SliceEnd::PreemptAsync : SliceEnd::PreemptCoop);
      runnable(g, e.ts, Runnable::Preempted);
      break;
    case GORT_TRACE_EV_GO_PARK:
      stop(g, th, e.ts, SliceEnd::Parked, e.arg(1));
      runnable_.erase(g);
      break;
    case GORT_TRACE_EV_GO_SYSCALL: {
      std::uint32_t p = stop(g, th, e.ts, SliceEnd::Syscall);
      if (p32(e.arg(1)) != GORT_TRACE_NO_P) p = p32(e.arg(1));
      if (p == GORT_TRACE_NO_P) break;
      proc(p);
      end_syscall_of_p(p, e.ts);
      end_syscall_of_g(g, e.ts);
      sys_by_p_[p] = tl_.syscalls.size();
      sys_by_g_.set(g, tl_.syscalls.size());
      tl_.syscalls.push_back({g, p, e.ts, kOpen});
      break;
    }
    case GORT_TRACE_EV_GO_SYSEXIT:
      // Back on a P, a GO_START follows; without one, the G queues.
      end_syscall_of_g(g, e.ts);
      if (p32(e.arg(1)) == GORT_TRACE_NO_P) runnable(g, e.ts, Runnable::SyscallQueued);
      break;
    case GORT_TRACE_EV_GO_BLOCKED: {
      // Recorded by sysmon: the slice is the G's, on its own thread.
      if (const std::size_t* s = by_g_.find(g)) close(*s, e.ts, SliceEnd::Blocked);
      proc(e.arg(1));
      end_syscall_of_p(p32(e.arg(1)), e.ts);
      break;
    }
    case GORT_TRACE_EV_GO_CREATE:
      runnable(g, e.ts, Runnable::Created);
      break;
    case GORT_TRACE_EV_GO_STATE:
      // Running when the trace started: its slice starts here. (Runnable,
      // waiting or in a system call: its next event says more. How long a
      // runnable one had waited is unknown, so it is no latency sample.)
      if (goids_.find(g) == nullptr && e.arg(1) == GORT_TRACE_GSTATE_RUNNING && p32(e.arg(2)) != GORT_TRACE_NO_P &&
          e.arg(3) < GORT_TRACE_NO_M) {
        const ThreadKey m = thread_key(static_cast<std::uint32_t>(e.arg(3)), 0);
        tl_.threads.try_emplace(m, 0);
        start(g, p32(e.arg(2)), m, e.ts);
      }
      break;
    case GORT_TRACE_EV_GO_READY: {
      if (g == 0) break;
      runnable(g, e.ts, Runnable::Readied);
      Flow f;
      f.ts = e.ts;
      f.by = e.arg(1);
      if (const std::size_t* s = f.by != 0 ? by_g_.find(f.by) : nullptr) {
        f.from_p = true;
        f.from_track = tl_.slices[*s].p;
      } else {
        f.from_track = th;
      }
      flows_.try_emplace(g, f);
      break;
    }
    case GORT_TRACE_EV_PROC_START:
      proc(g);
      if (p32(g) != GORT_TRACE_NO_P) {
        thread_p_[th] = p32(g);
        end_syscall_of_p(p32(g), e.ts);
      }
      break;
    case GORT_TRACE_EV_PROC_STOP:
      proc(g);
      if (auto it = by_p_.find(p32(g)); it != by_p_.end()) close(it->second, e.ts, SliceEnd::Cut);
      if (auto it = thread_p_.find(th); it != thread_p_.end() && it->second == p32(g)) thread_p_.erase(it);
      break;
    case GORT_TRACE_EV_PROC_HANDOFF:
      proc(g);
      end_syscall_of_p(p32(g), e.ts);
      break;
    case GORT_TRACE_EV_PROC_STATUS:
      proc(g);
      if (e.arg(1) != 2) end_syscall_of_p(p32(g), e.ts);  // 2: in syscall
      break;
    case GORT_TRACE_EV_PREEMPT_REQ:
      proc(e.arg(1));
      break;
    case GORT_TRACE_EV_STEAL:
      proc(e.arg(0));
      proc(e.arg(2));
      break;
    case GORT_TRACE_EV_RUNQ_PUTSLOW:
      proc(g);
      break;
    case GORT_TRACE_EV_M_START:
      if (g != GORT_TRACE_NO_M && g <= UINT32_MAX) tl_.threads[g] = static_cast<std::uint32_t>(e.arg(1));
      break;
    case GORT_TRACE_EV_STW_BEGIN:
      if (!in_stw_) {
        in_stw_ = true;
        stw_ = Stw{e.ts, kOpen, g};
      }
      break;
    case GORT_TRACE_EV_STW_END:
      if (in_stw_) {
        in_stw_ = false;
        stw_.end = e.ts;
        tl_.stws.push_back(stw_);
      }
      break;
    default:
      break;
  }
}

}  // namespace

std::string slice_end_text(const Trace& t, SliceEnd why, std::uint64_t reason) {
  switch (why) {
    case SliceEnd::Returned: return "returned";
    case SliceEnd::PreemptCoop: return "preempted (coop)";
    case SliceEnd::PreemptAsync: return "preempted (async)";
    case SliceEnd::Gosched: return "gosched";
    case SliceEnd::Parked: return "parked (" + t.str(reason) + ")";
    case SliceEnd::Syscall: return "syscall";
    case SliceEnd::Blocked: return "blocked thread retaken";
    case SliceEnd::Cut: return "unknown (next start)";
    case SliceEnd::TraceEnd: return "trace end";
  }
  return "?";
}

Timeline build_timeline(const Trace& t) { return Builder(t).run(); }

}  // namespace gort::trace
