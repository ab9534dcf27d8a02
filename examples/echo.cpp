// echo: a TCP (or Unix socket) echo server on gort::net, one goroutine per
// connection, as a Go programmer would write it.
//
//   echo [ADDR]          serve on ADDR (default 127.0.0.1:7007; "unix:/path"
//                        for a Unix socket); prints "listening ADDR"
//
// Each connection's goroutine reads and writes its bytes back until the
// peer closes. A read that finds no data parks the goroutine in the
// netpoller ("IO wait"): a thousand idle connections are a thousand parked
// goroutines, not a thousand threads. Drive it with echo_load.
#include <gort/gort.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace {

void serve(gort::net::Conn c) {
  char buf[4096];
  try {
    while (std::size_t n = c.read(buf, sizeof buf)) c.write(buf, n);
  } catch (const std::system_error&) {
    // the client reset the connection: it is gone either way
  }
  c.close();
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view arg = argc > 1 ? argv[1] : "127.0.0.1:7007";
  if (arg == "-h" || arg == "--help") {
    std::fprintf(stderr, "usage: echo [ADDR]   (ADDR: host:port, default 127.0.0.1:7007, or unix:/path)\n");
    return 2;
  }
  return gort::run([arg] {
    std::string_view network = "tcp", address = arg;
    if (arg.substr(0, 5) == "unix:") {
      network = "unix";
      address = arg.substr(5);
    }
    gort::net::Listener ln;
    try {
      ln = gort::net::listen(network, address);
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "echo: %s\n", e.what());
      return 1;
    }
    std::printf("listening %s\n", ln.addr().c_str());
    std::fflush(stdout);
    for (;;) {
      try {
        gort::go([c = ln.accept()] { serve(c); });
      } catch (const std::system_error& e) {
        // Out of file descriptors and the like: say so and go on, as Go's
        // http.Server does (after a pause, so as not to spin).
        std::fprintf(stderr, "echo: %s\n", e.what());
        gort::sleep_for(std::chrono::milliseconds(10));
      }
    }
    return 0;
  });
}
