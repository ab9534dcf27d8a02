// gort::net's public calls: listen, dial, Conn, Listener, wait_readable.
#include "gort/net.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "gort/sync.h"
#include "net/fd.h"

namespace gort::net {

namespace {

class Category : public std::error_category {
 public:
  const char* name() const noexcept override { return "gort.net"; }
  std::string message(int c) const override {
    switch (static_cast<error>(c)) {
      case error::closed: return "use of closed network connection";
      case error::no_such_host: return "no such host";
    }
    return "unknown gort.net error";
  }
};

std::int64_t to_ns(time_point t) {
  if (t == time_point{}) return 0;
  std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns > 0 ? ns : 1;  // before the clock's start: already past
}

[[noreturn]] void throw_empty(const char* what) {
  throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor), std::string("gort::net: ") + what + " on an empty handle");
}

int new_socket(int family, const std::string& what) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) detail::throw_errno(errno, what);
  return fd;
}

// A connected socket (dialled or accepted): Go's options, and its addresses.
void connected(detail::NetFD& nfd, int fd) {
  if (nfd.net != detail::Network::unix_stream) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // Go's default: no Nagle delay
  }
  nfd.laddr = detail::sock_name(fd);
  nfd.raddr = detail::peer_name(fd);
}

std::shared_ptr<detail::NetFD> listen_one(detail::Network n, const detail::Endpoint& e, const std::string& what) {
  int fd = new_socket(e.family(), what + ": socket");
  auto nfd = std::make_shared<detail::NetFD>(fd, n);
  int one = 1;
  if (n != detail::Network::unix_stream) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (e.family() == AF_INET6) {
    // "tcp" listens for IPv4 too, on the same socket (Go's dual stack).
    int v6only = n == detail::Network::tcp6 ? 1 : 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (::bind(fd, e.sa(), e.len) != 0) detail::throw_errno(errno, what + ": bind");
  if (::listen(fd, SOMAXCONN) != 0) detail::throw_errno(errno, what + ": listen");
  if (n == detail::Network::unix_stream) {
    nfd->laddr = detail::format_addr(e.sa(), e.len);  // the path as given
    if (nfd->laddr[0] != '@') nfd->unlink_path = nfd->laddr;
  } else {
    nfd->laddr = detail::sock_name(fd);  // the real port for ":0"
  }
  return nfd;
}

std::shared_ptr<detail::NetFD> dial_one(detail::Network n, const detail::Endpoint& e, const std::string& what) {
  int fd = new_socket(e.family(), what + ": socket");
  auto nfd = std::make_shared<detail::NetFD>(fd, n);
  if (::connect(fd, e.sa(), e.len) != 0) {
    // EINTR: the connection goes on in the background, as with EINPROGRESS.
    if (errno != EINPROGRESS && errno != EINTR) detail::throw_errno(errno, what + ": connect");
    nfd->finish_connect(what + ": connect");
  }
  connected(*nfd, fd);
  return nfd;
}

void wait_user_fd(int fd, int mode, std::int64_t deadline) {
  const char* op = mode == rt::kModeRead ? "wait_readable" : "wait_writable";
  short events = static_cast<short>(mode == rt::kModeRead ? POLLIN | POLLRDHUP : POLLOUT);
  auto ready_now = [&] {
    pollfd p{fd, events, 0};
    int r;
    do r = ::poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0) detail::throw_errno(errno, std::string("gort::net::") + op);
    if (p.revents & POLLNVAL) detail::throw_errno(EBADF, std::string("gort::net::") + op);
    return r > 0;
  };
  if (ready_now()) return;
  rt::PollDesc* pd = rt::poll_user_fd(fd);
  if (pd == nullptr) {
    if (errno == EPERM) return;  // a regular file or a directory: always ready, as poll(2) says
    detail::throw_errno(errno, std::string("gort::net::") + op);
  }
  std::unique_lock<gort::Mutex> lock;
  if (rt::poll_can_park()) lock = std::unique_lock<gort::Mutex>(rt::poll_mutex(pd, mode));
  if (deadline != 0) rt::poll_set_deadline(pd, deadline, mode);
  struct ClearDeadline {
    rt::PollDesc* pd;
    int mode;
    bool on;
    ~ClearDeadline() {
      if (on) rt::poll_set_deadline(pd, 0, mode);
    }
  } clear{pd, mode, deadline != 0};
  // Readiness left from an earlier wait is stale: forget it, then look
  // once more (an edge after this point reaches the wait below).
  int err = rt::poll_reset(pd, mode);
  while (err == rt::kPollNoError) {
    if (ready_now()) return;
    err = rt::poll_wait(pd, mode);
  }
  throw std::system_error(std::make_error_code(std::errc::timed_out), std::string("gort::net::") + op);
}

}  // namespace

const std::error_category& net_category() noexcept {
  static const Category c;
  return c;
}

detail::NetFD& Conn::get() const {
  if (!fd_) throw_empty("Conn");
  return *fd_;
}
std::size_t Conn::read(void* buf, std::size_t n) { return get().read(buf, n); }
void Conn::write(const void* buf, std::size_t n) { get().write(buf, n); }
void Conn::close() { get().close(); }
void Conn::set_deadline(time_point t) { get().set_deadline(to_ns(t), rt::kModeReadWrite); }
void Conn::set_read_deadline(time_point t) { get().set_deadline(to_ns(t), rt::kModeRead); }
void Conn::set_write_deadline(time_point t) { get().set_deadline(to_ns(t), rt::kModeWrite); }
std::string Conn::local_addr() const { return get().laddr; }
std::string Conn::remote_addr() const { return get().raddr; }
int Conn::fd() const { return fd_ ? fd_->sysfd() : -1; }

detail::NetFD& Listener::get() const {
  if (!fd_) throw_empty("Listener");
  return *fd_;
}
Conn Listener::accept() {
  detail::NetFD& l = get();
  int nfd = l.accept();
  auto c = std::make_shared<detail::NetFD>(nfd, l.net);
  connected(*c, nfd);
  return Conn(std::move(c));
}
std::string Listener::addr() const { return get().laddr; }
void Listener::close() { get().close(); }
int Listener::fd() const { return fd_ ? fd_->sysfd() : -1; }

Listener listen(std::string_view network, std::string_view address) {
  detail::Network n = detail::parse_network(network, "listen");
  const std::string what = std::string("listen ") + detail::network_name(n) + " " + std::string(address);
  std::vector<detail::Endpoint> eps = detail::resolve(n, address, /*for_listen=*/true, "listen");
  for (std::size_t i = 0; i < eps.size(); ++i) {
    try {
      return Listener(listen_one(n, eps[i], what));
    } catch (const std::system_error& e) {
      // The IPv6 wildcard where the machine has no IPv6: the IPv4 one next.
      bool no_family = e.code() == std::errc::address_family_not_supported || e.code() == std::errc::address_not_available;
      if (i + 1 == eps.size() || !no_family) throw;
    }
  }
  throw std::system_error(std::make_error_code(std::errc::invalid_argument), what);
}

Conn dial(std::string_view network, std::string_view address) {
  detail::Network n = detail::parse_network(network, "dial");
  const std::string what = std::string("dial ") + detail::network_name(n) + " " + std::string(address);
  std::vector<detail::Endpoint> eps = detail::resolve(n, address, /*for_listen=*/false, "dial");
  // Each address in turn; the first error is the one reported (Go's dialSerial).
  std::exception_ptr first;
  for (const detail::Endpoint& e : eps) {
    try {
      return Conn(dial_one(n, e, what));
    } catch (const std::system_error&) {
      if (!first) first = std::current_exception();
    }
  }
  std::rethrow_exception(first);
}

void wait_readable(int fd) { wait_user_fd(fd, rt::kModeRead, 0); }
void wait_readable(int fd, time_point deadline) { wait_user_fd(fd, rt::kModeRead, to_ns(deadline)); }
void wait_writable(int fd) { wait_user_fd(fd, rt::kModeWrite, 0); }
void wait_writable(int fd, time_point deadline) { wait_user_fd(fd, rt::kModeWrite, to_ns(deadline)); }

}  // namespace gort::net
