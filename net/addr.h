// Networks and addresses of gort::net: parsing "host:port" the way Go's
// net.SplitHostPort does, resolving, and printing sockaddrs back.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

namespace gort::net::detail {

enum class Network { tcp, tcp4, tcp6, unix_stream };

struct Endpoint {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

// op is "dial" or "listen", for messages ("dial foo: unknown network foo").
Network parse_network(std::string_view network, const char* op);
const char* network_name(Network n);  // "tcp", "unix" (what messages print)
// The addresses to try, in order. for_listen: an empty host means every
// address (IPv6 and IPv4 on one socket first for "tcp"), else the local
// system. A host name is looked up (getaddrinfo, as a gort::syscall).
std::vector<Endpoint> resolve(Network n, std::string_view address, bool for_listen, const char* op);
// "127.0.0.1:80", "[::1]:80" (an IPv4-mapped address prints as IPv4, as in
// Go), a Unix socket's path ("@name" for the abstract namespace, "" unnamed).
std::string format_addr(const sockaddr* sa, socklen_t len);
std::string sock_name(int fd);
std::string peer_name(int fd);

// throws std::system_error(errno, what).
[[noreturn]] void throw_errno(int err, const std::string& what);

}  // namespace gort::net::detail
