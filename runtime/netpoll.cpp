// The netpoller (Go's netpoll.go and netpoll_epoll.go): goroutines that wait
// for a file descriptor park instead of holding a thread.
//
// Every fd gort::net makes is registered with one epoll instance once, for
// its lifetime, edge-triggered for read and write. Its PollDesc has two
// semaphores, rg and wg (one per direction), each holding
//   pdNil    nothing happened and nobody waits,
//   pdReady  an edge arrived that nobody has consumed yet,
//   pdWait   a G is about to park (between its CAS and gopark's commit),
//   a G*     the G parked waiting.
// A reader tries the syscall first; only on EAGAIN does it park. An edge
// turns pdWait or a parked G into pdReady/the G's wake-up, so an edge that
// arrives between the failed syscall and the park is never lost.
//
// Who polls (proc.cpp's find_runnable and sysmon):
//   - an M looking for work polls without blocking after the global queue,
//     whenever Gs wait for I/O;
//   - the last M to run out of work blocks in epoll_wait, with the timeout
//     of the earliest timer (this is also how timers wake idle programs);
//     netpoll_break (an eventfd, level-triggered) ends that wait when a timer
//     moves earlier or the program exits;
//   - sysmon polls when nobody has for 1 ms (Go: 10 ms) and puts what is
//     ready on the global queue, so that I/O is noticed even while every P
//     runs call-free loops (golang/go#51651).
//
// PollDescs are never freed: an event read by one thread may name a
// descriptor another thread is closing. The epoll data carries the
// descriptor's generation (fdseq) in its top 16 bits, and events of an
// older generation are dropped; what slips through is a spurious wake-up,
// which every caller tolerates (it retries the syscall).
#include "netpoll.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>
#include <mutex>
#include <vector>

#include "gort/sync.h"
#include "runtime2.h"
#include "trace.h"

namespace gort::rt {

namespace {

constexpr std::uintptr_t pdNil = 0;
constexpr std::uintptr_t pdReady = 1;
constexpr std::uintptr_t pdWait = 2;

int epfd = -1;
int breakfd = -1;
std::atomic<std::uint32_t> wakesig{0};  // a break is pending: later breaks need no write
std::atomic<std::int32_t> waiters{0};

}  // namespace

struct PollDesc {
  int fd = -1;
  std::atomic<std::uint64_t> fdseq{0};  // generation: bumped on every (re)registration and close
  std::atomic<std::uintptr_t> rg{pdNil};
  std::atomic<std::uintptr_t> wg{pdNil};
  std::atomic<bool> closing{false};
  // An event said the peer hung up or the socket is in error: conditions
  // that stay, unlike data a read consumes (see gort::net's read). Sticky.
  std::atomic<bool> hup{false};
  // Deadlines: 0 none, -1 expired, else nanotime() when. Written under
  // lock, read without it by checkerr.
  std::atomic<std::int64_t> rd{0};
  std::atomic<std::int64_t> wd{0};
  Lock lock;  // rd, wd, rseq, wseq, the timers
  std::int64_t rseq = 0, wseq = 0;  // timer generations: a timer of an older one is stale
  Timer rt{}, wt{};
  // One reader and one writer at a time (gort::net's Conn, wait_readable):
  // a direction has room for one parked G.
  gort::Mutex rmu, wmu;
  PollDesc* link = nullptr;  // the free list
};

namespace {

// Free PollDescs, and every fd's current one (for wait_readable on a user's
// fd, which may be one gort::net registered).
Lock pdlock;
PollDesc* pdfree = nullptr;
// Never destroyed: goroutines may still close sockets while the program's
// static destructors run (gort::run returned; other goroutines go on).
std::vector<PollDesc*>& byfd = *new std::vector<PollDesc*>();

constexpr std::uint64_t kPtrMask = (std::uint64_t{1} << 48) - 1;
std::uint64_t tag(PollDesc* pd, std::uint64_t seq) {
  return (reinterpret_cast<std::uint64_t>(pd) & kPtrMask) | (seq << 48);
}

PollDesc* pdalloc(int fd) {
  pdlock.lock();
  PollDesc* pd = pdfree;
  if (pd) pdfree = pd->link;
  pdlock.unlock();
  if (pd == nullptr) pd = new PollDesc();  // never freed: see the header comment
  pd->fd = fd;
  pd->rg.store(pdNil);
  pd->wg.store(pdNil);
  pd->closing.store(false);
  pd->hup.store(false);
  pd->rd.store(0);
  pd->wd.store(0);
  pd->fdseq.fetch_add(1);
  return pd;
}

void pdfree_put(PollDesc* pd) {
  pd->fdseq.fetch_add(1);
  pdlock.lock();
  if (pd->fd >= 0 && static_cast<std::size_t>(pd->fd) < byfd.size() && byfd[pd->fd] == pd) byfd[pd->fd] = nullptr;
  pd->fd = -1;
  pd->link = pdfree;
  pdfree = pd;
  pdlock.unlock();
}

int ctl_add(PollDesc* pd) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = tag(pd, pd->fdseq.load());
  return epoll_ctl(epfd, EPOLL_CTL_ADD, pd->fd, &ev);
}

void set_byfd(int fd, PollDesc* pd) {  // pdlock held
  if (static_cast<std::size_t>(fd) >= byfd.size()) byfd.resize(static_cast<std::size_t>(fd) + 64, nullptr);
  byfd[fd] = pd;
}

std::atomic<std::uintptr_t>& sema(PollDesc* pd, int mode) { return mode == kModeRead ? pd->rg : pd->wg; }

int checkerr(PollDesc* pd, int mode) {
  if (pd->closing.load()) return kPollErrClosing;
  if ((mode == kModeRead && pd->rd.load() < 0) || (mode == kModeWrite && pd->wd.load() < 0)) return kPollErrTimeout;
  return kPollNoError;
}

// gopark's commit: the G is parked only if nobody readied the descriptor
// (or closed it) since it set pdWait.
bool blockcommit(G* gp, void* arg) {
  auto* gpp = static_cast<std::atomic<std::uintptr_t>*>(arg);
  waiters.fetch_add(1);
  std::uintptr_t expected = pdWait;
  if (gpp->compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(gp))) return true;
  waiters.fetch_sub(1);
  return false;
}

// Parks the G until mode is ready. true: an edge arrived; false: woken for
// closing or a deadline (or spuriously): the caller looks at checkerr.
bool netpollblock(PollDesc* pd, int mode) {
  auto& gpp = sema(pd, mode);
  for (;;) {
    std::uintptr_t v = pdReady;
    if (gpp.compare_exchange_strong(v, pdNil)) return true;
    v = pdNil;
    if (gpp.compare_exchange_strong(v, pdWait)) break;
    if (v != pdReady && v != pdNil) fatal("netpollblock: double wait (two goroutines wait for the same fd in one direction)");
  }
  // Closing or a deadline set after the caller's check: set before our
  // pdWait, their unblock found nothing to wake, so look now.
  if (checkerr(pd, mode) == kPollNoError) gopark(blockcommit, &gpp, WaitReason::IOWait);
  std::uintptr_t old = gpp.exchange(pdNil);
  if (old > pdWait) fatal("netpollblock: corrupted polldesc");
  return old == pdReady;
}

// ioready: an edge (the state becomes pdReady if nobody waits); otherwise
// closing or a deadline (only a waiter is woken). Returns the G to ready.
G* netpollunblock(PollDesc* pd, int mode, bool ioready) {
  auto& gpp = sema(pd, mode);
  for (;;) {
    std::uintptr_t old = gpp.load();
    if (old == pdReady) return nullptr;
    if (old == pdNil && !ioready) return nullptr;
    std::uintptr_t nv = ioready ? pdReady : pdNil;
    if (gpp.compare_exchange_weak(old, nv)) {
      if (old == pdNil || old == pdWait) return nullptr;
      waiters.fetch_sub(1);
      return reinterpret_cast<G*>(old);
    }
  }
}

void netpollgoready(G* gp) {
  if (gp) goready(gp);
}

void deadline_fired(void* arg, std::int64_t seq, std::int64_t) {
  auto* pd = static_cast<PollDesc*>(arg);
  bool write = seq & 1;
  std::int64_t gen = seq >> 1;
  pd->lock.lock();
  G* gp = nullptr;
  if (!write && pd->rseq == gen) {
    pd->rd.store(-1);
    gp = netpollunblock(pd, kModeRead, false);
  } else if (write && pd->wseq == gen) {
    pd->wd.store(-1);
    gp = netpollunblock(pd, kModeWrite, false);
  }
  pd->lock.unlock();
  netpollgoready(gp);
}

// pd->lock held. Returns a G to wake (the deadline is already past).
G* set_one_deadline(PollDesc* pd, int mode, std::int64_t d, std::int64_t now) {
  bool write = mode == kModeWrite;
  std::atomic<std::int64_t>& dl = write ? pd->wd : pd->rd;
  std::int64_t& gen = write ? pd->wseq : pd->rseq;
  Timer& t = write ? pd->wt : pd->rt;
  gen++;  // a timer already firing for the old deadline is stale now
  deltimer(&t);
  if (d != 0 && d <= now) d = -1;
  dl.store(d);
  if (d > 0) {
    t.when = d;
    t.period = 0;
    t.f = deadline_fired;
    t.arg = pd;
    t.seq = gen * 2 + (write ? 1 : 0);
    addtimer(&t);
    return nullptr;
  }
  return d < 0 ? netpollunblock(pd, mode, false) : nullptr;
}

}  // namespace

// Am I a goroutine that may park? (Not a foreign thread, not g0, not inside
// gort::syscall: those wait in poll(2).)
bool poll_can_park() {
  M* mp = getm();
  if (mp == nullptr) return false;
  G* gp = mp->curg;
  if (gp == nullptr || getg() != gp) return false;
  return readgstatus(gp) != Gsyscall || mp->blockretake.load() != kBlockNone;
}

namespace {

// A thread that is not a goroutine waits in poll(2), at most 10 ms at a
// time so that a deadline set or a close made meanwhile is seen.
int thread_wait(PollDesc* pd, int mode) {
  std::atomic<std::int64_t>& dl = mode == kModeRead ? pd->rd : pd->wd;
  for (;;) {
    int err = checkerr(pd, mode);
    if (err != kPollNoError) return err;
    std::int64_t slice = 10'000'000;
    std::int64_t d = dl.load();
    if (d > 0) slice = std::min(slice, std::max<std::int64_t>(d - nanotime(), 0));
    pollfd p{pd->fd, static_cast<short>(mode == kModeRead ? POLLIN | POLLRDHUP : POLLOUT), 0};
    if (::poll(&p, 1, static_cast<int>((slice + 999'999) / 1'000'000)) > 0) return kPollNoError;
    if (d > 0 && nanotime() >= d) {
      pd->lock.lock();
      if (dl.load() == d) dl.store(-1);  // unless it was moved meanwhile
      pd->lock.unlock();
    }
  }
}

}  // namespace

void GList::push(G* gp) {
  gp->schedlink = nullptr;
  if (tail) tail->schedlink = gp;
  else head = gp;
  tail = gp;
  n++;
}

G* GList::pop() {
  G* gp = head;
  if (gp) {
    head = gp->schedlink;
    if (head == nullptr) tail = nullptr;
    gp->schedlink = nullptr;
    n--;
  }
  return gp;
}

namespace {
void init_once();
}

void netpollinit() {
  static std::once_flag once;  // schedinit, or the first socket made before gort::run
  std::call_once(once, init_once);
}

namespace {
void init_once() {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) fatal("runtime: netpollinit failed: epoll_create1: errno %d", errno);
  breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (breakfd < 0) fatal("runtime: netpollinit failed: eventfd: errno %d", errno);
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a non-blocking poll that sees it leaves it for the blocking one
  ev.data.u64 = 0;      // no PollDesc is at 0
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, breakfd, &ev) != 0) fatal("runtime: netpollinit failed: epoll_ctl: errno %d", errno);
}
}  // namespace

gort::Mutex& poll_mutex(PollDesc* pd, int mode) { return mode == kModeRead ? pd->rmu : pd->wmu; }
bool poll_hup(PollDesc* pd) { return pd->hup.load(); }

std::int32_t netpoll_waiters() { return waiters.load(std::memory_order_relaxed); }

PollDesc* poll_open(int fd) {
  netpollinit();
  PollDesc* pd = pdalloc(fd);
  if (ctl_add(pd) != 0) {
    int e = errno;
    pdfree_put(pd);
    errno = e;
    return nullptr;
  }
  pdlock.lock();
  set_byfd(fd, pd);
  pdlock.unlock();
  return pd;
}

PollDesc* poll_user_fd(int fd) {
  netpollinit();
  // Under pdlock throughout: the generation and the registration change together.
  pdlock.lock();
  PollDesc* pd = static_cast<std::size_t>(fd) < byfd.size() ? byfd[fd] : nullptr;
  if (pd) {
    // Still registered for the same open file (EEXIST); or that file was
    // closed, epoll forgot it, and fd now names another: register anew, as
    // a new generation (events of the old one are dropped, and so is
    // readiness it left behind).
    pd->fdseq.fetch_add(1);
    if (ctl_add(pd) == 0) {
      std::uintptr_t r = pdReady;
      pd->rg.compare_exchange_strong(r, pdNil);
      r = pdReady;
      pd->wg.compare_exchange_strong(r, pdNil);
    } else {
      int e = errno;
      pd->fdseq.fetch_sub(1);
      if (e != EEXIST) pd = nullptr;
      errno = e;
    }
    pdlock.unlock();
    return pd;
  }
  pdlock.unlock();
  pd = pdalloc(fd);
  pdlock.lock();
  if (static_cast<std::size_t>(fd) < byfd.size() && byfd[fd] != nullptr) {  // another thread registered it meanwhile
    pdlock.unlock();
    pdfree_put(pd);
    return poll_user_fd(fd);
  }
  if (ctl_add(pd) != 0) {
    int e = errno;
    pdlock.unlock();
    pdfree_put(pd);
    errno = e;
    return nullptr;
  }
  set_byfd(fd, pd);
  pdlock.unlock();
  return pd;
}

void poll_close(PollDesc* pd) {
  if (!pd->closing.load()) fatal("poll_close: descriptor not closing");
  if (pd->wg.load() > pdWait || pd->rg.load() > pdWait) fatal("poll_close: blocked read or write on closing descriptor");
  pd->lock.lock();
  pd->rseq++;
  pd->wseq++;
  deltimer(&pd->rt);
  deltimer(&pd->wt);
  pd->lock.unlock();
  epoll_event ev{};
  epoll_ctl(epfd, EPOLL_CTL_DEL, pd->fd, &ev);
  pdfree_put(pd);
}

int poll_reset(PollDesc* pd, int mode) {
  int err = checkerr(pd, mode);
  if (err != kPollNoError) return err;
  sema(pd, mode).store(pdNil);
  return kPollNoError;
}

int poll_wait(PollDesc* pd, int mode) {
  int err = checkerr(pd, mode);
  if (err != kPollNoError) return err;
  if (!poll_can_park()) return thread_wait(pd, mode);
  while (!netpollblock(pd, mode)) {
    err = checkerr(pd, mode);
    if (err != kPollNoError) return err;
    // Woken without an edge or an error: a stale event of an older
    // generation, or a deadline that was moved. Wait again.
  }
  return kPollNoError;
}

void poll_set_deadline(PollDesc* pd, std::int64_t d, int mode) {
  std::int64_t now = nanotime();
  pd->lock.lock();
  if (pd->closing.load()) {
    pd->lock.unlock();
    return;
  }
  G* rg = nullptr;
  G* wg = nullptr;
  if (mode == kModeRead || mode == kModeReadWrite) rg = set_one_deadline(pd, kModeRead, d, now);
  if (mode == kModeWrite || mode == kModeReadWrite) wg = set_one_deadline(pd, kModeWrite, d, now);
  pd->lock.unlock();
  netpollgoready(rg);
  netpollgoready(wg);
}

void poll_unblock(PollDesc* pd) {
  pd->lock.lock();
  if (pd->closing.exchange(true)) fatal("poll_unblock: already closing");
  pd->rseq++;
  pd->wseq++;
  G* rg = netpollunblock(pd, kModeRead, false);
  G* wg = netpollunblock(pd, kModeWrite, false);
  deltimer(&pd->rt);
  deltimer(&pd->wt);
  pd->lock.unlock();
  netpollgoready(rg);
  netpollgoready(wg);
}

GList netpoll(std::int64_t delay) {
  GList list;
  if (epfd < 0) return list;
  epoll_event events[128];
  int n;
  for (;;) {
    if (delay <= 0) {
      n = epoll_wait(epfd, events, 128, delay < 0 ? -1 : 0);
    } else {
      // epoll_pwait2 takes nanoseconds (Linux 5.11): a timer due in 300 µs
      // is not rounded up to a whole millisecond, as Go's epoll_wait does.
      timespec ts{static_cast<time_t>(delay / 1'000'000'000), static_cast<long>(delay % 1'000'000'000)};
      n = epoll_pwait2(epfd, events, 128, &ts, nullptr);
      if (n < 0 && errno == ENOSYS) {
        int ms = delay >= std::int64_t{INT_MAX} * 1'000'000 ? INT_MAX : static_cast<int>((delay + 999'999) / 1'000'000);
        n = epoll_wait(epfd, events, 128, ms);
      }
    }
    if (n >= 0) break;
    if (errno != EINTR) fatal("runtime: netpoll failed: epoll_wait: errno %d", errno);
    // A signal (SIGURG, SIGPROF): a timed wait returns so that the caller
    // recomputes its timeout; a blocking or non-blocking one goes again.
    if (delay > 0) return list;
  }
  for (int i = 0; i < n; ++i) {
    std::uint64_t data = events[i].data.u64;
    if (data == 0) {
      // netpoll_break. Only a blocking poll consumes it: a non-blocking one
      // leaves it (level-triggered) for the poller it was meant for.
      if (delay != 0) {
        std::uint64_t v;
        while (::read(breakfd, &v, sizeof v) < 0 && errno == EINTR) {
        }
        wakesig.store(0);
      }
      continue;
    }
    auto* pd = reinterpret_cast<PollDesc*>(data & kPtrMask);
    if ((pd->fdseq.load() & 0xffff) != (data >> 48)) continue;  // an older generation's event
    std::uint32_t ev = events[i].events;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pd->hup.store(true);  // before the wake-up: see poll_hup
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      if (G* gp = netpollunblock(pd, kModeRead, true)) list.push(gp);
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
      if (G* gp = netpollunblock(pd, kModeWrite, true)) list.push(gp);
  }
  if (list.n > 0) GORT_TRACE(GORT_TRACE_EV_NETPOLL, list.n);
  return list;
}

// Spinning before blocking (as Linux's busy polling of sockets, and KVM's
// halt polling, which this adapts the way KVM does). A request/response
// server at GOMAXPROCS=1 goes idle after every reply; when the next
// request comes a few µs later, an M asleep in epoll_wait must be woken
// (an interrupt to its CPU and a switch back: 10-20 µs on this project's
// VM), while one that polls a little longer just finds it. Go gets some of
// this by accident: after a reply its goroutine reads again and gets
// EAGAIN, and its M polls without blocking on the way to sleep; gort
// parks at once. Measured with a client that never sleeps (bench/
// echo_epoll --spin), one connection: Go 66,000 requests/s, gort 46,000
// before this. The window grows (from kPollSpinStart, doubling, up to
// kPollSpinMax) while idle spells that end in I/O are short enough for it
// to have covered them, and halves when one is longer than kPollSpinMax,
// so a server whose requests come further apart, or not at all, does not
// spin.
namespace {
std::atomic<std::int64_t> pollspin{0};  // the window now (only the polling M writes it)
}  // namespace

std::int64_t netpoll_spin_window() { return netpoll_waiters() > 0 ? pollspin.load(std::memory_order_relaxed) : 0; }

GList netpoll_spin(std::int64_t ns) {
  GList list;
  const std::int64_t until = nanotime() + ns;
  do {
    list = netpoll(0);
    if (!list.empty() || wakesig.load(std::memory_order_relaxed) != 0) break;
    if (sched.runqsize.load(std::memory_order_relaxed) != 0 || sched.gcwaiting.load(std::memory_order_relaxed) ||
        sched.exiting.load(std::memory_order_relaxed))
      break;
    procyield(10);
  } while (nanotime() < until);
  return list;
}

std::int64_t netpoll_spin_next(std::int64_t window, std::int64_t idle_ns, bool io) {
  if (idle_ns > kPollSpinMax) return window / 2 < kPollSpinStart ? 0 : window / 2;
  if (io && idle_ns > window) return window == 0 ? kPollSpinStart : std::min(2 * window, kPollSpinMax);
  return window;
}

void netpoll_idle_end(std::int64_t idle_ns, bool io) {
  pollspin.store(netpoll_spin_next(pollspin.load(std::memory_order_relaxed), idle_ns, io), std::memory_order_relaxed);
}

void netpoll_break() {
  if (epfd < 0) return;
  if (wakesig.exchange(1) != 0) return;
  std::uint64_t one = 1;
  while (::write(breakfd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void injectglist(GList list) {
  if (list.empty()) return;
  for (G* gp = list.head; gp; gp = gp->schedlink) {
    casgstatus(gp, Gwaiting, Grunnable);
    GORT_TRACE(GORT_TRACE_EV_GO_READY, gp->goid, 0);
    gp->waitreason = WaitReason::Zero;
  }
  M* mp = getm();
  if (mp) locks_inc(mp);
  P* pp = mp ? static_cast<P*>(mp->p) : nullptr;
  // Idle Ps get their share through the global queue (and an M each);
  // the rest go on our own P's queue.
  std::int32_t global = pp == nullptr ? list.n : std::min(list.n, sched.npidle.load());
  if (global > 0) {
    sched.lock.lock();
    for (std::int32_t i = 0; i < global; ++i) globrunqput(list.pop());
    sched.lock.unlock();
    for (std::int32_t i = 0; i < global && sched.npidle.load() > 0; ++i) startm(nullptr, false);
  }
  while (G* gp = list.pop()) runqput(pp, gp, false);
  if (mp) mp->locks--;
}

}  // namespace gort::rt
