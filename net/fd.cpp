// NetFD: every call tries the system call first and parks (poll_wait) only
// on EAGAIN, as Go's internal/poll does. A call holds a reference for its
// whole length; close() marks the fd closed, wakes every waiter
// (poll_unblock), and the last reference out closes the fd.
#include "net/fd.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "gort/net.h"
#include "gort/sync.h"

namespace gort::net::detail {

// One call: a reference, the direction's lock (for a goroutine: a direction
// has room for one parked G), and a fresh readiness state.
class Op {
 public:
  Op(NetFD& fd, int mode, const char* name) : fd_(fd), mode_(mode) {
    fd.incref(name);
    if (rt::poll_can_park()) {
      mu_ = &rt::poll_mutex(fd.pd_, mode);
      mu_->lock();
    }
  }
  ~Op() { release(); }
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  // The call's first step is the system call itself, which sees what any
  // earlier edge announced: forget those edges (Go's prepareRead).
  void reset(const char* name) {
    int err = rt::poll_reset(fd_.pd_, mode_);
    if (err != rt::kPollNoError) {
      release();
      fd_.throw_poll(err, name);
    }
  }
  bool parks() const { return mu_ != nullptr; }
  // EAGAIN: wait until ready, or throw for closing or a deadline.
  void wait(const char* name) {
    int err = rt::poll_wait(fd_.pd_, mode_);
    if (err != rt::kPollNoError) fd_.throw_poll(err, name);
  }

 private:
  void release() {
    if (done_) return;
    done_ = true;
    if (mu_) mu_->unlock();
    fd_.decref();
  }
  NetFD& fd_;
  int mode_;
  gort::Mutex* mu_ = nullptr;
  bool done_ = false;
};

NetFD::NetFD(int sysfd, Network n) : net(n), fd_(sysfd), pd_(rt::poll_open(sysfd)) {
  if (pd_ == nullptr) {
    int e = errno;
    ::close(sysfd);
    throw_errno(e, "gort::net: register with the netpoller");
  }
}

NetFD::~NetFD() {
  std::uint64_t s = state_.load();
  if (s & kClosed) return;  // close() destroyed it (no call can be in progress: no handle is left)
  state_.store(kClosed);
  rt::poll_unblock(pd_);
  destroy();
}

int NetFD::sysfd() const { return (state_.load() & kClosed) ? -1 : fd_; }

std::string NetFD::describe(const char* op) const {
  std::string s = std::string(op) + " " + network_name(net);
  if (!laddr.empty() && !raddr.empty()) return s + " " + laddr + "->" + raddr;
  if (!raddr.empty()) return s + " " + raddr;
  if (!laddr.empty()) return s + " " + laddr;
  return s;
}

// Never counts a reference on a closed fd (Go's fdMutex.incref, a CAS
// loop): a fetch_add undone by decref brought the count of an fd already
// destroyed back to 1 and then 0, and destroyed it a second time, closing
// whatever fd the number had been given to meanwhile (TSan saw the race in
// Net.IPv6Loopback: an accept that failed with EINVAL, the listener's
// number closed under it).
void NetFD::incref(const char* op) {
  std::uint64_t s = state_.load();
  do {
    if (s & kClosed) throw std::system_error(make_error_code(error::closed), describe(op));
  } while (!state_.compare_exchange_weak(s, s + 1));
}

void NetFD::decref() {
  if (state_.fetch_sub(1) == (kClosed | 1)) destroy();
}

void NetFD::destroy() {
  rt::poll_close(pd_);
  ::close(fd_);  // never retried: Linux frees the fd even when close reports EINTR
  if (!unlink_path.empty()) ::unlink(unlink_path.c_str());
}

void NetFD::close() {
  // Our own reference first, so that a call ending meanwhile cannot destroy
  // the fd before poll_unblock (Go's increfAndClose).
  std::uint64_t s = state_.load();
  do {
    if (s & kClosed) throw std::system_error(make_error_code(error::closed), describe("close"));
  } while (!state_.compare_exchange_weak(s, (s | kClosed) + 1));
  rt::poll_unblock(pd_);
  decref();
}

void NetFD::throw_poll(int err, const char* op) const {
  if (err == rt::kPollErrTimeout) throw std::system_error(std::make_error_code(std::errc::timed_out), describe(op));
  throw std::system_error(make_error_code(error::closed), describe(op));
}

// A read that returned less than it asked for drained the socket of data.
// Unless an edge has come since (rg is pdReady: poll_wait returns at once),
// the next read would only say EAGAIN: a goroutine parks first and reads
// after. In a request/response exchange that is one system call in three
// saved. Why no edge is lost: edges are recorded from the reset before that
// short read on, and data that came during it costs at worst one read that
// finds nothing. But a hang-up (or an error) that came before the reset is
// not consumed by reading data; its edge was harvested and erased by the
// reset, and the next read is the one that reports it: so never after the
// netpoller has seen one (poll_hup, set before its wake-up, read after our
// reset: seq_cst both).
std::size_t NetFD::read(void* buf, std::size_t n) {
  if (n == 0) return 0;
  Op op(*this, rt::kModeRead, "read");
  if (op.parks() && rdrained_ && !rt::poll_hup(pd_)) op.wait("read");
  else op.reset("read");
  for (;;) {
    ssize_t r = ::read(fd_, buf, n);
    rdrained_ = r > 0 && static_cast<std::size_t>(r) < n;
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      op.wait("read");
      continue;
    }
    throw_errno(errno, describe("read"));
  }
}

void NetFD::write(const void* buf, std::size_t n) {
  if (n == 0) return;
  Op op(*this, rt::kModeWrite, "write");
  op.reset("write");
  auto* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    // MSG_NOSIGNAL: a peer that has gone gives EPIPE, not SIGPIPE.
    ssize_t r = ::send(fd_, p + done, n - done, MSG_NOSIGNAL);
    if (r >= 0) {
      done += static_cast<std::size_t>(r);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      op.wait("write");
      continue;
    }
    throw_errno(errno, describe("write"));
  }
}

int NetFD::accept() {
  Op op(*this, rt::kModeRead, "accept");
  op.reset("accept");
  for (;;) {
    int nfd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (nfd >= 0) return nfd;
    switch (errno) {
      case EINTR:
      case ECONNABORTED:  // the peer gave up before we accepted: take the next (as Go does)
        continue;
      case EAGAIN:
        op.wait("accept");
        continue;
      default:
        throw_errno(errno, describe("accept"));
    }
  }
}

void NetFD::finish_connect(const std::string& what) {
  // The socket was registered before connect(2), and registering reports
  // its state at once (writable and hung up, for one not yet connected):
  // so a wake-up proves nothing, and SO_ERROR == 0 alone does not either
  // (still connecting). Connected is when getpeername works (Go: issue 7474).
  Op op(*this, rt::kModeWrite, "dial");  // no reset: see above
  for (;;) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0 && err != EINPROGRESS && err != EALREADY && err != EINTR) throw_errno(err, what);
    if (err == 0) {
      sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &sl) == 0) return;
      if (errno != ENOTCONN) throw_errno(errno, what);
    }
    op.wait("dial");
  }
}

void NetFD::set_deadline(std::int64_t ns, int mode) {
  incref("set deadline");
  rt::poll_set_deadline(pd_, ns, mode);
  decref();
}

}  // namespace gort::net::detail
