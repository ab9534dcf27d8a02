// The runtime's data structures: G, M, P and sched, as in Go's runtime2.go.
//
// Invariants (who may touch what):
//  - A G's fields other than atomicstatus are owned by whoever has the G in
//    hand: the M running it, or the code that took it off a queue.
//  - A P is owned by the M whose p it is (p->m). Only the owner pushes to
//    its run queue; anyone may steal from it (CAS on runqhead).
//  - sched.lock guards the global run queue, the idle P and idle M lists and
//    the counts next to them.
//  - Structures are plain (standard layout): the debug descriptor publishes
//    their offsets so that an inspector can read them from outside.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "gort/runtime.h"
#include "biaslock.h"
#include "lock.h"

namespace gort {
class Mutex;
}

namespace gort::rt {

struct G;
struct M;
struct P;
struct Timer;
struct TimerEntry {  // a P's timer heap: the timer and its when (time.cpp)
  std::int64_t when;
  Timer* t;
};
using UnlockFnPtr = bool (*)(G* gp, void* arg);

// G status, with Go's numbering (runtime2.go) so tools can share tables.
enum : std::uint32_t {
  Gidle = 0,       // just allocated, not initialised
  Grunnable = 1,   // on a run queue, not running
  Grunning = 2,    // running user code, has an M and a P
  Gsyscall = 3,    // in a system call, has an M but not necessarily a P
  Gwaiting = 4,    // parked (gopark), on some wait queue
  Gdead = 6,       // unused: on a free list, or just exited
  Gpreempted = 9,  // stopped itself for a suspend/STW preemption
  Gscan = 0x1000,  // combined with the above while a scan holds the G
};

// P status (Go's numbering).
enum : std::uint32_t { Pidle = 0, Prunning = 1, Psyscall = 2, Pgcstop = 3, Pdead = 4 };

// M::blockretake (blockretake.cpp).
enum : std::uint32_t { kBlockNone = 0, kBlockRetaking = 1, kBlockRetaken = 2 };

// Wait reasons. The strings are Go's (runtime2.go, Go 1.20's sync ones).
enum class WaitReason : std::uint8_t {
  Zero,
  ChanReceiveNilChan,
  ChanSendNilChan,
  Select,
  SelectNoCases,
  ChanReceive,
  ChanSend,
  Semacquire,
  Sleep,
  SyncMutexLock,
  Preempted,
  IOWait,
  StopTheWorld,
  Count
};
const char* waitreason_string(WaitReason r);
extern const char* const waitreason_strings[static_cast<int>(WaitReason::Count)];

const char* gstatus_string(std::uint32_t s);

// A field its owner writes and monitors (sysmon, schedtrace, stop the world,
// the inspector) read without synchronisation, as sysmon reads plain fields
// in Go. A relaxed atomic: no ordering and no cost on x86, but no torn reads
// and no data race as far as the C++ memory model and TSan are concerned.
// ++ is a load and a store: only the owner may use it.
template <class T>
class Racy {
 public:
  Racy(T v = T{}) : v_(v) {}
  Racy(const Racy& o) : v_(T(o)) {}  // a snapshot (for ?: and the like)
  Racy& operator=(const Racy&) = delete;
  operator T() const { return v_.load(std::memory_order_relaxed); }
  Racy& operator=(T v) {
    v_.store(v, std::memory_order_relaxed);
    return *this;
  }
  T operator++() { return *this = static_cast<T>(T(*this) + 1), T(*this); }
  T operator++(int) {
    T old = *this;
    *this = static_cast<T>(old + 1);
    return old;
  }
  // Decrements store with release: the last one of m->locks ends the M's
  // use of its P, and sysmon reads it with acquire before taking the P
  // (blockretake.cpp). Free on x86.
  T operator--(int) {
    T old = *this;
    v_.store(static_cast<T>(old - 1), std::memory_order_release);
    return old;
  }
  T operator--() {
    v_.store(static_cast<T>(T(*this) - 1), std::memory_order_release);
    return T(*this);
  }
  T load() const { return *this; }
  // For a pointer a monitor follows (m->curg: sysmon writes to the G): the
  // release store and acquire load order the G's earlier initialisation
  // before the monitor's access (free on x86; TSan sees the edge).
  void store_release(T v) { v_.store(v, std::memory_order_release); }
  T load_acquire() const { return v_.load(std::memory_order_acquire); }
  T operator->() const requires std::is_pointer_v<T> { return *this; }

 private:
  std::atomic<T> v_;
};

struct Stack {
  std::uintptr_t lo;  // lowest usable address (above the guard page, if any)
  std::uintptr_t hi;  // one past the highest address
};

// What a switch saves. The callee-saved registers, MXCSR and the x87 control
// word are pushed on the G's own stack by gort_swapctx; sp points at them,
// pc and bp are copied here too so that unwinders and inspectors find the
// parked G's frame without decoding the switch frame.
struct Gobuf {
  std::uintptr_t sp;
  std::uintptr_t pc;
  std::uintptr_t bp;
};

// The per-thread C++ exception state (__cxa_eh_globals in the Itanium ABI:
// the caught-exceptions stack and the uncaught count). It moves with the G,
// so that a goroutine that parks inside a catch block resumes with its own.
struct EhGlobals {
  void* caught;
  unsigned int uncaught;
};

// Field order is for the cache: a scheduler with many goroutines (skynet's
// ~65,000 runnable at once) finds each G cold when it comes to run it, so
// what execute, the switch and park touch sits in the first two lines (the
// G is 64-byte aligned); what newproc, dumps and the inspector read comes
// after. Tools find fields through the debug descriptor, not by offset.
struct alignas(64) G {
  // ---- line 0: execute, the switch, the yield-point check
  Stack stack;
  // The yield-point check compares sp with stackguard0. Normally
  // stack.lo + StackGuard; stackPreempt asks the G to yield.
  std::atomic<std::uintptr_t> stackguard0;
  Gobuf sched;
  std::atomic<std::uint32_t> atomicstatus;
  Racy<WaitReason> waitreason;
  Racy<bool> preempt;       // preemption requested: yield at the next yield point
  Racy<bool> preempt_stop;  // on preemption, go to Gpreempted instead of Grunnable
  Racy<bool> asyncpreempted;  // stopped by SIGURG: its registers are in gort_async_preempt's frame
  Racy<M*> m;         // the M running it, or nullptr
  // ---- line 1: the switch's exception state, park and ready
  EhGlobals eh;
  std::int64_t waitsince;  // nanotime_coarse() when it parked (the dump's ", N minutes"), 0 if not waiting
  // goid, parentgoid, startpc, fnword: written by newproc (a dead G is
  // reused) and read by threads that walk allgs meanwhile (the trace's
  // start, schedtrace), which re-read goid to see a reuse.
  Racy<std::int64_t> goid;
  Racy<M*> lockedm;   // lock_os_thread: the only M that may run this G (M.lockedg points back)
  G* schedlink;       // next G on a free list or a netpoll GList
  void* param;             // passed by the waker (sema: ticket)
  Timer* timer;            // the sleep timer, made on first use
  // ---- the rest
  void* tsan_fiber;
  void* asan_fake_stack;
  // In gort::syscall: the frame of entersyscall (for_each_g scans from
  // here); in a system call sysmon found blocked: the thread's user sp and
  // pc at its entry into the kernel (written by sysmon, hence Racy).
  Racy<std::uintptr_t> syscallsp;
  Racy<std::uintptr_t> syscallpc;
  Racy<std::int64_t> parentgoid;
  Racy<std::uintptr_t> startpc;  // the start function (the invoke thunk of its callable)
  Racy<std::uint64_t> fnword;     // the callable's first word (the function, for a function pointer)
  std::uintptr_t gopc;     // where go() was called
  bool preemptpinned;         // preempted: locked to its M until it runs again (preempt/yield.cpp)
  bool guarded;       // the stack has a guard page below stack.lo
  detail::FnSlot fn;
};
static_assert(offsetof(G, m) + sizeof(G::m) <= 64 && offsetof(G, timer) + sizeof(G::timer) <= 128,
              "G's hot fields left their cache lines");

struct M {
  G* g0;         // the scheduler's stack: the thread's own
  Racy<G*> curg;  // the user G running, or nullptr
  Racy<P*> p;     // attached P, or nullptr
  P* nextp;      // the P to acquire when woken from stopm
  Racy<P*> oldp;  // the P held before a system call (entersyscall, or sysmon's blocked-M retake); exitsyscall tries it first
  std::int64_t id;
  pid_t procid;  // kernel thread id (tgkill, the inspector)
  std::atomic<bool> spinning;  // looking for work
  Racy<bool> blocked;  // parked in stopm, waiting for a P
  Racy<bool> sysmon;   // holds the monitor role: runs sysmon() without a P (the role moves: see sysmon.cpp)
  bool stopm_may_exit;  // parked in stopm(may_exit=true): its caller copes with being handed the sysmon role
  Racy<bool> exited;  // the thread has ended (idle too long); kept on allm
  Racy<std::int32_t> locks;       // runtime locks held: no preemption while > 0 (and no blocked-M retake: blockretake.cpp)
  Racy<std::int32_t> preemptoff;  // non-zero: no preemption
  // BiasedLocks (biaslock.h): biasowned[i] is a lock whose key names this
  // M, as far as the M knows (its own to read and write); biasheld[i] is
  // that lock while the M holds it by its bias (read by revokers).
  const void* biasowned[kBiasSlots];
  std::atomic<const void*> biasheld[kBiasSlots];
  const void* biasrunlock[kBiasSlots];  // per entry: the BiasedLock this M last held there as an ordinary one,
  std::uint32_t biasrun[kBiasSlots];    // and how many times in a row
  std::atomic<std::uint32_t> signal_pending;  // a preemption signal is in flight (at most one per M)
  void* sigstack;  // the alternate signal stack the SIGURG handler runs on (ours to free), or nullptr
  // Blocked-M retake (blockretake.cpp): sysmon took this M's P while its
  // thread was blocked in code gort did not see. kBlockRetaking while sysmon
  // decides; kBlockRetaken: the G is in an implicit system call (Gsyscall,
  // m->p == nullptr, m->oldp its old P) until it next enters gort.
  std::atomic<std::uint32_t> blockretake;
  Racy<std::int64_t> blockedsince;  // kBlockRetaken: since when the thread has not run (sysmon's view)
  std::int64_t blockcpu;            // kBlockRetaken: its CPU time then (sysmon's alone, for blockwarn)
  bool blockwarned;                 // blockwarn has asked for this stretch's stack
  clockid_t cpuclock;               // the thread's CPU-time clock (pthread_getcpuclockid)
  void* blocktimer;                 // a timer_t on cpuclock: SIGURG once the thread runs again
  bool hasblocktimer;               // (the first timer_t of a process is 0)
  // The slice timer (preempt/slicetimer.cpp): a CLOCK_MONOTONIC timer_t
  // aimed at this thread, which ends time slices where they end.
  void* slicetimer;
  std::atomic<std::uint8_t> slicetimerstate;  // kSliceTimer*: none, idle, busy, armed
  std::int64_t slicetimerwhen;  // armed: when it fires (nanotime)
  std::int64_t slicetimerdue;   // the same in cputicks (slicetimer_begin compares slice starts with it)
  std::int64_t slicereqstart;   // the slice (slicestart) it last asked to end,
  std::int64_t slicereqfirst;   // and when it first asked
  // GORTDEBUG=blockwarn: sysmon asks (1) the thread's SIGURG handler for
  // the blocked G's stack; the handler leaves the pcs here and stores 2.
  std::atomic<std::uint32_t> blockcapture;
  Racy<G*> blockcaptureg;  // the G whose stack is wanted (the thread may have moved on to another)
  std::uint32_t nblockpcs;
  std::uintptr_t blockpcs[48];
  Note park;
  M* schedlink;  // next on sched.midle
  M* alllink;    // next on allm
  G* (*mcall_fn)(G*);  // run on g0 after curg switched out; returns a G to run at once, or nullptr
  G* parkedg;  // park_direct: the G that just switched to curg, whose unlock function is still to run
  G* exitedg;  // exit_direct: the G that just ended and switched to curg, still to be freed
  int stealwait;  // runqgrab: PAUSE rounds before taking a running P's runnext (0: the shortest)
  // A direct hand-off (lockosthread.cpp: wake_here) woke this M on the
  // waker's CPU alone: it puts back its own CPU set when it wakes.
  bool handoffpinned;
  cpu_set_t handoffcpus;     // the CPU set it had before
  Racy<G*> lockedg;          // lock_os_thread: this M runs only this G (see lockosthread.cpp)
  std::uint32_t lockedext;   // lock_os_thread nesting count (Go's lockedExt); 0: not locked
  bool exitlocked;           // its locked G ended: the thread ends too (schedule_loop → mexit)
  UnlockFnPtr waitunlockf;  // gopark: run on g0 once the G is parked
  void* waitlock;
  pthread_t thread;
  std::uint64_t fastrand;
  std::int64_t startwait;  // when it began waiting for work (idle M exit)
  void* eh_globals;        // this thread's __cxa_get_globals()
  void* g0_stack_bottom;   // sanitizer bookkeeping for g0's stack
  std::size_t g0_stack_size;
};

inline constexpr std::uint32_t kRunqSize = 256;

inline constexpr int kGfreeMax = 64;  // a P's free Gs; half go to the global list when it fills

// Room kept between stackguard0 and the stack's end: a yield point that finds
// sp below stackguard0 still has this much stack to report the overflow on.
inline constexpr std::uintptr_t kStackGuard = 8192;
// stackguard0 poisoned to ask a G to yield at its next yield point (Go's
// stackPreempt): larger than any sp, so every check fails.
inline constexpr std::uintptr_t kStackPreempt = 0xfffffffffffffade;
// m->slicetimerstate (preempt/slicetimer.cpp).
inline constexpr std::uint8_t kSliceTimerNone = 0;   // no timer: sysmon alone ends slices
inline constexpr std::uint8_t kSliceTimerIdle = 1;   // disarmed: the next slice to begin arms it
inline constexpr std::uint8_t kSliceTimerBusy = 2;   // being armed or disarmed
inline constexpr std::uint8_t kSliceTimerArmed = 3;  // will fire at m->slicetimerwhen
inline constexpr std::uint8_t kSliceTimerFired = 4;  // went off while Busy (the holder then makes it Idle)

// What sysmon keeps per P between rounds. (Time slices are measured from
// p->slicestart, stamped when they begin, not from Go's schedtick snapshots.)
struct SysmonTick {
  std::int64_t preemptslice;  // the slice (slicestart) sysmon last asked to end
  std::int64_t preemptwhen;   // when to look at that slice again
  std::int64_t preemptfirst;  // when it first asked
  std::uint32_t syscalltick;
  std::int64_t syscallwhen;
  // Blocked-M detection (blockretake.cpp): the run of a G sysmon is
  // watching (its G and schedtick), the thread's CPU time at the last look,
  // and when that CPU time was last seen to change.
  G* blockg;
  M* blockm;  // whose thread blockcpu was read from
  std::uint32_t blocktick;
  std::int64_t blockcpu;
  std::int64_t blockcpuwhen;
  bool blockwarned;  // blockwarn: this run has been looked at
  std::int64_t blockcheckat;   // confirm_blocked not before then (backoff)
  std::int64_t blockbackoff;
};

struct alignas(64) P {
  std::int32_t id;
  std::atomic<std::uint32_t> status;
  P* link;  // next on sched.pidle
  Racy<M*> m;  // back-link to the owning M
  Racy<std::uint32_t> schedtick;    // incremented on every scheduler call that picks a new time slice
  Racy<std::int64_t> slicestart;    // cputicks() when the current time slice began (sysmon preempts at +timeslice)
  Racy<std::uint32_t> syscalltick;  // incremented on every system call (at entry) and when sysmon retakes the P
  Racy<std::int64_t> syscallwhen;   // nanotime() when the current system call began (entersyscall)
  Racy<M*> syscallm;                // the M in it (retake disarms its slice timer)
  SysmonTick sysmontick;      // last tick observed by sysmon

  // The local run queue: a lock-free single-producer, multi-consumer ring.
  // Only the owner writes runqtail; stealers advance runqhead with CAS.
  alignas(64) std::atomic<std::uint32_t> runqhead;
  std::atomic<std::uint32_t> runqtail;
  std::atomic<G*> runq[kRunqSize];
  // runnext, if set, runs before anything in runq: the G readied by the
  // current G inherits the rest of the time slice (a communicating pair
  // runs back to back, like a coroutine hand-off).
  std::atomic<G*> runnext;
  // Gs this P has started (execute): a thief about to take runnext checks
  // that the owner has not run anything while it waited (runq.cpp).
  std::atomic<std::uint32_t> runs;

  // Dead Gs with stacks, ready for reuse: a stack, gfree[gfreecnt - 1] the
  // most recently dead (the warmest in the cache). An array, not Go's list
  // through g.schedlink: popping a list reads the next G, a cache miss when
  // it died long ago; go() then finds it missed twice. g.cpp.
  G* gfree[kGfreeMax];
  Racy<std::int32_t> gfreecnt;

  // The timer heap (Go 1.14: timers live on the P that made them).
  Lock timerslock;
  std::vector<TimerEntry> timers;  // a 4-ary min-heap on when (time.cpp)
  std::atomic<std::int64_t> timer0when;  // when of the earliest timer, 0 if none
  Racy<std::uint32_t> ntimers;           // timers.size(), for readers without timerslock

  Racy<std::uint64_t> preemptcount;  // preemptions requested (schedtrace, inspector)

  // goids are handed out in batches per P, as Go does, to keep newproc off a shared counter.
  std::int64_t goidcache;
  std::int64_t goidcacheend;
  Racy<std::int64_t> ngoroutines;  // Gs made here minus Gs that ended here
};

inline constexpr int kMaxProcs = 1024;

struct Sched {
  std::atomic<std::int64_t> goidgen;
  Lock lock;

  M* midle;  // idle Ms waiting for work
  Racy<std::int32_t> nmidle;
  std::int32_t nmidlelocked;
  std::int64_t mnext;  // number of Ms created so far; next M id
  Racy<std::int32_t> mcount;  // live Ms (m0 and sysmon included)
  std::int32_t nmsys;   // system Ms not counted by checkdead (sysmon)
  std::int32_t nmfreed;

  P* pidle;
  std::atomic<std::int32_t> npidle;
  std::atomic<std::int32_t> nmspinning;

  // The global run queue: a ring of G pointers that grows (doubling, never
  // shrinking) as needed. Go links Gs through g.schedlink; taking a batch of
  // 128 from such a list is 128 dependent loads, each a cache miss when the
  // Gs are cold (skynet: 13% of its time in globrunqget). Here a batch is a
  // copy of pointers. runq.cpp.
  G** runqbuf;
  std::uint32_t runqcap;     // slots in runqbuf: 0 or a power of two
  std::uint32_t runqhead;    // index (mod runqcap) of the first G
  std::atomic<std::int32_t> runqsize;

  // Global free Gs: a stack (gfree[ngfree - 1] on top) that grows as needed.
  Lock gflock;
  G** gfree;
  std::int32_t gfreecap;
  Racy<std::int32_t> ngfree;  // read without gflock to skip taking it when empty

  std::atomic<std::uint32_t> gcwaiting;  // stop the world in progress
  std::atomic<std::uint64_t> npreemptsync;   // preemptions taken at a yield point
  std::atomic<std::uint64_t> npreemptasync;  // preemptions by signal (the trampoline injected)
  std::atomic<std::uint64_t> npreempttimer;  // requests made by the Ms' slice timers
  std::atomic<std::uint64_t> nslicetimerfired;  // the slice timers' signals (tests: at most one per slice length per M)
  std::atomic<std::uint64_t> nblockretake;   // Ps taken from threads blocked outside gort::syscall
  std::atomic<std::uint64_t> nblockreturn;   // their Gs back through exitblocked
  std::atomic<std::uint64_t> nhandoffcpu;    // direct hand-offs that woke the next M on the waker's CPU
  Racy<std::int32_t> stopwait;
  Note stopnote;
  // The stopper has spun for its Ps and now sleeps, asking again every
  // 100 µs: from here sysmon may use a CPU to look for threads blocked
  // outside gort::syscall (retake_blocked). Before it, sysmon keeps off.
  std::atomic<bool> stopsleeping;

  std::atomic<bool> sysmonwait;
  Note sysmonnote;
  // sysmon's ordinary sleep between rounds: until sysmonwhen, on the futex
  // sysmonwake. entersyscall shortens it (sysmon_wake) when a hand-off would
  // otherwise be late; see sysmon.cpp.
  std::atomic<std::int64_t> sysmonwhen;
  std::atomic<std::uint32_t> sysmonwake;

  // The M blocked in the netpoller (netpoll.cpp), for I/O and the earliest
  // timer: polling while it does, pollwhen its deadline (0: none known);
  // lastpoll when anyone last polled (sysmon polls when nobody has lately).
  std::atomic<std::int64_t> pollwhen;
  std::atomic<bool> polling;
  std::atomic<std::int64_t> lastpoll;

  std::atomic<bool> exiting;  // main returned: schedule nothing more
  std::atomic<bool> started;  // gort::run has been called
  std::atomic<bool> mainstarted;  // the main G runs: newproc may wake Ps
  int exit_status;
  // Live user Gs: the sum of every P's ngoroutines (owner-only counters,
  // so that go() and exit touch no shared cache line) and this, for Gs made
  // or ended off a P. Individual terms may be negative; see gcount().
  std::atomic<std::int64_t> ngoroutines;
  std::int64_t starttime;
};

extern Sched sched;
extern std::atomic<std::int32_t> gomaxprocs;
extern P* allp[kMaxProcs];  // never shrinks: Ps at or above gomaxprocs are Pdead
extern std::atomic<M*> allm;
extern M* m0;

// allgs: every G ever made. Published with an atomic length so that a reader
// without the lock (dumps, the inspector) sees a consistent prefix.
struct AllGs {
  Lock lock;
  std::atomic<G**> ptr;
  std::atomic<std::size_t> len;
  std::size_t cap;
};
extern AllGs allgs;
void allgadd(G* gp);
int gcount();  // live user goroutines
void gcount_add(P* pp, int delta);

// --- the current G and M -------------------------------------------------
// The runtime never caches a TLS address across a switch: a G may resume on
// another thread. getg and getm are the only readers of the thread-local
// state, each a load through %fs in a volatile asm: the compiler can neither
// merge two of them nor keep the variable's address (%fs base + offset, which
// it may otherwise compute once per function) across a switch. The "memory"
// clobber orders them with the loads and stores around them, as the calls
// they replaced did. Written by setg and run_g (context.cpp).
}  // namespace gort::rt
extern "C" {
extern __attribute__((tls_model("initial-exec"))) thread_local gort::rt::G* gort_tls_g;
extern __attribute__((tls_model("initial-exec"))) thread_local gort::rt::M* gort_tls_m;
}
namespace gort::rt {
inline G* getg() {
  G* gp;
  asm volatile("movq gort_tls_g@gottpoff(%%rip), %0\n\tmovq %%fs:(%0), %0" : "=r"(gp) : : "memory");
  return gp;
}
inline M* getm() {
  M* mp;
  asm volatile("movq gort_tls_m@gottpoff(%%rip), %0\n\tmovq %%fs:(%0), %0" : "=r"(mp) : : "memory");
  return mp;
}
void setg(G* gp);

// --- proc.cpp ------------------------------------------------------------
std::int64_t nanotime() noexcept;
// CLOCK_MONOTONIC as of the kernel's last tick (up to 1/HZ behind, 4 ms at
// HZ=250): a read of the vDSO's data page, no TSC. 8-10 ns against 30-45
// for nanotime() on this project's VM. For stamps aged in minutes.
std::int64_t nanotime_coarse() noexcept;
// cputicks: the clock of time slices, read once per new slice (execute).
// RDTSC where the kernel's own clock source is the TSC (so it is invariant
// and synchronised across CPUs), else nanotime(). Ticks are only ever
// subtracted from ticks and turned into nanoseconds with ticks_to_ns, whose
// rate sysmon refines as it runs. Why not nanotime(): the vDSO's read is
// RDTSCP (it waits for every load before it) plus a seqlock, and on this
// project's VM a switch waits 40 ns for it, against 10 for RDTSC (yield2:
// 165 → 122 ns a call, spawn 97 → 85 ns).
extern bool tsc_ticks;                          // set by cputicks_init, before any M but m0
extern std::atomic<std::uint64_t> tick_ns_q32;  // ns per tick, 32.32 fixed point
inline std::int64_t cputicks() noexcept {
  return tsc_ticks ? static_cast<std::int64_t>(__builtin_ia32_rdtsc()) : nanotime();
}
inline std::int64_t ticks_to_ns(std::int64_t d) noexcept {
  return static_cast<std::int64_t>((static_cast<__int128>(d) * tick_ns_q32.load(std::memory_order_relaxed)) >> 32);
}
std::int64_t ns_to_ticks(std::int64_t ns) noexcept;
void cputicks_init();                       // schedinit (after parsedebugvars: it reads the time slice)
void cputicks_calibrate(std::int64_t now);  // sysmon, every round
std::uint32_t fastrand();
std::uint32_t fastrandn(std::uint32_t n);

[[noreturn]] void park_forever();  // the program is exiting or dying: this thread runs nothing more
void mcall(G* (*fn)(G*), bool exiting = false);  // exiting: the G never comes back
G* run_g(M* mp, G* gp);
// gp runs on mp from now (curg, its status, its time slice); the switch
// to it follows (run_g or switch_direct). direct: gp came from direct_next
// right after the G switched from parked or ended (its trace event's time
// serves for gp's GO_START: trace::kSameInstant).
void execute(M* mp, G* gp, bool inherit_time, bool direct = false);
// Switching from a G that parks or ends straight to the next (proc.cpp's
// direct_next says when; context.cpp switches).
G* direct_next(M* mp, bool* inherit_time);  // m->locks raised; nullptr: through g0
void switch_direct(M* mp, G* gp, G* next, bool exiting);
void switched_in(void* asan_fake_stack);   // first thing a G runs after any switch to it
void finish_park_direct(M* mp);            // proc.cpp: the parked G's unlock function, on the next G
void finish_exit_direct(M* mp);            // g.cpp: the ended G to the free list, off its stack
void systemstack(void (*fn)(void*), void* arg);
template <class F>
void systemstack(F&& f) {
  systemstack([](void* p) { (*static_cast<std::remove_reference_t<F>*>(p))(); }, &f);
}

// m->locks goes up by one. When it goes from 0 to 1 on a thread that
// sysmon may be taking the P from (blockretake.cpp), the M waits until
// sysmon has decided: either the P is still its own, or the M is now in an
// implicit system call (kBlockRetaken) with no P. The fence is one side of
// a Dekker pair whose other side is sysmon's membarrier (asymmetric: the
// common side pays only a compiler barrier; see blockretake.cpp).
extern bool asymmetric_fence;  // membarrier(PRIVATE_EXPEDITED) is registered
// The heavy side of an asymmetric fence: a full barrier on every thread of
// the process (membarrier). Only with asymmetric_fence (blockretake.cpp).
void membarrier_all();
void blockretake_wait(M* mp);
// A full barrier between the caller's stores before and a's load. TSan
// supports no fences: under it (never asymmetric) a seq_cst
// read-modify-write stands in, a full barrier on x86 as well.
inline std::uint32_t load_after_full_barrier(std::atomic<std::uint32_t>& a) {
#if defined(__SANITIZE_THREAD__)
  return a.fetch_or(0, std::memory_order_seq_cst);
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return a.fetch_or(0, std::memory_order_seq_cst);
#endif
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return a.load(std::memory_order_relaxed);
}
void slicetimer_begin_slow(M* mp, std::int64_t start);  // preempt/slicetimer.cpp
extern std::atomic<std::int64_t> half_slice_ticks;        // timeslice/2 in cputicks (time.cpp)
// A time slice began at `start` (cputicks) on mp's P: if mp's slice timer
// is disarmed, arm it for the slice's end. If it is armed for an end more
// than half a slice before this one's (a slice that ended early: the G
// blocked, or the world stopped), move it: left alone it would go off for
// nothing, interrupting the thread at a random moment, once per slice
// length (a stop-the-world's signal that lands just then waits for it).
// Two loads and a compare when nothing is to be done; a move is a
// timer_settime (~0.4 µs here), at most about twice per slice length.
inline void slicetimer_begin(M* mp, std::int64_t start) {
  const std::uint8_t s = mp->slicetimerstate.load(std::memory_order_relaxed);
  if (__builtin_expect(s == kSliceTimerIdle || (s == kSliceTimerArmed &&
                                                start + half_slice_ticks.load(std::memory_order_relaxed) >
                                                    mp->slicetimerdue),
                       0))
    slicetimer_begin_slow(mp, start);
}

inline void locks_inc(M* mp) {
  if (mp->locks++ != 0) return;
  std::uint32_t r;
  if (asymmetric_fence) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    r = mp->blockretake.load(std::memory_order_relaxed);
  } else {
    r = load_after_full_barrier(mp->blockretake);
  }
  if (r == kBlockRetaking) blockretake_wait(mp);
}
void acquirem();
void releasem();
// acquirem for a user G that needs its P: if sysmon took the P while the
// thread was blocked, the G first takes Go's exitsyscall path (and may
// resume on another thread). Returns the current M, with locks raised.
M* acquirem_p();
// The G lost its P to a blocked-M retake and has entered gort: leave the
// implicit system call (exitsyscall). pin: the G did not call gort (a yield
// point, a signal): it resumes on this thread (see preempt/yield.cpp).
void exitblocked(G* gp, bool pin);
// The same for a G about to park holding a runtime lock (mcall from gopark):
// its old P or an idle one if free, else none; it may not wait. m->locks > 0.
void exitblocked_nowait(M* mp);
void exitsyscall_nowait(M* mp, G* gp);  // syscall.cpp: Gsyscall → Grunning, with a P if one is free
// preempt/yield.cpp's pinning, for exitblocked: gp stays on mp until it runs again.
bool pin_to_m(G* gp, M* mp);
void unpin_from_m(G* gp, M* mp);
// mp has just dropped its last runtime lock: a preemption refused at a yield
// point meanwhile (the request stays in g->preempt) is armed again, so the
// next yield point takes it (Go's releasem).
inline void releasem_rearm(M* mp) {
  G* gp = mp->curg;
  if (gp != nullptr && gp->preempt && mp->preemptoff == 0)
    gp->stackguard0.store(kStackPreempt, std::memory_order_relaxed);
}

// releasem for the M the caller holds (no switch since acquirem): no TLS read.
inline void releasem(M* mp) {
  if (--mp->locks == 0) releasem_rearm(mp);
}

void gopark(UnlockFnPtr unlockf, void* lock, WaitReason reason);
void goparkunlock(Lock* lock, WaitReason reason);
void goready(G* gp);
void globrunqput_wake(G* gp);  // off a P: global queue, and start an M for an idle P
void goyield();
// The G leaves its M (Go's dropg): mp no longer runs it, it has no M.
inline void dropg(M* mp, G* gp) {
  mp->curg = nullptr;
  gp->m = nullptr;
}
G* gosched_m(G* gp);
G* gopreempt_m(G* gp);        // a yield point found a preemption request
G* gopreempt_async_m(G* gp);  // the asyncPreempt trampoline did
// Is there work that the G running on pp keeps waiting: pp's queue, the
// global queue, a due timer of pp, or a stop of the world? now 0: the clock
// is read only if pp has a timer.
bool work_waiting(P* pp, std::int64_t now);  // mcall: gp to the global queue (Go's goschedImpl)
G* current_user_g(const char* what);  // the calling G; fatal off a goroutine or inside gort::syscall

inline std::uint32_t readgstatus(G* gp) { return gp->atomicstatus.load(std::memory_order_acquire); }
void casgstatus(G* gp, std::uint32_t oldval, std::uint32_t newval);

// runq.cpp
void runqput(P* pp, G* gp, bool next);
G* runqget(P* pp, bool* inherit_time);
G* runqsteal(P* pp, P* victim, bool steal_runnext);
extern void (*runnext_wait_hook)(P* victim);  // tests only (runq.cpp)
bool runqempty(P* pp);
std::uint32_t runqsize(P* pp);
void globrunqput(G* gp);       // sched.lock held
void globrunqputhead(G* gp);   // sched.lock held
void globrunqputbatch(G* const* gs, std::int32_t n);  // sched.lock held
G* globrunqpeek();            // sched.lock held: the first G, or nullptr
G* globrunqget(P* pp, std::int32_t max);  // sched.lock held

// Scheduler pieces used across files.
void wakep();
void startm(P* pp, bool spinning);
void handoffp(P* pp);
bool stopm(bool may_exit);  // false: the M was idle too long and should exit
void checkdead();  // sched.lock held
P* pidleget();     // sched.lock held
void pidleput(P* pp);  // sched.lock held
void acquirep(P* pp);
P* releasep();
void newm(void (*fn)(), P* pp);
void mput(M* mp);  // sched.lock held
M* mget();         // sched.lock held
Mutex& worldsema();  // held across a stop-the-world (gomaxprocs, gort::stop_the_world)
// why: the trace's name for it (GORT_TRACE_EV_STW_BEGIN).
void stop_the_world_internal(WaitReason reason, const char* why);
void start_the_world_internal(std::int32_t newprocs = 0);  // newprocs > 0: resize
void procresize_locked(std::int32_t nprocs);

// g.cpp
void gfpush_global(G* const* gs, std::int32_t n);  // the global free Gs; sched.gflock held

// stack.cpp
bool stackalloc(Stack* st, bool* guarded);  // false: out of memory or mappings
std::size_t stack_size();
void stackinit();
std::int64_t guard_budget_left();

// time.cpp
struct Timer {
  std::int64_t when;
  std::int64_t period;  // > 0: fire again every period
  void (*f)(void* arg, std::int64_t seq, std::int64_t now);  // now: nanotime() as the heap was checked
  void* arg;
  std::int64_t seq;
  std::atomic<P*> pp;  // the P whose heap holds it; nullptr if not in a heap
  std::int32_t index;
  std::atomic<int> running{0};  // periodic timers: callbacks in progress (deltimer_sync waits for them)
};
void addtimer(Timer* t);
bool deltimer(Timer* t);
void deltimer_sync(Timer* t);  // deltimer, then wait until no callback of t runs
std::int64_t checktimers(P* pp, std::int64_t now);  // runs due timers (now 0: read the clock if needed); returns next when (0 = none)
std::int64_t earliest_timer();                       // over all Ps, 0 if none
void moveTimers(P* to, P* from);  // procresize: from is going away
void timers_wake_poller(std::int64_t when);

// sysmon.cpp
// A P in a system call is handed to another M once the call has lasted this
// long and there is work for the P (Go: one to two sysmon ticks, 20 µs-10 ms).
inline constexpr std::int64_t kSyscallHandoffNs = 20'000;
// Time slices (sysmon.cpp: preempt_slices; preempt/slicetimer.cpp). A
// request that found the G at an unsafe point is repeated this much later,
// then at intervals that double up to a slice.
inline constexpr std::int64_t kPreemptRetryNs = 50'000;
// A G whose slice is over but that nothing else waits for is looked at
// again after max(slice, this).
inline constexpr std::int64_t kSliceIdleRecheckNs = 1'000'000;
// sysmon ends a slice this much after its end when the M's slice timer
// should have ended it (the timer found it at a syscall, or failed).
inline constexpr std::int64_t kSliceTimerBackstopNs = 2'000'000;
inline constexpr std::int64_t kSysmonMaxSleepNs = 10'000'000;  // sysmon's longest sleep between rounds (while not idle)
// sysmon polls the network when nobody has for this long (netpoll_sysmon).
inline constexpr std::int64_t kSysmonPollNs = 1'000'000;
void sysmon();
// blockretake.cpp: one pass over the running Ps for threads blocked outside
// gort::syscall; returns when it must look again (LLONG_MAX: no need).
std::int64_t retake_blocked(std::int64_t now, bool* retook);
void blockretake_init();   // schedinit: membarrier, the CPU count
void blockretake_minit(M* mp);  // on the M's thread: its CPU clock and timer
void blockretake_mexit(M* mp);
// The CPU time of mp's thread (its cpuclock: a system call, ~0.5-1 µs); -1
// if it cannot be read.
std::int64_t thread_cpu_ns(M* mp);
// blockwarn.cpp (GORTDEBUG=blockwarn): ask mp's thread for gp's stack;
// print what has come back, once per call site.
void blockwarn_request(M* mp, G* gp);
void blockwarn_report();
void blockwarn_drain();  // main_exited: let sysmon print what it has asked for
void wake_sysmon();
void sysmon_poke();  // from a signal handler: wake sysmon from any sleep
void sysmon_wake(std::int64_t deadline);  // sysmon must look again by deadline (lock-free)

// syscall.cpp / lockosthread.cpp
void stoplockedm(M* mp);   // mp's locked G is not running: give the P away, sleep until the G is handed back
void startlockedm(G* gp);  // gp is locked to another M: hand it our P (the caller then stops)
void incidlelocked(std::int32_t v);
void mexit(M* mp);         // m.cpp: the M's locked G ended; the thread ends (m0 parks until exit)
void schedule_loop(M* mp);

// panic.cpp
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void gopanic_message(const char* msg);
void print_stack_overflow(G* gp, std::uintptr_t sp);  // Go's three lines, ending with "fatal error: stack overflow"
// A yield point found gp's sp below its guard: Go's message, then the
// traceback from unw_context (a libunwind context captured at the yield point).
[[noreturn]] void fatal_stack_overflow(G* gp, std::uintptr_t sp, void* unw_context);
void dump_goroutines(int fd, G* current);
// The first thread to die (panic, fatal error, SIGQUIT) prints; any other
// that dies meanwhile parks until the first ends the process.
void startpanic();
void crash_reserve_init();  // address space startpanic gives back for the dump (panic.cpp)
void sigquit_init();  // sigquit.cpp: SIGQUIT dumps every goroutine and exits 2 (after sysmon's M is made)
void on_terminate();
M* m0init();

// debug.cpp (GORTDEBUG)
struct DebugVars {
  std::int64_t schedtrace_ms;
  bool scheddetail;
  std::int64_t stacksize;
  Racy<std::int64_t> idlethreadexit_ns;  // idle Ms above the need exit after this long (tests change it live)
  bool preemptoff = false;        // no preemption at all
  bool asyncpreemptoff = false;   // yield points only, no SIGURG
  std::int64_t timeslice_ns = 10'000'000;  // a G holding its P longer is preempted
  bool blockretake = true;  // take the P from a thread blocked outside gort::syscall
  bool blockwarn = false;   // report each call site that blocks a thread for more than 1 ms
  std::string trace;        // record an execution trace of the whole run into this file
  bool slicetimer = true;   // each M's timer ends its slices (preempt/slicetimer.cpp); 0: sysmon alone
  bool handoffcpu = true;   // a direct hand-off wakes the next M on the waker's CPU (lockosthread.cpp)
};
extern DebugVars debug;
void parsedebugvars();
void schedtrace(bool detailed);

}  // namespace gort::rt

#include "biaslock_inline.h"  // (needs M, getm, locks_inc, releasem)
