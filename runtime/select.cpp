// select (Go's select.go, selectgo).
//
//  1. A random poll order over the cases (each ready case equally likely),
//     and a lock order by channel address (so two selects locking the same
//     channels cannot deadlock; a channel in two cases is locked once).
//  2. With every channel locked, look for a case that is ready now, in poll
//     order. Run it, unlock, done.
//  3. None: with a default, unlock and take it. Otherwise queue one sudog per
//     case on its channel, all sharing one SelState, and park. The first
//     waker to flip SelState::done wins and records its sudog.
//  4. Woken: lock everything again, take the losing sudogs off their
//     queues, and finish the winning case.
#include <algorithm>
#include <memory>
#include <vector>

#include "chan_impl.h"
#include "gort/select.h"

namespace gort::detail {

using namespace gort::rt;

namespace {

struct Locked {
  SelCase* cases;
  const int* lockorder;
  int n;
};

void sellock(const Locked& l) {
  ChanCore* prev = nullptr;
  for (int i = 0; i < l.n; ++i) {
    ChanCore* c = l.cases[l.lockorder[i]].c;
    if (c != prev) c->lock.lock();
    prev = c;
  }
}

void selunlock(void* p) {
  // Unlock in reverse lock order, skipping duplicates (Go does the same: the
  // last unlock may let the select's goroutine be woken and go on).
  const Locked& l = *static_cast<Locked*>(p);
  for (int i = l.n - 1; i >= 0; --i) {
    ChanCore* c = l.cases[l.lockorder[i]].c;
    if (i > 0 && c == l.cases[l.lockorder[i - 1]].c) continue;
    c->lock.unlock();
  }
}

G* current_g() {
  M* mp = getm();
  G* gp = mp ? static_cast<G*>(mp->curg) : nullptr;
  return (gp && getg() == gp) ? gp : nullptr;
}

// Small selects keep their arrays on the stack.
template <class T, int N>
struct SmallVec {
  T inline_[N];
  std::unique_ptr<T[]> heap;
  T* p;
  explicit SmallVec(int n) : p(n <= N ? inline_ : (heap = std::make_unique<T[]>(static_cast<std::size_t>(n))).get()) {}
  T& operator[](int i) { return p[i]; }
};

}  // namespace

int selectgo(SelCase* cases, int ncases, bool block, bool* recv_ok) {
  if (ncases == 0) {
    if (!block) return -1;
    block_forever(WaitReason::SelectNoCases);
  }
  SmallVec<int, 8> pollorder(ncases), lockorder(ncases);
  // Poll order: a random permutation of the cases with non-nil channels.
  int norder = 0;
  for (int i = 0; i < ncases; ++i) {
    if (cases[i].c == nullptr) continue;
    int j = static_cast<int>(fastrandn(static_cast<std::uint32_t>(norder + 1)));
    pollorder[norder] = pollorder[j];
    pollorder[j] = i;
    norder++;
  }
  if (norder == 0) {  // only nil channels: never ready
    if (!block) return -1;
    block_forever(WaitReason::Select);
  }
  // Lock order: by channel address.
  for (int i = 0; i < norder; ++i) lockorder[i] = pollorder[i];
  std::sort(&lockorder[0], &lockorder[0] + norder, [&](int a, int b) { return cases[a].c < cases[b].c; });
  Locked l{cases, &lockorder[0], norder};
  sellock(l);

  // Pass 1: anything ready now?
  for (int k = 0; k < norder; ++k) {
    int i = pollorder[k];
    SelCase& cs = cases[i];
    ChanCore* c = cs.c;
    if (!cs.send) {
      if (Sudog* sg = c->sendq.dequeue()) {
        recv_direct(c, sg, cs.elem);
        selunlock(&l);
        ready(sg);
        *recv_ok = true;
        return i;
      }
      if (c->qcount.load(std::memory_order_relaxed) > 0) {
        buf_recv(c, cs.elem);
        selunlock(&l);
        *recv_ok = true;
        return i;
      }
      if (c->closed.load(std::memory_order_relaxed) != 0) {
        selunlock(&l);
        *recv_ok = false;
        return i;
      }
    } else {
      if (c->closed.load(std::memory_order_relaxed) != 0) {
        selunlock(&l);
        gopanic_message("send on closed channel");
      }
      if (Sudog* sg = c->recvq.dequeue()) {
        send_direct(c, sg, cs.elem);
        selunlock(&l);
        ready(sg);
        return i;
      }
      if (c->qcount.load(std::memory_order_relaxed) < c->dataqsiz) {
        buf_send(c, cs.elem);
        selunlock(&l);
        return i;
      }
    }
  }
  if (!block) {
    selunlock(&l);
    return -1;
  }

  // Pass 2: queue on every channel and park.
  SelState st;
  std::atomic<std::uint32_t> word{0};
  G* gp = current_g();
  SmallVec<Sudog, 8> sgs(ncases);
  for (int k = 0; k < norder; ++k) {
    int i = lockorder[k];
    Sudog* sg = &sgs[i];
    sg->g = gp;
    sg->wake = &word;
    sg->elem = cases[i].elem;
    sg->c = cases[i].c;
    sg->sel = &st;
    sg->case_index = static_cast<std::uint32_t>(i);
    sg->is_send = cases[i].send;
    (cases[i].send ? cases[i].c->sendq : cases[i].c->recvq).enqueue(sg);
  }
  park_waiter(&sgs[lockorder[0]], selunlock, &l, WaitReason::Select);

  // Pass 3: woken by st.winner; take the other sudogs off their queues.
  sellock(l);
  Sudog* win = st.winner;
  for (int k = 0; k < norder; ++k) {
    int i = lockorder[k];
    Sudog* sg = &sgs[i];
    if (sg == win) continue;
    (cases[i].send ? cases[i].c->sendq : cases[i].c->recvq).remove(sg);
  }
  selunlock(&l);
  int i = static_cast<int>(win->case_index);
  if (cases[i].send) {
    if (!win->success) gopanic_message("send on closed channel");  // woken by close
  } else {
    *recv_ok = win->success;
  }
  return i;
}

}  // namespace gort::detail

namespace gort {

std::size_t select(std::span<SelectCase> cases) {
  std::vector<detail::SelCase> sc;
  std::vector<std::size_t> argi;
  std::size_t default_index = cases.size();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].is_default()) {
      if (default_index != cases.size()) rt::gopanic_message("gort::select: more than one default case");
      default_index = i;
      continue;
    }
    sc.push_back(cases[i].sel());
    argi.push_back(i);
  }
  bool ok = false;
  int chosen = detail::selectgo(sc.data(), static_cast<int>(sc.size()), default_index == cases.size(), &ok);
  std::size_t which = chosen < 0 ? default_index : argi[static_cast<std::size_t>(chosen)];
  cases[which].finish(ok);
  return which;
}

}  // namespace gort
