// The semaphore table. 251 roots, chosen by address; each keeps, per
// address, a FIFO queue of waiters. Go keeps the addresses of a root in a
// treap; a list is enough here because the table spreads addresses over
// many roots and a root rarely holds more than a few at once.
//
// The waiter's record (sudog) lives on the waiting G's own stack: goroutine
// stacks never move in gort, and the G is parked, so the frame stays put until
// the releaser has readied it. The releaser copies what it needs out of the
// record before goready, after which the record may be gone.
#include "sema.h"

namespace gort::rt {

namespace {

struct Sudog {
  G* g;
  std::atomic<std::uint32_t>* addr;
  Sudog* next;      // next waiter on the same address
  Sudog* waittail;  // head only: last waiter on the address
  Sudog* nextaddr;  // head only: head of the next address's queue
  std::uint32_t ticket;  // set by a hand-off release: the count is ours
};

struct alignas(64) SemaRoot {
  Lock lock;
  Sudog* heads = nullptr;
  std::atomic<std::uint32_t> nwait{0};

  void queue(std::atomic<std::uint32_t>* addr, Sudog* s, bool lifo) {
    s->next = nullptr;
    for (Sudog** hp = &heads; *hp; hp = &(*hp)->nextaddr) {
      Sudog* h = *hp;
      if (h->addr != addr) continue;
      if (lifo) {  // s becomes the head
        s->next = h;
        s->waittail = h->waittail;
        s->nextaddr = h->nextaddr;
        *hp = s;
      } else {
        h->waittail->next = s;
        h->waittail = s;
      }
      return;
    }
    s->waittail = s;
    s->nextaddr = heads;
    heads = s;
  }

  Sudog* dequeue(std::atomic<std::uint32_t>* addr) {
    for (Sudog** hp = &heads; *hp; hp = &(*hp)->nextaddr) {
      Sudog* h = *hp;
      if (h->addr != addr) continue;
      if (Sudog* n = h->next) {
        n->waittail = h->waittail;
        n->nextaddr = h->nextaddr;
        *hp = n;
      } else {
        *hp = h->nextaddr;
      }
      return h;
    }
    return nullptr;
  }
};

constexpr std::size_t kSemTabSize = 251;
SemaRoot semtable[kSemTabSize];

SemaRoot* semroot(const void* addr) {
  return &semtable[(reinterpret_cast<std::uintptr_t>(addr) >> 3) % kSemTabSize];
}

bool cansemacquire(std::atomic<std::uint32_t>* addr) {
  std::uint32_t v = addr->load(std::memory_order_acquire);
  while (v != 0) {
    if (addr->compare_exchange_weak(v, v - 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

}  // namespace

void semacquire(std::atomic<std::uint32_t>* addr, bool lifo, WaitReason reason) {
  if (cansemacquire(addr)) return;
  M* mp = getm();
  G* gp = mp ? mp->curg : nullptr;
  if (gp == nullptr || getg() != gp) fatal("semacquire called off a goroutine (gort::Mutex and gort::WaitGroup need one)");
  Sudog s{};
  s.g = gp;
  s.addr = addr;
  SemaRoot* root = semroot(addr);
  for (;;) {
    root->lock.lock();
    // Add ourselves to nwait to disable the "easy case" in semrelease.
    root->nwait.fetch_add(1);
    // Check cansemacquire to avoid missed wakeup.
    if (cansemacquire(addr)) {
      root->nwait.fetch_sub(1);
      root->lock.unlock();
      return;
    }
    root->queue(addr, &s, lifo);
    goparkunlock(&root->lock, reason);
    if (s.ticket != 0 || cansemacquire(addr)) return;
  }
}

void semrelease(std::atomic<std::uint32_t>* addr, bool handoff) {
  SemaRoot* root = semroot(addr);
  addr->fetch_add(1, std::memory_order_acq_rel);
  // Easy case: no waiters? This check must happen after the add, to avoid a
  // missed wakeup (see the loop in semacquire).
  if (root->nwait.load() == 0) return;
  root->lock.lock();
  if (root->nwait.load() == 0) {
    root->lock.unlock();
    return;
  }
  Sudog* s = root->dequeue(addr);
  if (s) root->nwait.fetch_sub(1);
  root->lock.unlock();
  if (s == nullptr) return;
  G* g = s->g;
  bool handed = false;
  if (handoff && cansemacquire(addr)) {
    s->ticket = 1;
    handed = true;
  }
  goready(g);  // s may be gone after this
  M* mp = getm();
  if (handed && mp && mp->curg && mp->locks == 0) {
    // Direct G hand-off: the waiter is in runnext; yield so that it runs now
    // and inherits our time slice. Starvation mode depends on this.
    goyield();
  }
}

}  // namespace gort::rt
