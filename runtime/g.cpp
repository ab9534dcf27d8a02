// Gs: allocation and reuse, newproc (gort::go), the start and end of a
// goroutine's life.
#include <algorithm>
#include <cstddef>
#include <new>
#include <vector>

#include "runtime2.h"
#include "trace.h"
#include "sanitizer.h"

extern "C" void gort_gostart();

namespace gort::rt {

AllGs allgs;

void allgadd(G* gp) {
  allgs.lock.lock();
  std::size_t n = allgs.len.load(std::memory_order_relaxed);
  if (n == allgs.cap) {
    // Grow by copying; the old array is kept (never freed, but still
    // referenced, so leak checkers see it) because readers without the lock
    // may still be walking it.
    static auto* retired = new std::vector<G**>();  // never destroyed: exit does not free it either
    std::size_t cap = allgs.cap ? allgs.cap * 2 : 1024;
    G** grown = new G*[cap];
    G** old = allgs.ptr.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) grown[i] = old[i];
    if (old) retired->push_back(old);
    allgs.ptr.store(grown, std::memory_order_release);
    allgs.cap = cap;
  }
  allgs.ptr.load(std::memory_order_relaxed)[n] = gp;
  allgs.len.store(n + 1, std::memory_order_release);
  allgs.lock.unlock();
}

void gcount_add(P* pp, int delta) {
  if (pp)
    pp->ngoroutines = pp->ngoroutines + delta;  // owner only: no atomic RMW
  else
    sched.ngoroutines.fetch_add(delta, std::memory_order_relaxed);
}

int gcount() {
  std::int64_t n = sched.ngoroutines.load(std::memory_order_relaxed);
  for (int i = 0; i < kMaxProcs && allp[i]; ++i) n += allp[i]->ngoroutines;
  return n < 1 ? 1 : static_cast<int>(n);  // a racy sum can dip below the truth; main exists
}

namespace {

// A G lives at the top of its own stack, in the page its first frames use
// (as Boost.Context keeps a fiber's control block). A runnable G is cold
// when it comes to run once there are many (skynet: ~65,000); what its
// first run touches (the G's hot lines, the switch frame, the callable,
// the frames above the park) is then one page, one TLB entry and
// neighbouring lines, not two pages far apart. Gs are never freed, nor are
// stacks. skynet at GOMAXPROCS=1: 555 -> 510 ms. (Not under ASan: see
// sanitizer.h's kGOnHeap.)
G* malg() {
  Stack st;
  bool guarded = false;
  if (!stackalloc(&st, &guarded)) {
    fatal("runtime: cannot allocate a %zu-byte goroutine stack: out of memory or of memory mappings "
          "(vm.max_map_count); %d goroutines exist",
          stack_size(), gcount());
  }
  G* gp;
  if (san::kGOnHeap) {
    gp = new G();
    gp->stack = st;
  } else {
    std::uintptr_t at = (st.hi - sizeof(G)) & ~std::uintptr_t{alignof(G) - 1};
    gp = new (reinterpret_cast<void*>(at)) G();
    gp->stack = Stack{st.lo, at};
  }
  gp->guarded = guarded;
  gp->tsan_fiber = san::new_fiber();
  gp->atomicstatus.store(Gidle);
  return gp;
}

}  // namespace

// The global free list (sched.gflock held): push n Gs, keeping their order
// (the last one ends on top), and pop up to n from the top into out (top
// last, so that out stays oldest-first).
void gfpush_global(G* const* gs, std::int32_t n) {
  if (sched.ngfree + n > sched.gfreecap) {
    std::int32_t cap = sched.gfreecap ? sched.gfreecap : 256;
    while (cap < sched.ngfree + n) cap *= 2;
    G** grown = new G*[static_cast<std::size_t>(cap)];
    std::copy_n(sched.gfree, static_cast<std::int32_t>(sched.ngfree), grown);
    delete[] sched.gfree;
    sched.gfree = grown;
    sched.gfreecap = cap;
  }
  std::copy_n(gs, n, sched.gfree + sched.ngfree);
  sched.ngfree = sched.ngfree + n;
}

namespace {
std::int32_t gfpop_global(G** out, std::int32_t n) {
  n = std::min<std::int32_t>(n, sched.ngfree);
  sched.ngfree = sched.ngfree - n;
  std::copy_n(sched.gfree + sched.ngfree, n, out);
  return n;
}

// Put a dead G on pp's free list; when the list is full, the older half
// goes to the global list (Go moves the newest: they are the warmest Gs).
void gfput(P* pp, G* gp) {
  if (pp == nullptr) {
    sched.gflock.lock();
    gfpush_global(&gp, 1);
    sched.gflock.unlock();
    return;
  }
  std::int32_t n = pp->gfreecnt;
  if (n == kGfreeMax) {
    constexpr std::int32_t half = kGfreeMax / 2;
    sched.gflock.lock();
    gfpush_global(pp->gfree, half);
    sched.gflock.unlock();
    std::copy(pp->gfree + half, pp->gfree + n, pp->gfree);
    n -= half;
  }
  pp->gfree[n] = gp;
  pp->gfreecnt = n + 1;
}

// Get a dead G from pp's free list, refilling it from the global list.
G* gfget(P* pp) {
  if (pp == nullptr) {
    sched.gflock.lock();
    G* gp = nullptr;
    gfpop_global(&gp, 1);
    sched.gflock.unlock();
    return gp;
  }
  std::int32_t n = pp->gfreecnt;
  if (n == 0 && sched.ngfree != 0) {
    sched.gflock.lock();
    n = gfpop_global(pp->gfree, kGfreeMax / 2);
    sched.gflock.unlock();
  }
  if (n == 0) return nullptr;
  pp->gfreecnt = n - 1;
  return pp->gfree[n - 1];
}

G* g_of(detail::FnSlot* slot) {
  return reinterpret_cast<G*>(reinterpret_cast<char*>(slot) - offsetof(G, fn));
}

// Lays out the frame gort_swapctx pops on a fresh stack, so that switching
// to gp "returns" into gort_gostart with gp in r12 (switch_x86_64.S).
void makectx(G* gp) {
  std::uintptr_t top = (gp->stack.hi & ~std::uintptr_t{15}) - 16;  // sp at gort_gostart: 16-aligned
  auto* frame = reinterpret_cast<std::uint64_t*>(top - 64);
  frame[0] = 0x1F80 | (std::uint64_t{0x037F} << 32);  // default MXCSR, x87 control word
  frame[1] = 0;                                        // r15
  frame[2] = 0;                                        // r14
  frame[3] = 0;                                        // r13
  frame[4] = reinterpret_cast<std::uint64_t>(gp);      // r12
  frame[5] = 0;                                        // rbx
  frame[6] = 0;                                        // rbp
  frame[7] = reinterpret_cast<std::uint64_t>(&gort_gostart);
  reinterpret_cast<std::uint64_t*>(top)[0] = 0;  // a null "return address" above gort_gostart
  gp->sched.sp = reinterpret_cast<std::uintptr_t>(frame);
  gp->sched.pc = reinterpret_cast<std::uintptr_t>(&gort_gostart);
  gp->sched.bp = 0;
}

std::int64_t newgoid(P* pp) {
  // goids are handed out in batches of 16 per P (Go's _GoidCacheBatch).
  constexpr std::int64_t kBatch = 16;
  if (pp == nullptr) return sched.goidgen.fetch_add(1) + 1;
  if (pp->goidcache == pp->goidcacheend) {
    pp->goidcache = sched.goidgen.fetch_add(kBatch) + 1;
    pp->goidcacheend = pp->goidcache + kBatch;
  }
  return pp->goidcache++;
}

// A G's end, both ways (goexit0 on g0, exit_direct on the G itself): dead,
// uncounted, detached from mp, its fields reset for reuse.
void gdestroy(M* mp, G* gp) {
  casgstatus(gp, Grunning, Gdead);
  GORT_TRACE(GORT_TRACE_EV_GO_END, gp->goid);
  gcount_add(mp->p, -1);
  gp->m = nullptr;
  // A G that ends while locked (lock_os_thread) takes its thread with it:
  // it may have locked it because it put it in an unusual state (Go's
  // goexit0). schedule_loop sees exitlocked and ends the M.
  if (gp->lockedm) {
    mp->lockedg = nullptr;
    mp->lockedext = 0;
    mp->exitlocked = true;
  }
  gp->lockedm = nullptr;
  gp->param = nullptr;
  gp->waitreason = WaitReason::Zero;
  gp->preempt = false;
  gp->preempt_stop = false;
  mp->curg = nullptr;
}

// The dead G to the free list, once off its stack.
void gfree_dead(M* mp, G* gp) {
  gp->eh = EhGlobals{};  // (the switch left the thread's in it)
  san::unpoison_stack(gp->sched.sp, gp->stack.hi);
  gfput(mp->p, gp);
}

G* goexit0(G* gp) {
  M* mp = getm();
  gdestroy(mp, gp);
  gfree_dead(mp, gp);
  return nullptr;
}

// goexit0 without g0 when the next G is known (proc.cpp's direct_next):
// skynet's leaves end by readying their parent, which runs next. The G
// goes to the free list only off its stack (finish_exit_direct): a G there
// may be taken by another P (from the global list) and started. Never for
// a locked G (direct_next sees its M's lockedg).
[[noreturn]] void exit_direct(M* mp, G* gp, G* next, bool inherit) {
  gdestroy(mp, gp);
  execute(mp, next, inherit, /*direct=*/true);
  mp->exitedg = gp;
  switch_direct(mp, gp, next, /*exiting=*/true);
  __builtin_unreachable();
}

}  // namespace

void finish_exit_direct(M* mp) {
  G* gp = mp->exitedg;
  mp->exitedg = nullptr;
  gfree_dead(mp, gp);
  mp->locks--;  // gort_goroutine_main's
}

}  // namespace gort::rt

namespace gort::detail {

using namespace gort::rt;

FnSlot* newproc_begin() {
  if (!sched.started.load(std::memory_order_relaxed)) fatal("gort::go called before gort::run");
  M* mp = getm();
  if (mp) locks_inc(mp);
  G* gp = gfget(mp ? mp->p : nullptr);
  if (gp == nullptr) {
    gp = malg();
    casgstatus(gp, Gidle, Gdead);
    allgadd(gp);
  }
  if (mp) mp->locks--;
  return &gp->fn;
}

void newproc_abort(FnSlot* slot) noexcept {
  M* mp = getm();
  if (mp) locks_inc(mp);
  gfput(mp ? mp->p : nullptr, g_of(slot));
  if (mp && --mp->locks == 0) releasem_rearm(mp);
}

__attribute__((noinline)) void newproc_end(FnSlot* slot) {
  G* newg = g_of(slot);
  M* mp = getm();
  if (mp) locks_inc(mp);
  P* pp = mp ? mp->p : nullptr;  // nullptr in a system call, implicit ones too: the global queue
  makectx(newg);
  G* parent = mp ? mp->curg : nullptr;
  newg->parentgoid = parent ? static_cast<std::int64_t>(parent->goid) : 0;
  newg->gopc = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
  newg->startpc = reinterpret_cast<std::uintptr_t>(slot->invoke);
  newg->fnword = *reinterpret_cast<const std::uint64_t*>(newg->fn.buf);
  newg->goid = newgoid(pp);
  newg->waitsince = 0;
  newg->stackguard0.store(newg->stack.lo + kStackGuard, std::memory_order_relaxed);
  gcount_add(pp, 1);
  casgstatus(newg, Gdead, Grunnable);
  GORT_TRACE(GORT_TRACE_EV_GO_CREATE, newg->goid, newg->parentgoid, newg->startpc, newg->fnword);
  if (pp) {
    runqput(pp, newg, true);
    if (sched.mainstarted.load(std::memory_order_relaxed)) wakep();
  } else {
    // A thread that is not an M: the global queue, and an M for it.
    globrunqput_wake(newg);
  }
  if (mp && --mp->locks == 0) releasem_rearm(mp);
}

}  // namespace gort::detail

namespace gort::rt {

void main_exited();

// Called by gort_gostart on the new G's stack; never returns. There is no
// catch here on purpose: an exception that escapes the goroutine's function
// finds no handler, and std::terminate runs at the throw with its stack
// intact (on_terminate prints it as Go prints a panic).
extern "C" [[noreturn]] void gort_goroutine_main(G* gp) {
  switched_in(nullptr);
  gp->fn.invoke(gp->fn.buf);
  gp->fn.destroy(gp->fn.buf);
  if (gp->goid == 1) main_exited();
  M* mp = getm();
  locks_inc(mp);  // as mcall's
  bool inherit = false;
  if (G* next = direct_next(mp, &inherit)) exit_direct(mp, gp, next, inherit);
  mp->locks--;
  mcall(goexit0, /*exiting=*/true);
  fatal("goexit: a dead goroutine was resumed");
}

}  // namespace gort::rt

namespace gort {

std::int64_t goid() noexcept {
  rt::M* mp = rt::getm();
  if (mp == nullptr || mp->curg == nullptr || rt::getg() != mp->curg) return 0;
  return mp->curg->goid;
}

int num_goroutine() noexcept { return rt::gcount(); }

bool in_goroutine() noexcept { return goid() != 0; }

}  // namespace gort
