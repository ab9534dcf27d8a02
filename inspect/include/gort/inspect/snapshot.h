// Every G, M and P of a gort program, decoded from outside through the
// runtime's debug descriptor (gort/debug_layout.h).
//
// A snapshot of a running process is read without stopping it (unless the
// Target was opened with stop): fields change under the reader, so it is as
// consistent as Go's schedtrace, no more. Lists are bounded and every
// pointer is checked: a corrupted or half-updated structure gives an Error
// or a G marked as unreadable, never an endless walk.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gort/debug_layout.h"
#include "gort/inspect/target.h"

namespace gort::inspect {

class Modules;  // the target's mapped files (inspect/modules.h)

struct GState {
  std::uint64_t addr = 0;
  std::int64_t goid = 0, parentgoid = 0;
  std::uint32_t status = 0;  // without the scan bit (GORT_G*)
  bool scan = false;
  std::string waitreason;  // Go's string; empty if none
  std::uint64_t stack_lo = 0, stack_hi = 0, stackguard0 = 0;
  std::uint64_t sp = 0, pc = 0, bp = 0;  // gobuf
  std::uint64_t m = 0;        // address of the M running it, 0 if none
  std::int64_t m_id = -1;
  pid_t thread = 0;           // its M's kernel thread, if it has one
  int p_id = -1;              // its M's P, if running
  std::uint64_t lockedm = 0;
  std::int64_t waitsince = 0;  // CLOCK_MONOTONIC ns, 0 if not waiting
  std::uint64_t startpc = 0, gopc = 0;
  bool preempt = false, asyncpreempted = false;
  std::uint64_t syscallsp = 0, syscallpc = 0;
  // In a system call it did not announce (its M's P was taken while the
  // thread blocked): syscallsp/pc are the thread's own sp and pc where it
  // entered the kernel, not entersyscall's frame.
  bool syscall_implicit = false;
  bool guarded = false;
  std::uint64_t fnword = 0;  // first word of its start callable (the function, if a function pointer)
};

struct MState {
  std::uint64_t addr = 0;
  std::int64_t id = 0;
  pid_t tid = 0;
  std::uint64_t g0 = 0, curg = 0, p = 0, lockedg = 0, oldp = 0;
  std::int64_t curg_goid = -1;  // -1: none
  int p_id = -1;
  bool spinning = false, blocked = false, sysmon = false, exited = false;
  // Its thread blocked outside gort::syscall and sysmon took its P: its G
  // is in an implicit system call (status syscall) until it enters gort.
  bool blocked_outside = false;
  std::int32_t locks = 0, preemptoff = 0;
  std::uint32_t signal_pending = 0;
};

struct PState {
  std::uint64_t addr = 0;
  int id = 0;
  std::uint32_t status = 0;  // GORT_P*
  std::int64_t m_id = -1;
  std::uint32_t schedtick = 0, syscalltick = 0;
  std::int64_t slicestart = 0;  // the runtime's cputicks() at the slice's start: TSC ticks (or ns without TSC)
  std::uint32_t runqhead = 0, runqtail = 0;
  std::vector<std::int64_t> runq;  // goids in the ring, head first
  std::int64_t runnext = -1;       // goid, -1 if none
  std::int32_t gfreecnt = 0;
  std::uint32_t ntimers = 0;
  std::int64_t timer0when = 0;
  std::uint64_t preemptcount = 0;
  std::int64_t ngoroutines = 0;
};

struct SchedState {
  int gomaxprocs = 0;
  std::int64_t goidgen = 0;
  std::int32_t nmidle = 0, mcount = 0, npidle = 0, nmspinning = 0, runqsize = 0;
  std::uint32_t gcwaiting = 0;
  std::uint64_t npreemptsync = 0, npreemptasync = 0;
  std::int64_t starttime = 0;
  std::int64_t ngoroutines = 0;
};

struct Snapshot {
  std::uint32_t version = 0;
  std::uint64_t descriptor = 0;  // its address in the target
  std::uint64_t bias = 0;        // the executable's load bias
  std::vector<GState> gs;        // live ones (not dead, not idle) unless read with all
  std::vector<MState> ms;
  std::vector<PState> ps;        // the gomaxprocs Ps in use
  SchedState sched;
  gort_debug_descriptor layout{};  // the target's descriptor, as read
  // The mapped files as read for the descriptor: Stacks made from this
  // snapshot reuses them (reading them means /proc/PID/maps and every ELF).
  std::shared_ptr<Modules> modules;
  const GState* find_g(std::int64_t goid) const;
};

// Where the descriptor is in the target: the .gort_debug section of the
// executable (or its gort_debug_descriptor symbol) moved by the load bias.
// Throws Error "... is not a gort program" if neither exists, and a version
// mismatch naming both versions.
std::uint64_t find_descriptor(Target& t, std::uint64_t* bias = nullptr);
std::uint64_t find_descriptor(Target& t, Modules& mods, std::uint64_t* bias = nullptr);

// Reads every G, M and P. with_dead: also dead and idle Gs (allgs keeps
// them for reuse).
Snapshot read_snapshot(Target& t, bool with_dead = false);

const char* gstatus_name(std::uint32_t status);  // "running", "waiting", ...
const char* pstatus_name(std::uint32_t status);  // "idle", "running", ...

}  // namespace gort::inspect
