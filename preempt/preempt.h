// The narrow interface between the runtime and preemption (DESIGN.md,
// Layout): runtime/ calls preempt/ only through these.
#pragma once

#include <cstdint>

namespace gort::rt {

struct G;
struct M;
struct P;

// schedinit, before any M but m0 exists: the SIGURG handler and the size of
// the extended register state the trampoline saves.
void preempt_init();
// On each M's own thread when it starts (minit) and when it ends: its
// alternate signal stack.
void preempt_minit(M* mp);
void preempt_mexit(M* mp);

// Asks the G running on pp to yield: poisons its stackguard0 (the next yield
// point yields) and, unless asyncpreemptoff, sends its M one SIGURG (at most
// one in flight per M). Any thread; pp need not be owned.
void preemptone(P* pp);
// The cooperative half of a request, which preemptone and the slice timer's
// handler share: g->preempt, the poisoned stackguard0, the P's count.
// Async-signal-safe.
void ask_to_yield(G* gp, P* pp);
void preemptall();  // every running P (stop the world)

// The M of gp has just dropped its last runtime lock (m->locks == 0): a
// preemption request refused meanwhile takes effect at the next yield point
// (Go's releasem).
void preempt_rearm(G* gp);

// The slice timer (slicetimer.cpp; slicetimer_begin is in runtime2.h).
// minit/mexit on the M's own thread; disarm from any thread (entersyscall,
// and sysmon for a thread blocked in a system call).
void slicetimer_minit(M* mp);
void slicetimer_mexit(M* mp);
void slicetimer_disarm(M* mp);

// Whether signals are used (GORTDEBUG, the sanitizer, the safe-point table).
bool async_preempt_enabled();

// pc is in the program's own code, outside the runtime (the safe-point
// table; false if it cannot be had). For blockwarn's call sites.
bool program_code_pc(std::uintptr_t pc);

}  // namespace gort::rt
