// GORTDEBUG=schedtrace=MS[,scheddetail=1]: Go's scheduler trace, in Go's
// format, printed by sysmon every MS milliseconds.
#include <cstdarg>
#include <cstdio>
#include <string>

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
}  // namespace

void schedtrace(bool detailed) {
  std::int64_t now = nanotime();
  std::string out;
  sched.lock.lock();
  std::int32_t procs = gomaxprocs.load();
  append(out, "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d runqueue=%d",
         static_cast<long long>((now - sched.starttime) / 1000000), procs, sched.npidle.load(), sched.mcount,
         sched.nmspinning.load(), sched.nmidle, sched.runqsize.load());
  if (detailed)
    append(out, " gcwaiting=%s nmidlelocked=%d stopwait=%d sysmonwait=%s\n", tf(sched.gcwaiting.load() != 0),
           sched.nmidlelocked, sched.stopwait, tf(sched.sysmonwait.load()));
  // We must be careful while reading data from Ps, Ms and Gs: they change
  // under us. Everything below is a racy snapshot, as in Go.
  for (std::int32_t i = 0; i < procs; ++i) {
    P* pp = allp[i];
    M* mp = pp->m;
    std::uint32_t n = runqsize(pp);
    if (detailed) {
      long long id = mp ? static_cast<long long>(mp->id) : -1;
      append(out, "  P%d: status=%u schedtick=%u syscalltick=%u m=%lld runqsize=%u gfreecnt=%d timerslen=%zu\n", i,
             pp->status.load(), pp->schedtick, pp->syscalltick, id, n, pp->gfreecnt, pp->timers.size());
    } else {
      append(out, " %s%u%s", i == 0 ? "[" : "", n, i == procs - 1 ? "]\n" : "");
    }
  }
  if (!detailed) {
    sched.lock.unlock();
    fdwrite(2, out.data(), out.size());
    return;
  }
  for (M* mp = allm.load(); mp; mp = mp->alllink) {
    if (mp->exited) continue;
    P* pp = mp->p;
    G* gp = mp->curg;
    G* lockedg = mp->lockedg;
    append(out, "  M%lld: p=%d curg=%lld mallocing=0 throwing=0 preemptoff=%d locks=%d dying=0 spinning=%s blocked=%s lockedg=%lld\n",
           static_cast<long long>(mp->id), pp ? pp->id : -1, gp ? static_cast<long long>(gp->goid) : -1LL,
           mp->preemptoff, mp->locks, tf(mp->spinning), tf(mp->blocked),
           lockedg ? static_cast<long long>(lockedg->goid) : -1LL);
  }
  std::size_t n = allgs.len.load(std::memory_order_acquire);
  G** gs = allgs.ptr.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    G* gp = gs[i];
    M* mp = gp->m;
    M* lockedm = gp->lockedm;
    append(out, "  G%lld: status=%u(%s) m=%lld lockedm=%lld\n", static_cast<long long>(gp->goid),
           readgstatus(gp), waitreason_string(gp->waitreason), mp ? static_cast<long long>(mp->id) : -1LL,
           lockedm ? static_cast<long long>(lockedm->id) : -1LL);
  }
  sched.lock.unlock();
  fdwrite(2, out.data(), out.size());
}

}  // namespace gort::rt
