#include "net/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <system_error>

#include "gort/net.h"
#include "gort/syscall.h"

namespace gort::net::detail {

namespace {

[[noreturn]] void bad_address(const char* op, Network n, std::string_view address, const char* why) {
  throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                          std::string(op) + " " + network_name(n) + " " + std::string(address) + ": " + why);
}

// Go's SplitHostPort.
void split_host_port(std::string_view a, std::string_view* host, std::string_view* port, const char* op, Network n) {
  if (!a.empty() && a[0] == '[') {
    std::size_t end = a.find(']');
    if (end == std::string_view::npos) bad_address(op, n, a, "missing ']' in address");
    if (end + 1 == a.size()) bad_address(op, n, a, "missing port in address");
    if (a[end + 1] != ':') bad_address(op, n, a, "unexpected ']' in address");
    *host = a.substr(1, end - 1);
    *port = a.substr(end + 2);
    return;
  }
  std::size_t i = a.rfind(':');
  if (i == std::string_view::npos) bad_address(op, n, a, "missing port in address");
  *host = a.substr(0, i);
  if (host->find(':') != std::string_view::npos) bad_address(op, n, a, "too many colons in address");
  *port = a.substr(i + 1);
}

std::uint16_t parse_port(std::string_view port, const char* op, Network n, std::string_view a) {
  if (port.empty()) bad_address(op, n, a, "missing port in address");
  unsigned long v = 0;
  bool digits = true;
  for (char c : port) {
    if (c < '0' || c > '9') {
      digits = false;
      break;
    }
    v = v * 10 + static_cast<unsigned long>(c - '0');
    if (v > 65535) bad_address(op, n, a, "invalid port");
  }
  if (digits) return static_cast<std::uint16_t>(v);
  std::string name(port);
  servent se;
  servent* res = nullptr;
  char buf[1024];
  if (getservbyname_r(name.c_str(), "tcp", &se, buf, sizeof buf, &res) != 0 || res == nullptr)
    bad_address(op, n, a, "unknown port");
  return ntohs(static_cast<std::uint16_t>(res->s_port));
}

Endpoint ip4(in_addr addr, std::uint16_t port) {
  Endpoint e;
  auto* sin = reinterpret_cast<sockaddr_in*>(&e.ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr = addr;
  e.len = sizeof(sockaddr_in);
  return e;
}

Endpoint ip6(in6_addr addr, std::uint16_t port) {
  Endpoint e;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&e.ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_addr = addr;
  e.len = sizeof(sockaddr_in6);
  return e;
}

bool wants(Network n, int family) {
  return n == Network::tcp || (n == Network::tcp4 && family == AF_INET) || (n == Network::tcp6 && family == AF_INET6);
}

std::vector<Endpoint> resolve_tcp(Network n, std::string_view address, bool for_listen, const char* op) {
  std::string_view host, port_s;
  split_host_port(address, &host, &port_s, op, n);
  std::uint16_t port = parse_port(port_s, op, n, address);
  std::vector<Endpoint> out;
  if (host.empty()) {
    if (for_listen) {
      if (n != Network::tcp4) out.push_back(ip6(in6addr_any, port));
      if (n != Network::tcp6) out.push_back(ip4(in_addr{htonl(INADDR_ANY)}, port));
    } else {
      if (n != Network::tcp6) out.push_back(ip4(in_addr{htonl(INADDR_LOOPBACK)}, port));
      if (n != Network::tcp4) out.push_back(ip6(in6addr_loopback, port));
    }
    return out;
  }
  std::string h(host);
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) {
    if (n == Network::tcp6) bad_address(op, n, address, "no suitable address found");
    out.push_back(ip4(a4, port));
    return out;
  }
  if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
    if (n == Network::tcp4) bad_address(op, n, address, "no suitable address found");
    out.push_back(ip6(a6, port));
    return out;
  }
  // A name: the resolver may block (DNS), so its thread gives the P up.
  addrinfo hints{};
  hints.ai_family = n == Network::tcp4 ? AF_INET : n == Network::tcp6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = gort::syscall([&] { return getaddrinfo(h.c_str(), nullptr, &hints, &res); });
  if (rc != 0) {
    throw std::system_error(make_error_code(error::no_such_host),
                            std::string(op) + " " + network_name(n) + ": lookup " + h);
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (!wants(n, ai->ai_family)) continue;
    if (ai->ai_family == AF_INET) out.push_back(ip4(reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, port));
    if (ai->ai_family == AF_INET6) out.push_back(ip6(reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, port));
  }
  freeaddrinfo(res);
  if (out.empty())
    throw std::system_error(make_error_code(error::no_such_host), std::string(op) + " " + network_name(n) + ": lookup " + h);
  return out;
}

std::vector<Endpoint> resolve_unix(std::string_view path, const char* op) {
  Endpoint e;
  auto* sun = reinterpret_cast<sockaddr_un*>(&e.ss);
  sun->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sun->sun_path) bad_address(op, Network::unix_stream, path, "invalid Unix socket path");
  std::memcpy(sun->sun_path, path.data(), path.size());
  if (path[0] == '@') sun->sun_path[0] = '\0';  // the abstract namespace: the length counts, no terminator
  e.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  return {e};
}

}  // namespace

void throw_errno(int err, const std::string& what) {
  throw std::system_error(std::error_code(err, std::generic_category()), what);
}

Network parse_network(std::string_view network, const char* op) {
  if (network == "tcp") return Network::tcp;
  if (network == "tcp4") return Network::tcp4;
  if (network == "tcp6") return Network::tcp6;
  if (network == "unix") return Network::unix_stream;
  throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                          std::string(op) + " " + std::string(network) + ": unknown network " + std::string(network));
}

const char* network_name(Network n) {
  switch (n) {
    case Network::tcp: return "tcp";
    case Network::tcp4: return "tcp4";
    case Network::tcp6: return "tcp6";
    case Network::unix_stream: return "unix";
  }
  return "?";
}

std::vector<Endpoint> resolve(Network n, std::string_view address, bool for_listen, const char* op) {
  if (n == Network::unix_stream) return resolve_unix(address, op);
  return resolve_tcp(n, address, for_listen, op);
}

std::string format_addr(const sockaddr* sa, socklen_t len) {
  char buf[INET6_ADDRSTRLEN];
  switch (sa->sa_family) {
    case AF_INET: {
      auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
      inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
      return std::string(buf) + ":" + std::to_string(ntohs(sin->sin_port));
    }
    case AF_INET6: {
      auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
      if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
        inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(sin6->sin6_port));
      }
      inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
      return "[" + std::string(buf) + "]:" + std::to_string(ntohs(sin6->sin6_port));
    }
    case AF_UNIX: {
      auto* sun = reinterpret_cast<const sockaddr_un*>(sa);
      std::size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
      if (n == 0) return "";
      if (sun->sun_path[0] == '\0') return "@" + std::string(sun->sun_path + 1, n - 1);
      return std::string(sun->sun_path, strnlen(sun->sun_path, n));
    }
  }
  return "";
}

std::string sock_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  return format_addr(reinterpret_cast<sockaddr*>(&ss), len);
}

std::string peer_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  return format_addr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace gort::net::detail
