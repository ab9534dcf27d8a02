// gort::stop_the_world / start_the_world / for_each_g: the world stopped
// for a GC-style pass, as Go's stopTheWorld("...") (proc.go) does it. The
// mechanism is stop_the_world_internal (runtime/procresize.cpp), shared
// with GOMAXPROCS changes; this is the public side and the view of the Gs.
//
// While the world is stopped every G other than the caller is in one of
// these states, and its saved registers are consistent:
//   - runnable or waiting: switched out by gort_swapctx; sched.sp points at
//     the callee-saved registers it pushed, and everything the G holds is on
//     [sched.sp, stack.hi);
//   - runnable after an asynchronous preemption: the same, and the
//     trampoline's frame (every general register and the extended state)
//     lies inside that range too, so a conservative scan sees pointers that
//     lived only in registers;
//   - syscall: still running the call, without a P. Its frames above
//     entersyscall (syscallsp) hold still; the call's own do not (Go's
//     rule: such a G is scanned from its syscall sp).
#include "gort/preempt.h"

#include "gort/sync.h"
#include "preempt/preempt.h"
#include "runtime2.h"

namespace gort::rt {
namespace {
// The G that stopped the world, or nullptr. Written by that G only.
std::atomic<G*> stopper{nullptr};
}  // namespace
}  // namespace gort::rt

namespace gort {

using namespace gort::rt;

void stop_the_world(const char* reason) {
  G* gp = current_user_g("gort::stop_the_world");
  if (stopper.load() == gp) fatal("gort::stop_the_world: the world is already stopped by this goroutine");
  worldsema().lock();
  stop_the_world_internal(WaitReason::StopTheWorld, reason != nullptr && *reason ? reason : "stop the world");
  stopper.store(gp);
}

void start_the_world() {
  G* gp = current_user_g("gort::start_the_world");
  if (stopper.load() != gp) fatal("gort::start_the_world: the world was not stopped by this goroutine");
  stopper.store(nullptr);
  start_the_world_internal();
  releasem_rearm(gp->m);
  worldsema().unlock();
}

namespace detail {

void for_each_g(void (*fn)(void* ctx, const GInfo& g), void* ctx) {
  G* self = current_user_g("gort::for_each_g");
  if (stopper.load() != self) fatal("gort::for_each_g: the world must be stopped (gort::stop_the_world) by the caller");
  std::size_t n = allgs.len.load(std::memory_order_acquire);
  G** gs = allgs.ptr.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    G* gp = gs[i];
    std::uint32_t st = readgstatus(gp) & ~Gscan;
    if (st == Gdead || st == Gidle) continue;
    GInfo g{};
    g.id = gp->goid;
    g.status = st;
    g.status_name = gstatus_string(st);
    g.wait_reason = st == Gwaiting ? waitreason_string(gp->waitreason) : "";
    g.stack_lo = gp->stack.lo;
    g.stack_hi = gp->stack.hi;
    g.self = gp == self;
    g.async_preempted = gp->asyncpreempted;
    if (g.self) {
      g.sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
      g.pc = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
      g.bp = g.sp;
    } else if (st == Gsyscall) {
      g.sp = gp->syscallsp;
      g.pc = gp->syscallpc;
      g.bp = gp->syscallsp;
    } else {
      g.sp = gp->sched.sp;
      g.pc = gp->sched.pc;
      g.bp = gp->sched.bp;
    }
    fn(ctx, g);
  }
}

}  // namespace detail
}  // namespace gort
