// echo_epoll: a third load client for bench/compare_echo.sh, with no
// runtime of its own: one thread, one epoll set, CONNS connections with one
// SIZE-byte message in flight on each. The other two clients (Go's, gort's
// echo_load) are goroutine programs whose own scheduling and wake-ups cost
// about as much CPU per request as the server's; on a 2-CPU machine they
// set the pace for both servers. This one does a read and a write per
// request and, with --spin, never sleeps (epoll_wait with a zero timeout),
// so that no reply has to wake it: the servers' cost decides the rate.
//
//   echo_epoll ADDR [-c CONNS] [-d SECONDS] [-s SIZE] [--spin]
//
// Prints one line of JSON as the other clients do: requests per second,
// RTT median, p99 and max (µs), connections. A reply that differs from its
// request, or a connection the server closes, is an error (exit 1).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "echo_epoll: %s\n", what.c_str());
  std::exit(1);
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: echo_epoll HOST:PORT [-c CONNS] [-d SECONDS] [-s SIZE] [--spin]\n");
  std::exit(2);
}

sockaddr_in parse_addr(const std::string& a) {
  const auto colon = a.rfind(':');
  if (colon == std::string::npos) usage();
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::atoi(a.c_str() + colon + 1)));
  if (inet_pton(AF_INET, a.substr(0, colon).c_str(), &sa.sin_addr) != 1) die("not an IPv4 address: " + a);
  return sa;
}

struct Conn {
  int fd = -1;
  std::size_t got = 0;  // bytes of the reply read so far
  Clock::time_point sent;
  char msg = 'a';
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const sockaddr_in sa = parse_addr(argv[1]);
  int nconns = 100, size = 64;
  double seconds = 3;
  bool spin = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--spin") spin = true;
    else if (a == "-c" && i + 1 < argc) nconns = std::atoi(argv[++i]);
    else if (a == "-d" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "-s" && i + 1 < argc) size = std::atoi(argv[++i]);
    else usage();
  }
  if (nconns < 1 || size < 1 || seconds <= 0) usage();

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die(std::string("epoll_create1: ") + std::strerror(errno));
  std::vector<Conn> conns(static_cast<std::size_t>(nconns));
  std::vector<char> out(static_cast<std::size_t>(size)), in(static_cast<std::size_t>(size));
  for (int i = 0; i < nconns; ++i) {
    Conn& c = conns[static_cast<std::size_t>(i)];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || connect(c.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
      die(std::string("connect: ") + std::strerror(errno));
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.msg = static_cast<char>('a' + i % 26);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) die(std::string("epoll_ctl: ") + std::strerror(errno));
  }

  // A blocking socket is fine for the write: 64 bytes always fit in its
  // buffer, since only one message is ever in flight. Reads happen only
  // after epoll says there is something, so they do not block either.
  auto send = [&](Conn& c) {
    std::fill(out.begin(), out.end(), c.msg);
    c.got = 0;
    c.sent = Clock::now();
    if (write(c.fd, out.data(), out.size()) != static_cast<ssize_t>(out.size()))
      die(std::string("write: ") + std::strerror(errno));
  };

  std::vector<double> rtt;  // µs
  rtt.reserve(4'000'000);
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (Conn& c : conns) send(c);
  std::vector<epoll_event> evs(256);
  for (;;) {
    const auto now = Clock::now();
    if (now >= end) break;
    const int wait_ms = spin ? 0 : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(end - now).count());
    const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(std::string("epoll_wait: ") + std::strerror(errno));
    for (int k = 0; k < n; ++k) {
      Conn& c = conns[evs[static_cast<std::size_t>(k)].data.u32];
      const ssize_t r = read(c.fd, in.data() + c.got, in.size() - c.got);
      if (r == 0) die("the server closed a connection");
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        die(std::string("read: ") + std::strerror(errno));
      }
      c.got += static_cast<std::size_t>(r);
      if (c.got < in.size()) continue;
      const auto t = Clock::now();
      if (std::any_of(in.begin(), in.end(), [&](char x) { return x != c.msg; })) die("a reply differs from its request");
      rtt.push_back(std::chrono::duration<double, std::micro>(t - c.sent).count());
      send(c);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(rtt.begin(), rtt.end());
  auto pct = [&](double p) {
    if (rtt.empty()) return 0.0;
    std::size_t k = static_cast<std::size_t>(p * static_cast<double>(rtt.size()));
    return rtt[std::min(k, rtt.size() - 1)];
  };
  std::printf("{\"conns\":%d,\"max_us\":%.3f,\"median_us\":%.3f,\"p99_us\":%.3f,\"rps\":%.1f}\n", nconns, pct(1), pct(0.5),
              pct(0.99), static_cast<double>(rtt.size()) / secs);
  for (Conn& c : conns) close(c.fd);
  close(ep);
}
