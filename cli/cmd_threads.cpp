// gort threads / gort procs / gort sched: the Ms, the Ps, and both with the
// Gs in Go's schedtrace/scheddetail format. dlv cannot list Ms or Ps.
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>

#include "commands.h"
#include "gort/inspect/error.h"
#include "gort/inspect/snapshot.h"
#include "gort/inspect/stack.h"
#include "json.h"
#include "options.h"

namespace gort::cli {

using namespace gort::inspect;

const char kThreadsHelp[] =
    "Usage: gort threads " GORT_TARGET_USAGE " [--json] [--stop]\n"
    "\n"
    "Lists every M (OS thread) of a gort program: its id and kernel thread id, its P, the\n"
    "goroutine it runs, whether it is spinning, the runtime locks it holds, whether a\n"
    "preemption signal is in flight, and the kernel's state of the thread. With --stop\n"
    "(or a core file) also the thread's pc and the function it is in. Ms whose thread has\n"
    "exited (idle for GORTDEBUG=idlethreadexit) are counted at the end; --json lists them.\n";

const char kProcsHelp[] =
    "Usage: gort procs " GORT_TARGET_USAGE " [--json] [--stop]\n"
    "\n"
    "Lists every P (logical processor): status, the M holding it, schedtick and syscalltick,\n"
    "its run queue (length and goroutine IDs, head first), runnext, timers and preemptions.\n";

const char kSchedHelp[] =
    "Usage: gort sched " GORT_TARGET_USAGE " [--stop]\n"
    "\n"
    "Prints the scheduler as GORTDEBUG=schedtrace=1,scheddetail=1 would inside the\n"
    "program (Go's format): the SCHED summary, then every P, M and G.\n";

namespace {

std::string signal_state(const MState& m) { return m.signal_pending ? "SIGURG in flight" : "none"; }

std::string tf(bool b) { return b ? "true" : "false"; }

// The target's uptime in ms (live processes share our CLOCK_MONOTONIC).
long long uptime_ms(const Snapshot& s, const Target& t) {
  if (!t.live()) return 0;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::int64_t now = static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  return s.sched.starttime ? static_cast<long long>((now - s.sched.starttime) / 1000000) : 0;
}

std::string runq_ids(const PState& p) {
  std::string s = "[";
  for (std::size_t i = 0; i < p.runq.size(); ++i) s += (i ? " " : "") + std::to_string(p.runq[i]);
  return s + "]";
}

}  // namespace

int cmd_threads(int argc, char** argv) {
  Options o = parse_options(argc, argv, kOptStop | kOptJson, 0);
  auto target = open_target(o);
  Snapshot snap = read_snapshot(*target);
  Stacks st(*target, snap);
  std::map<pid_t, Thread> threads;
  for (Thread& th : target->threads()) threads[th.tid] = th;
  if (o.json) {
    Json j(stdout);
    j.begin_object().field("target", target->describe()).begin_array("threads");
    for (const MState& m : snap.ms) {
      j.begin_object().field("m", m.id).field("tid", static_cast<std::int64_t>(m.tid));
      j.field("p", static_cast<std::int64_t>(m.p_id)).field("curg", m.curg_goid).field("spinning", m.spinning);
      j.field("blocked", m.blocked || m.blocked_outside).field("blocked_outside", m.blocked_outside).field("sysmon", m.sysmon).field("exited", m.exited).field("locks", m.locks);
      j.field("preemptoff", m.preemptoff).field("signal_pending", m.signal_pending != 0);
      auto it = threads.find(m.tid);
      if (it != threads.end()) {
        j.field("state", it->second.state);
        if (it->second.has_regs) {
          Frame f = st.location(it->second.regs.rip, true);
          j.hex("pc", it->second.regs.rip).field("func", f.src.func).field("file", f.src.file).field("line", f.src.line);
        }
      }
      j.end_object();
    }
    j.end_array().end_object();
    return 0;
  }
  std::size_t exited = 0;
  for (const MState& m : snap.ms) {
    // An M whose thread exited (idle for idlethreadexit) stays on allm;
    // only --json lists it.
    if (m.exited) {
      ++exited;
      continue;
    }
    std::string role = m.sysmon ? " sysmon" : "";
    std::printf("  M%lld thread %d%s: p=%d curg=%lld spinning=%s blocked=%s locks=%d preemptoff=%d signal=%s",
                static_cast<long long>(m.id), m.tid, role.c_str(), m.p_id, static_cast<long long>(m.curg_goid),
                tf(m.spinning).c_str(), tf(m.blocked || m.blocked_outside).c_str(), m.locks, m.preemptoff,
                signal_state(m).c_str());
    if (m.blocked_outside) std::printf(" (outside gort::syscall: sysmon took its P)");
    auto it = threads.find(m.tid);
    if (m.tid == 0) std::printf(" (starting: its thread has not run yet)");
    else if (it == threads.end()) std::printf(" (no such thread)");
    else {
      std::printf(" state=%s", it->second.state.empty() ? "?" : it->second.state.c_str());
      if (it->second.has_regs) {
        Frame f = st.location(it->second.regs.rip, true);
        std::printf(" at 0x%llx %s %s", static_cast<unsigned long long>(it->second.regs.rip),
                    short_func(f.src.func).c_str(), where(f.src).c_str());
      }
    }
    std::printf("\n");
  }
  if (exited > 0) std::printf("[%zu threads, %zu exited]\n", snap.ms.size() - exited, exited);
  else std::printf("[%zu threads]\n", snap.ms.size());
  return 0;
}

int cmd_procs(int argc, char** argv) {
  Options o = parse_options(argc, argv, kOptStop | kOptJson, 0);
  auto target = open_target(o);
  Snapshot snap = read_snapshot(*target);
  if (o.json) {
    Json j(stdout);
    j.begin_object().field("target", target->describe()).field("gomaxprocs", snap.sched.gomaxprocs);
    j.begin_array("procs");
    for (const PState& p : snap.ps) {
      j.begin_object().field("p", p.id).field("status", pstatus_name(p.status)).field("m", p.m_id);
      j.field("schedtick", p.schedtick).field("syscalltick", p.syscalltick);
      j.field("runqsize", static_cast<std::uint64_t>(p.runq.size()));
      j.begin_array("runq");
      for (std::int64_t id : p.runq) j.value(id);
      j.end_array();
      j.field("runnext", p.runnext).field("timers", p.ntimers).field("preemptions", p.preemptcount);
      j.field("gfreecnt", p.gfreecnt).end_object();
    }
    j.end_array().end_object();
    return 0;
  }
  for (const PState& p : snap.ps) {
    std::printf("  P%d %s: m=%lld schedtick=%u syscalltick=%u runqsize=%zu runq=%s runnext=%lld timers=%u "
                "preemptions=%llu gfreecnt=%d\n",
                p.id, pstatus_name(p.status), static_cast<long long>(p.m_id), p.schedtick, p.syscalltick,
                p.runq.size(), runq_ids(p).c_str(), static_cast<long long>(p.runnext), p.ntimers,
                static_cast<unsigned long long>(p.preemptcount), p.gfreecnt);
  }
  std::printf("[%zu procs, global runqueue %d]\n", snap.ps.size(), snap.sched.runqsize);
  return 0;
}

int cmd_sched(int argc, char** argv) {
  Options o = parse_options(argc, argv, kOptStop, 0);
  auto target = open_target(o);
  Snapshot snap = read_snapshot(*target, true);
  const SchedState& s = snap.sched;
  int threads = 0;
  for (const MState& m : snap.ms) threads += m.exited ? 0 : 1;
  std::printf("SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d runqueue=%d "
              "gcwaiting=%s\n",
              uptime_ms(snap, *target), s.gomaxprocs, s.npidle, threads, s.nmspinning, s.nmidle, s.runqsize,
              tf(s.gcwaiting != 0).c_str());
  for (const PState& p : snap.ps)
    std::printf("  P%d: status=%u schedtick=%u syscalltick=%u m=%lld runqsize=%zu gfreecnt=%d timerslen=%u\n", p.id,
                p.status, p.schedtick, p.syscalltick, static_cast<long long>(p.m_id), p.runq.size(), p.gfreecnt,
                p.ntimers);
  std::map<std::uint64_t, std::int64_t> goid_of;
  for (const GState& g : snap.gs) goid_of[g.addr] = g.goid;
  std::map<std::uint64_t, std::int64_t> mid_of;
  for (const MState& m : snap.ms) mid_of[m.addr] = m.id;
  for (const MState& m : snap.ms) {
    if (m.exited) continue;
    auto lg = goid_of.find(m.lockedg);
    std::printf("  M%lld: p=%d curg=%lld mallocing=0 throwing=0 preemptoff=%d locks=%d dying=0 spinning=%s "
                "blocked=%s lockedg=%lld\n",
                static_cast<long long>(m.id), m.p_id, static_cast<long long>(m.curg_goid), m.preemptoff, m.locks,
                tf(m.spinning).c_str(), tf(m.blocked || m.blocked_outside).c_str(),
                lg == goid_of.end() ? -1LL : static_cast<long long>(lg->second));
  }
  for (const GState& g : snap.gs) {
    auto lm = mid_of.find(g.lockedm);
    std::printf("  G%lld: status=%u(%s) m=%lld lockedm=%lld\n", static_cast<long long>(g.goid),
                g.status | (g.scan ? GORT_GSCAN : 0), g.waitreason.c_str(), static_cast<long long>(g.m_id),
                lm == mid_of.end() ? -1LL : static_cast<long long>(lm->second));
  }
  return 0;
}

}  // namespace gort::cli
