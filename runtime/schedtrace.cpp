// GORTDEBUG=schedtrace=MS[,scheddetail=1]: Go's scheduler trace, in Go's
// format, printed by sysmon every MS milliseconds; and gort::debug's
// snapshot of the same numbers.
#include <cstdarg>
#include <cstdio>
#include <string>

#include "gort/debug.h"
#include "netpoll.h"
#include "runtime2.h"
#include "traceback.h"

namespace gort::rt {

namespace {
void append(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void append(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf, static_cast<std::size_t>(n) < sizeof buf ? static_cast<std::size_t>(n) : sizeof buf - 1);
}
const char* tf(bool b) { return b ? "true" : "false"; }

const char* pstatus_string(std::uint32_t s) {
  switch (s) {
    case Pidle: return "idle";
    case Prunning: return "running";
    case Psyscall: return "syscall";
    case Pgcstop: return "gcstop";
    case Pdead: return "dead";
  }
  return "?";
}

// sched.lock held. Everything read here changes under us: a racy snapshot,
// as in Go.
debug::SchedStats snapshot() {
  debug::SchedStats s{};
  s.uptime_ns = nanotime() - sched.starttime;
  s.gomaxprocs = gomaxprocs.load();
  s.idleprocs = sched.npidle.load();
  s.threads = sched.mcount;
  s.spinningthreads = sched.nmspinning.load();
  s.idlethreads = sched.nmidle;
  s.runqueue = sched.runqsize.load();
  s.goroutines = gcount();
  s.preempted_at_yield_points = sched.npreemptsync.load(std::memory_order_relaxed);
  s.preempted_by_signal = sched.npreemptasync.load(std::memory_order_relaxed);
  s.slice_timer_requests = sched.npreempttimer.load(std::memory_order_relaxed);
  s.blocked_retakes = sched.nblockretake.load(std::memory_order_relaxed);
  s.handoffs_on_cpu = sched.nhandoffcpu.load(std::memory_order_relaxed);
  s.blocked_returns = sched.nblockreturn.load(std::memory_order_relaxed);
  s.io_waiters = netpoll_waiters();
  for (int i = 0; i < kMaxProcs && allp[i] != nullptr; ++i) s.preempt_requests += allp[i]->preemptcount;
  for (int i = 0; i < s.gomaxprocs; ++i) {
    P* pp = allp[i];
    M* mp = pp->m;
    s.ps.push_back(debug::PStats{i, pstatus_string(pp->status.load()), pp->schedtick, pp->syscalltick,
                                mp ? mp->id : -1, runqsize(pp), pp->runnext.load() != nullptr, pp->gfreecnt,
                                pp->ntimers});
  }
  return s;
}

std::string format(bool detailed) {
  std::string out;
  debug::SchedStats s = snapshot();
  append(out, "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d runqueue=%d",
         static_cast<long long>(s.uptime_ns / 1000000), s.gomaxprocs, s.idleprocs, s.threads, s.spinningthreads,
         s.idlethreads, s.runqueue);
  if (detailed)
    append(out, " gcwaiting=%s nmidlelocked=%d stopwait=%d sysmonwait=%s\n", tf(sched.gcwaiting.load() != 0),
           sched.nmidlelocked, sched.stopwait.load(), tf(sched.sysmonwait.load()));
  for (const auto& p : s.ps) {
    if (detailed) {
      append(out, "  P%d: status=%u schedtick=%u syscalltick=%u m=%lld runqsize=%u gfreecnt=%d timerslen=%zu\n", p.id,
             allp[p.id]->status.load(), p.schedtick, p.syscalltick, static_cast<long long>(p.m), p.runqsize,
             p.gfreecnt, p.timers);
    } else {
      append(out, " %s%u%s", p.id == 0 ? "[" : "", p.runqsize, p.id == s.gomaxprocs - 1 ? "]\n" : "");
    }
  }
  if (!detailed) return out;
  for (M* mp = allm.load(); mp; mp = mp->alllink) {
    if (mp->exited) continue;
    P* pp = mp->p;
    G* gp = mp->curg;
    G* lockedg = mp->lockedg;
    append(out,
           "  M%lld: p=%d curg=%lld mallocing=0 throwing=0 preemptoff=%d locks=%d dying=0 spinning=%s blocked=%s "
           "lockedg=%lld\n",
           static_cast<long long>(mp->id), pp ? pp->id : -1, gp ? static_cast<long long>(gp->goid) : -1LL,
           // blocked: parked waiting for work (Go's meaning), or blocked in
           // the kernel outside gort::syscall with its P taken (its curg is set).
           mp->preemptoff.load(), mp->locks.load(), tf(mp->spinning),
           tf(mp->blocked || mp->blockretake.load(std::memory_order_relaxed) == kBlockRetaken),
           lockedg ? static_cast<long long>(lockedg->goid) : -1LL);
  }
  std::size_t n = allgs.len.load(std::memory_order_acquire);
  G** gs = allgs.ptr.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    G* gp = gs[i];
    M* mp = gp->m;
    M* lockedm = gp->lockedm;
    append(out, "  G%lld: status=%u(%s) m=%lld lockedm=%lld\n", static_cast<long long>(gp->goid), readgstatus(gp),
           waitreason_string(gp->waitreason), mp ? static_cast<long long>(mp->id) : -1LL,
           lockedm ? static_cast<long long>(lockedm->id) : -1LL);
  }
  return out;
}
}  // namespace

void schedtrace(bool detailed) {
  sched.lock.lock();
  std::string out = format(detailed);
  sched.lock.unlock();
  fdwrite(2, out.data(), out.size());
}

}  // namespace gort::rt

namespace gort::debug {

SchedStats sched_stats() {
  rt::sched.lock.lock();
  SchedStats s = rt::snapshot();
  rt::sched.lock.unlock();
  return s;
}

std::string schedtrace(bool detailed) {
  rt::sched.lock.lock();
  std::string s = rt::format(detailed);
  rt::sched.lock.unlock();
  return s;
}

int current_p() {
  rt::M* mp = rt::getm();
  return (mp && mp->curg && mp->p) ? mp->p->id : -1;
}

std::int64_t current_m() {
  rt::M* mp = rt::getm();
  return (mp && mp->curg) ? mp->id : -1;
}

}  // namespace gort::debug
