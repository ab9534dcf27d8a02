// A socket of gort::net (Go's internal/poll.FD + net.netFD): the fd, its
// PollDesc, and a reference count that makes close safe while other
// goroutines are inside read, write or accept.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "net/addr.h"
#include "runtime/netpoll.h"

namespace gort::net::detail {

class NetFD {
 public:
  // Takes a non-blocking socket and registers it with the netpoller
  // (throws, closing sysfd, if that fails).
  NetFD(int sysfd, Network net);
  ~NetFD();  // closes it if close() has not
  NetFD(const NetFD&) = delete;
  NetFD& operator=(const NetFD&) = delete;

  std::size_t read(void* buf, std::size_t n);
  void write(const void* buf, std::size_t n);
  int accept();  // a new non-blocking, close-on-exec socket
  // The socket is connecting (EINPROGRESS): waits, then reports its result.
  void finish_connect(const std::string& what);
  void close();
  void set_deadline(std::int64_t ns, int mode);  // ns 0: none
  int sysfd() const;  // -1 once closed

  Network net;
  std::string laddr, raddr;
  std::string unlink_path;  // a Unix listener's socket file, removed on close

  // "read tcp 127.0.0.1:1->127.0.0.1:2": the start of an error message.
  std::string describe(const char* op) const;

 private:
  friend class Op;
  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 63;
  void incref(const char* op);
  void decref();
  void destroy();
  [[noreturn]] void throw_poll(int err, const char* op) const;

  int fd_;
  rt::PollDesc* pd_;
  // kClosed | the number of calls in progress. The last one out after
  // close() (or close() itself) closes the fd, so that its number is never
  // reused under a call still using it.
  std::atomic<std::uint64_t> state_{0};
  // The last read came back short: the socket is empty but for what came
  // since (read()). Under the read lock; relaxed for threads without it.
  std::atomic<bool> rdrained_{false};
};

}  // namespace gort::net::detail
