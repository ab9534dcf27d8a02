// Inside preempt/: the SIGURG handler, the safe-point table, and the
// architecture's access to a signal context.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstddef>
#include <cstdint>

namespace gort::rt {

struct M;

// signal.cpp
void signal_init();      // installs the SIGURG handler, chaining to the program's
bool signal_installed();
bool signal_thread(pid_t tid);  // SIGURG to one of this process's threads (tgkill); false if it failed
// Stops the M's current G where the signal found it, if that is a safe
// point and it was asked to yield: true if the trampoline will run.
bool try_async_preempt(M* mp, ucontext_t* uc);

// slicetimer.cpp: the SIGURG is the M's slice timer's; the handler's half,
// for any SIGURG of the runtime's (`timer`: this one is the timer's).
// True if it injected the trampoline.
bool is_slicetimer_signal(const siginfo_t* si, const M* mp);
bool slicetimer_signal(M* mp, ucontext_t* uc, bool timer);

// safepoint.cpp: where in the program a G may be stopped by a signal.
bool safepoints_ready();  // builds the table on first use; false if it cannot be had (said once on stderr)
bool async_safe_pc(std::uintptr_t pc);  // async-signal-safe once ready

// signal_x86_64.cpp
void arch_preempt_init();  // CPUID: the size of the extended state the trampoline saves
std::size_t arch_async_frame_size();  // stack the injected call needs below the interrupted sp
std::uintptr_t ctx_pc(const ucontext_t* uc);
std::uintptr_t ctx_sp(const ucontext_t* uc);
// Makes the interrupted thread, on return from the handler, call
// gort_async_preempt as if from the interrupted instruction.
void ctx_inject_async_preempt(ucontext_t* uc);

}  // namespace gort::rt
