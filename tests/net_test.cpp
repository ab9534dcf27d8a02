// gort::net: TCP and Unix sockets whose waits park goroutines (loopback only).
#include <gort/gort.h>
#include <gort/net.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gstatus_util.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using gort::net::Conn;
using gort::net::Listener;

// Accepts connections and echoes every byte back until the peer closes.
// Returns when the listener is closed.
void serve_echo(Listener ln, gort::WaitGroup* done = nullptr) {
  for (;;) {
    Conn c;
    try {
      c = ln.accept();
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), gort::net::error::closed) << e.what();
      break;
    }
    gort::go([c]() mutable {
      char buf[4096];
      try {
        while (std::size_t n = c.read(buf, sizeof buf)) c.write(buf, n);
      } catch (const std::system_error&) {
        // the client reset the connection: fine for an echo server
      }
      c.close();
    });
  }
  if (done) done->done();
}

void read_full(Conn& c, char* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    std::size_t r = c.read(buf + got, n - got);
    ASSERT_NE(r, 0u) << "unexpected end of stream after " << got << " of " << n << " bytes";
    got += r;
  }
}

// The server side of one connection on ln that says nothing until
// released; then it writes `last` (if any) and closes. release() returns
// once it has.
class SilentPeer {
 public:
  explicit SilentPeer(Listener ln) {
    done_.add(1);
    gort::go([this, ln]() mutable {
      Conn s = ln.accept();
      std::string last = release_.recv().value_or("");
      if (!last.empty()) s.write(last);
      s.close();
      done_.done();
    });
  }
  void release(std::string last = "") {
    release_.send(std::move(last));
    done_.wait();
  }

 private:
  gort::Chan<std::string> release_ = gort::make_chan<std::string>();
  gort::WaitGroup done_;
};

template <class F>
std::optional<std::system_error> error_of(F&& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e;
  }
  return std::nullopt;
}

TEST(Net, HundredsOfEchoConnectionsOnOneP) {
  gort_test::ScopedGomaxprocs one(1);
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  gort::WaitGroup server;
  server.add(1);
  gort::go([ln, &server] { serve_echo(ln, &server); });

  constexpr int kConns = 300;
  constexpr int kRounds = 20;
  std::atomic<int> ok{0};
  gort::WaitGroup clients;
  for (int i = 0; i < kConns; ++i) {
    clients.add(1);
    gort::go([&, i] {
      Conn c = gort::net::dial("tcp", ln.addr());
      bool good = true;
      for (int r = 0; r < kRounds && good; ++r) {
        // Each message different and of a different length: order and content both checked.
        std::string msg = std::to_string(i) + ":" + std::to_string(r) + ":" + std::string(1 + (i * 7 + r * 13) % 200, 'a' + (i + r) % 26);
        c.write(msg);
        std::string back(msg.size(), '\0');
        read_full(c, back.data(), back.size());
        good = back == msg;
      }
      c.close();
      if (good) ok++;
      clients.done();
    });
  }
  clients.wait();
  EXPECT_EQ(ok.load(), kConns);
  ln.close();
  server.wait();
}

TEST(Net, LargeTransferBothWays) {
  // More than the socket buffers hold: writers park on a full buffer.
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  gort::go([ln] { serve_echo(ln); });
  Conn c = gort::net::dial("tcp", ln.addr());
  constexpr std::size_t kSize = 8 << 20;
  std::vector<char> out(kSize), in(kSize);
  for (std::size_t i = 0; i < kSize; ++i) out[i] = static_cast<char>(i * 131 + (i >> 12));
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    c.write(out.data(), out.size());
    wg.done();
  });
  read_full(c, in.data(), in.size());
  wg.wait();
  EXPECT_TRUE(in == out);
  c.close();
  ln.close();
}

TEST(Net, EndOfStream) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  gort::go([ln]() mutable {
    Conn c = ln.accept();
    c.write("bye");
    c.close();
  });
  Conn c = gort::net::dial("tcp", ln.addr());
  char buf[16];
  std::string got;
  while (std::size_t n = c.read(buf, sizeof buf)) got.append(buf, n);
  EXPECT_EQ(got, "bye");
  EXPECT_EQ(c.read(buf, sizeof buf), 0u);  // and again: still the end
  c.close();
  ln.close();
}

TEST(Net, Addresses) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  std::string a = ln.addr();
  ASSERT_EQ(a.rfind("127.0.0.1:", 0), 0u) << a;
  EXPECT_NE(a, "127.0.0.1:0");  // the real port
  gort::go([ln]() mutable {
    Conn s = ln.accept();
    s.write("x");
    char b;
    s.read(&b, 1);
  });
  Conn c = gort::net::dial("tcp", a);
  EXPECT_EQ(c.remote_addr(), a);
  EXPECT_EQ(c.local_addr().rfind("127.0.0.1:", 0), 0u);
  EXPECT_GE(c.fd(), 0);
  char b;
  c.read(&b, 1);
  c.write("y");
  c.close();
  EXPECT_EQ(c.fd(), -1);
  ln.close();

  // Every address of the machine, IPv6 and IPv4 on one socket.
  Listener any = gort::net::listen("tcp", ":0");
  std::string port = any.addr().substr(any.addr().rfind(':') + 1);
  EXPECT_TRUE(any.addr() == "[::]:" + port || any.addr() == "0.0.0.0:" + port) << any.addr();
  gort::go([any]() mutable {
    Conn s = any.accept();
    s.close();
  });
  Conn c4 = gort::net::dial("tcp", "127.0.0.1:" + port);
  EXPECT_EQ(c4.read(&b, 1), 0u);
  any.close();
}

TEST(Net, IPv6Loopback) {
  Listener ln;
  try {
    ln = gort::net::listen("tcp6", "[::1]:0");
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  EXPECT_EQ(ln.addr().rfind("[::1]:", 0), 0u) << ln.addr();
  gort::go([ln] { serve_echo(ln); });
  Conn c = gort::net::dial("tcp", ln.addr());
  c.write("six");
  char buf[3];
  read_full(c, buf, 3);
  EXPECT_EQ(std::string(buf, 3), "six");
  c.close();
  ln.close();
}

TEST(Net, ConnectionRefused) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  std::string a = ln.addr();
  ln.close();
  auto e = error_of([&] { gort::net::dial("tcp", a); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), std::errc::connection_refused) << e->what();
  EXPECT_EQ(std::string(e->what()).rfind("dial tcp " + a + ": connect", 0), 0u) << e->what();
}

TEST(Net, BadAddressesAndNetworks) {
  auto msg = [](auto f) {
    auto e = error_of(f);
    return e ? std::string(e->what()) : std::string("no error");
  };
  EXPECT_NE(msg([] { gort::net::dial("udp", "127.0.0.1:1"); }).find("unknown network udp"), std::string::npos);
  EXPECT_NE(msg([] { gort::net::listen("tcp", "127.0.0.1"); }).find("missing port in address"), std::string::npos);
  EXPECT_NE(msg([] { gort::net::listen("tcp", "::1:80"); }).find("too many colons in address"), std::string::npos);
  EXPECT_NE(msg([] { gort::net::listen("tcp", "127.0.0.1:99999"); }).find("invalid port"), std::string::npos);
  auto e = error_of([] { gort::net::dial("tcp", "no-such-host.invalid:80"); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), gort::net::error::no_such_host) << e->what();

  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  auto busy = error_of([&] { gort::net::listen("tcp", ln.addr()); });
  ASSERT_TRUE(busy.has_value());
  EXPECT_EQ(busy->code(), std::errc::address_in_use) << busy->what();
  ln.close();

  Conn empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.fd(), -1);
  auto ebadf = error_of([&] { empty.write("x"); });
  ASSERT_TRUE(ebadf.has_value());
  EXPECT_EQ(ebadf->code(), std::errc::bad_file_descriptor);
}

TEST(Net, ReadDeadline) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  SilentPeer peer(ln);
  Conn c = gort::net::dial("tcp", ln.addr());
  char buf[8];
  for (auto d : {1ms, 20ms}) {
    auto deadline = gort::clock::now() + d;
    c.set_read_deadline(deadline);
    auto e = error_of([&] { c.read(buf, sizeof buf); });
    auto woke = gort::clock::now();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), std::errc::timed_out) << e->what();
    EXPECT_GE(woke, deadline);            // never early
    EXPECT_LT(woke, deadline + 2s);       // and not hung (a hang detector, not a latency bound)
    // Still expired: a read now fails at once, until the deadline moves.
    auto again = error_of([&] { c.read(buf, sizeof buf); });
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->code(), std::errc::timed_out);
  }
  // A deadline in the past; then none: the read waits for the data.
  c.set_read_deadline(gort::clock::now() - 1s);
  EXPECT_TRUE(error_of([&] { c.read(buf, sizeof buf); }).has_value());
  c.set_read_deadline({});
  peer.release("late");
  read_full(c, buf, 4);
  EXPECT_EQ(std::string(buf, 4), "late");
  c.close();
  ln.close();
}

TEST(Net, DeadlineMovedWhileWaiting) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  SilentPeer peer(ln);
  Conn c = gort::net::dial("tcp", ln.addr());
  c.set_read_deadline(gort::clock::now() + 1h);
  auto started = gort::make_chan<int>(1);
  std::optional<std::system_error> e;
  std::atomic<std::int64_t> reader{0};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    reader = gort::goid();
    started.send(1);
    char b;
    e = error_of([&] { c.read(&b, 1); });
    wg.done();
  });
  started.recv();
  gort_test::await_wait_reason(reader, "IO wait");
  auto deadline = gort::clock::now() + 5ms;
  c.set_read_deadline(deadline);  // earlier: the waiting reader wakes then
  wg.wait();
  EXPECT_GE(gort::clock::now(), deadline);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), std::errc::timed_out);
  peer.release();
  c.close();
  ln.close();
}

TEST(Net, WriteDeadline) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  SilentPeer peer(ln);  // never reads: the client's buffers fill up
  Conn c = gort::net::dial("tcp", ln.addr());
  auto deadline = gort::clock::now() + 20ms;
  c.set_write_deadline(deadline);
  std::vector<char> chunk(1 << 20, 'w');
  auto e = error_of([&] {
    for (;;) c.write(chunk.data(), chunk.size());
  });
  EXPECT_GE(gort::clock::now(), deadline);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), std::errc::timed_out) << e->what();
  peer.release();
  c.close();
  ln.close();
}

TEST(Net, CloseWakesBlockedReaderAndAccept) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  std::optional<std::system_error> accept_err, read_err;
  gort::WaitGroup wg;
  wg.add(2);
  Conn server_side;
  auto accepted = gort::make_chan<int>(1);
  std::atomic<std::int64_t> acceptor{0}, reader{0};
  gort::go([&] {
    acceptor = gort::goid();
    server_side = ln.accept();
    accepted.send(1);
    accept_err = error_of([&] { ln.accept(); });  // nobody else dials: waits until closed
    wg.done();
  });
  Conn c = gort::net::dial("tcp", ln.addr());
  accepted.recv();
  gort::go([&] {
    reader = gort::goid();
    char b;
    read_err = error_of([&] { c.read(&b, 1); });  // the server never writes: waits until closed
    wg.done();
  });
  // Both park in the netpoller ("IO wait"); then close.
  gort_test::await_wait_reason(acceptor, "IO wait");
  gort_test::await_wait_reason(reader, "IO wait");
  c.close();
  ln.close();
  wg.wait();
  ASSERT_TRUE(accept_err.has_value());
  ASSERT_TRUE(read_err.has_value());
  EXPECT_EQ(accept_err->code(), gort::net::error::closed) << accept_err->what();
  EXPECT_EQ(read_err->code(), gort::net::error::closed) << read_err->what();
  EXPECT_NE(std::string(read_err->what()).find("use of closed network connection"), std::string::npos);
  // Closed twice: an error, as in Go.
  auto twice = error_of([&] { c.close(); });
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(twice->code(), gort::net::error::closed);
  server_side.close();
}

TEST(Net, PeerResetWhileWritingIsAnErrorNotSigpipe) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  auto dialled = gort::make_chan<int>(1);
  auto reset = gort::make_chan<int>(1);
  gort::go([ln, dialled, reset]() mutable {
    Conn s = ln.accept();
    // Not before dial has returned: a reset that comes while dial still
    // checks the connection fails the dial itself (as it does in Go).
    dialled.recv();
    linger l{1, 0};  // close with RST
    setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    s.close();
    reset.send(1);
  });
  Conn c = gort::net::dial("tcp", ln.addr());
  dialled.send(1);
  reset.recv();
  std::vector<char> chunk(64 << 10, 'r');
  auto e = error_of([&] {
    for (int i = 0; i < 1000; ++i) c.write(chunk.data(), chunk.size());
  });
  ASSERT_TRUE(e.has_value()) << "writes to a reset connection kept succeeding";
  EXPECT_TRUE(e->code() == std::errc::connection_reset || e->code() == std::errc::broken_pipe) << e->what();
  c.close();
  ln.close();
}

TEST(Net, UnixSockets) {
  char dir[] = "/tmp/gort-net-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/echo.sock";
  Listener ln = gort::net::listen("unix", path);
  EXPECT_EQ(ln.addr(), path);
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
  gort::WaitGroup server;
  server.add(1);
  gort::go([ln, &server] { serve_echo(ln, &server); });
  gort::WaitGroup wg;
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i) {
    wg.add(1);
    gort::go([&, i] {
      Conn c = gort::net::dial("unix", path);
      std::string msg = "unix " + std::to_string(i);
      c.write(msg);
      std::string back(msg.size(), '\0');
      read_full(c, back.data(), back.size());
      if (back == msg) ok++;
      c.close();
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(ok.load(), 20);
  ln.close();
  server.wait();
  EXPECT_NE(access(path.c_str(), F_OK), 0);  // the listener removed its file
  rmdir(dir);

  // The abstract namespace: no file at all.
  std::string name = "@gort-net-test-" + std::to_string(getpid());
  Listener abs = gort::net::listen("unix", name);
  EXPECT_EQ(abs.addr(), name);
  gort::go([abs] { serve_echo(abs); });
  Conn c = gort::net::dial("unix", name);
  c.write("abs");
  char buf[3];
  read_full(c, buf, 3);
  EXPECT_EQ(std::string(buf, 3), "abs");
  c.close();
  abs.close();
}

TEST(Net, HandlesShareTheSocket) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  Listener copy = ln;
  EXPECT_TRUE(copy == ln);
  EXPECT_FALSE(Listener() == ln);
  gort::go([copy] { serve_echo(copy); });
  Conn a = gort::net::dial("tcp", ln.addr());
  Conn b = a;
  b.write("via b");
  char buf[5];
  read_full(a, buf, 5);
  EXPECT_EQ(std::string(buf, 5), "via b");
  a.close();
  EXPECT_EQ(b.fd(), -1);  // closed through the other handle
  ln.close();
}

TEST(Net, ConnectionDroppedWithItsLastHandle) {
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  {
    Conn c = gort::net::dial("tcp", ln.addr());
    (void)c;
  }  // the last handle goes: the socket closes, the peer reads the end
  Conn s = ln.accept();
  char b;
  EXPECT_EQ(s.read(&b, 1), 0u);
  s.close();
  ln.close();
}

TEST(Net, ConcurrentReadersAreSerialised) {
  // Two goroutines read one Conn: each waits its turn (never a "double wait").
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  auto go_on = gort::make_chan<int>();
  gort::go([ln, go_on]() mutable {
    Conn s = ln.accept();
    go_on.recv();
    s.write("ab");
    go_on.recv();
    s.close();
  });
  Conn c = gort::net::dial("tcp", ln.addr());
  std::atomic<int> bytes{0};
  gort::WaitGroup wg;
  for (int i = 0; i < 2; ++i) {
    wg.add(1);
    gort::go([&] {
      char b;
      while (c.read(&b, 1) == 1) bytes++;
      wg.done();
    });
  }
  go_on.send(1);
  go_on.send(1);
  wg.wait();
  EXPECT_EQ(bytes.load(), 2);
  c.close();
  ln.close();
}

TEST(Net, ForeignThreadUsesTheSameConn) {
  // A thread gort did not make waits in poll(2), with the same semantics.
  Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  gort::go([ln] { serve_echo(ln); });
  std::string addr = ln.addr();
  std::string got;
  std::optional<std::system_error> deadline_err;
  std::thread t([&] {
    Conn c = gort::net::dial("tcp", addr);
    c.write("from a thread");
    got.resize(13);
    read_full(c, got.data(), got.size());
    c.set_read_deadline(gort::clock::now() + 5ms);
    char b;
    deadline_err = error_of([&] { c.read(&b, 1); });
    c.close();
  });
  // Wait without blocking the P (the echo server runs on it).
  auto done = gort::make_chan<int>(1);
  gort::go([&] {
    gort::syscall([&] { t.join(); });
    done.send(1);
  });
  done.recv();
  EXPECT_EQ(got, "from a thread");
  ASSERT_TRUE(deadline_err.has_value());
  EXPECT_EQ(deadline_err->code(), std::errc::timed_out);
  ln.close();
}

}  // namespace
