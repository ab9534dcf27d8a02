// A look at the scheduler from inside the program: the numbers behind
// GORTDEBUG=schedtrace, as data. A snapshot is read without stopping
// anything, so its numbers are consistent only roughly (as Go's schedtrace).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gort::debug {

struct PStats {
  int id;
  const char* status;  // "idle", "running", "syscall", "gcstop", "dead"
  std::uint32_t schedtick;
  std::uint32_t syscalltick;
  std::int64_t m;  // id of the M holding it, -1 if none
  std::uint32_t runqsize;
  bool runnext;
  int gfreecnt;
  std::size_t timers;
};

struct SchedStats {
  std::int64_t uptime_ns;
  int gomaxprocs;
  int idleprocs;
  int threads;
  int spinningthreads;
  int idlethreads;
  int runqueue;  // the global run queue
  int goroutines;
  // Preemption since start-up: requests made (time slices, stop the
  // world), and how they ended: yields at a yield point, and stops by
  // signal. Requests can outnumber the two (a G that blocks first needs
  // neither; a signal that lands at an unsafe point is retried).
  std::uint64_t preempt_requests;
  std::uint64_t slice_timer_requests;  // of those, made by a thread's own slice timer (not sysmon)
  std::uint64_t preempted_at_yield_points;
  std::uint64_t preempted_by_signal;
  // Ps that sysmon took from threads blocked outside gort::syscall
  // (GORTDEBUG=blockretake), and how many of the Gs then came back through
  // exitsyscall so far.
  std::uint64_t blocked_retakes;
  std::uint64_t blocked_returns;
  // Direct hand-offs of a P to the thread of a goroutine that must run on
  // it (locked, or preempted) that woke that thread on the waker's own CPU
  // (GORTDEBUG=handoffcpu).
  std::uint64_t handoffs_on_cpu;
  // Goroutines parked in the netpoller ("IO wait": gort::net, wait_readable).
  int io_waiters;
  std::vector<PStats> ps;
};

SchedStats sched_stats();
int current_p();           // the P running the calling goroutine; -1 off a goroutine
std::int64_t current_m();  // its M; -1 off a goroutine
std::string schedtrace(bool detailed);  // Go's "SCHED ..." text, as GORTDEBUG=schedtrace prints it

}  // namespace gort::debug
