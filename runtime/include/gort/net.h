// gort::net: sockets whose waits park the goroutine, not the thread (Go's
// net package on the runtime's netpoller).
//
//   auto ln = gort::net::listen("tcp", "127.0.0.1:0");
//   gort::go([ln]() mutable {
//     for (;;) {
//       gort::net::Conn c = ln.accept();
//       gort::go([c]() mutable {
//         char buf[4096];
//         while (std::size_t n = c.read(buf, sizeof buf)) c.write(buf, n);
//       });
//     }
//   });
//   gort::net::Conn c = gort::net::dial("tcp", ln.addr());
//
// A read, write, accept or connect that would block parks the calling
// goroutine (wait reason "IO wait") until the socket is ready; the thread
// runs other goroutines meanwhile. Called from a thread that is not a
// goroutine (or inside gort::syscall), the same calls block that thread in
// poll(2) instead, with the same deadlines and close semantics.
//
// Handles: Conn and Listener are shared handles: copies name the same
// socket, == compares identity, a default-constructed one is empty (every
// call on it throws std::errc::bad_file_descriptor). The socket is closed by
// close() or when the last handle goes.
//
// Errors are std::system_error. Its code() is the errno as std::errc
// (connection_refused, connection_reset, broken_pipe, address_in_use, ...)
// and what() reads like Go's ("dial tcp 127.0.0.1:1: connect: Connection
// refused"), with two of gort's own codes (gort::net::error):
//   - error::closed: the socket was closed, also by another goroutine while
//     this one waited in read, write or accept (Go's ErrNetClosing, "use of
//     closed network connection");
//   - error::no_such_host: a host name did not resolve.
// An expired deadline gives std::errc::timed_out. No call ever reports
// EINTR (gort itself sends SIGURG to preempt), and writing to a socket the
// peer has closed gives broken_pipe, never SIGPIPE.
//
// One reader and one writer at a time: concurrent reads of one Conn (or
// writes) are serialised, as Go serialises them.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <gort/time.h>

namespace gort::net {

enum class error {
  closed = 1,        // use of closed network connection
  no_such_host = 2,  // a host name did not resolve
};
const std::error_category& net_category() noexcept;
inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), net_category()}; }

namespace detail {
class NetFD;
}

class Conn {
 public:
  Conn() = default;
  // Reads up to n bytes; returns how many, 0 at end of stream (or for n == 0).
  std::size_t read(void* buf, std::size_t n);
  // Writes all n bytes (parking while the socket buffer is full).
  void write(const void* buf, std::size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Closes the socket; a goroutine waiting in read or write wakes with
  // error::closed. A second close throws error::closed, as Go returns it.
  void close();
  // Deadlines, as Go's: a wait still in progress at t ends with
  // std::errc::timed_out, and so does every call after t until the deadline
  // is moved. A default time_point{} means no deadline.
  void set_deadline(time_point t);
  void set_read_deadline(time_point t);
  void set_write_deadline(time_point t);
  std::string local_addr() const;   // "127.0.0.1:40000", "[::1]:8080", a Unix socket's path
  std::string remote_addr() const;  // the peer's ("" for an unnamed Unix socket)
  int fd() const;                   // the socket, non-blocking; -1 if empty or closed
  explicit operator bool() const { return fd_ != nullptr; }
  friend bool operator==(const Conn& a, const Conn& b) { return a.fd_ == b.fd_; }

 private:
  friend class Listener;
  friend Conn dial(std::string_view, std::string_view);
  explicit Conn(std::shared_ptr<detail::NetFD> fd) : fd_(std::move(fd)) {}
  detail::NetFD& get() const;
  std::shared_ptr<detail::NetFD> fd_;
};

class Listener {
 public:
  Listener() = default;
  // Waits for the next connection.
  Conn accept();
  // The bound address: the real port for ":0", the path of a Unix socket.
  std::string addr() const;
  // Stops listening (a Unix socket's file is removed); a goroutine waiting
  // in accept wakes with error::closed.
  void close();
  int fd() const;
  explicit operator bool() const { return fd_ != nullptr; }
  friend bool operator==(const Listener& a, const Listener& b) { return a.fd_ == b.fd_; }

 private:
  friend Listener listen(std::string_view, std::string_view);
  explicit Listener(std::shared_ptr<detail::NetFD> fd) : fd_(std::move(fd)) {}
  detail::NetFD& get() const;
  std::shared_ptr<detail::NetFD> fd_;
};

// network: "tcp" (IPv4 or IPv6), "tcp4", "tcp6", or "unix". A TCP address
// is "host:port" ("127.0.0.1:8080", "[::1]:8080", "localhost:http"); an
// empty host listens on every address (":8080", IPv6 and IPv4 on one
// socket where possible) and dials the local system. A Unix address is a
// path ("@name": Linux's abstract namespace).
Listener listen(std::string_view network, std::string_view address);
Conn dial(std::string_view network, std::string_view address);

// For file descriptors the program owns (a pipe, an eventfd, a database
// client's socket; set O_NONBLOCK): park until fd is readable (or at its
// end, or in error) or writable. The first wait registers fd with the
// netpoller; it stays registered until the fd is closed. Returns at once
// for a regular file (always ready). With a deadline, throws
// std::errc::timed_out when it passes. Close the fd only when no goroutine
// waits on it.
void wait_readable(int fd);
void wait_readable(int fd, time_point deadline);
void wait_writable(int fd);
void wait_writable(int fd, time_point deadline);

}  // namespace gort::net

template <>
struct std::is_error_code_enum<gort::net::error> : std::true_type {};
