// echo_load: a load client for echo servers (examples/echo, or any other):
// CONNS connections, each with one SIZE-byte message in flight at a time,
// for DURATION; prints requests per second and round-trip percentiles.
//
//   echo_load ADDR [-c CONNS] [-d SECONDS] [-s SIZE] [--json]
//   echo_load --self [...]   starts an echo server in this process first
//
// --json prints one line of JSON instead (rps, median_us, p99_us, max_us,
// conns: what bench/go/echo/client prints, for bench/compare_echo.sh).
//
// Every reply is checked byte for byte. Defaults: 100 connections, 1 s,
// 64 bytes. ADDR may be unix:/path.
#include <gort/gort.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string addr;
  bool self = false;
  bool json = false;
  int conns = 100;
  double seconds = 1.0;
  std::size_t size = 64;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "echo_load: %s\nusage: echo_load ADDR|--self [-c CONNS] [-d SECONDS] [-s SIZE] [--json]\n", why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](const char* name) {
      if (i + 1 >= argc) usage((std::string(name) + " needs a value").c_str());
      char* end;
      const char* v = argv[++i];
      double d = std::strtod(v, &end);
      if (*v == '\0' || *end != '\0' || d <= 0) usage((std::string("bad value for ") + name + ": " + v).c_str());
      return d;
    };
    if (a == "--self") o.self = true;
    else if (a == "--json") o.json = true;
    else if (a == "-c") o.conns = static_cast<int>(value("-c"));
    else if (a == "-d") o.seconds = value("-d");
    else if (a == "-s") o.size = static_cast<std::size_t>(value("-s"));
    else if (!a.empty() && a[0] != '-' && o.addr.empty()) o.addr = a;
    else usage(("unknown argument " + std::string(a)).c_str());
  }
  if (o.addr.empty() && !o.self) usage("no address");
  return o;
}

void echo_server(gort::net::Listener ln) {
  for (;;) {
    gort::net::Conn c;
    try {
      c = ln.accept();
    } catch (const std::system_error&) {
      return;
    }
    gort::go([c]() mutable {
      char buf[4096];
      try {
        while (std::size_t n = c.read(buf, sizeof buf)) c.write(buf, n);
      } catch (const std::system_error&) {
      }
    });
  }
}

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;  // µs
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  return gort::run([&o] {
    std::string network = "tcp", address = o.addr;
    if (address.rfind("unix:", 0) == 0) {
      network = "unix";
      address = address.substr(5);
    }
    if (o.self) {
      gort::net::Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
      address = ln.addr();
      gort::go([ln] { echo_server(ln); });
    }
    std::vector<std::vector<std::int64_t>> rtts(static_cast<std::size_t>(o.conns));
    std::vector<std::string> errors(static_cast<std::size_t>(o.conns));
    gort::WaitGroup wg;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    for (int i = 0; i < o.conns; ++i) {
      wg.add(1);
      gort::go([&, i] {
        auto& mine = rtts[static_cast<std::size_t>(i)];
        try {
          gort::net::Conn c = gort::net::dial(network, address);
          std::string msg(o.size, 'a' + i % 26), back(o.size, '\0');
          while (Clock::now() < end) {
            auto t0 = Clock::now();
            c.write(msg);
            for (std::size_t got = 0; got < back.size();) {
              std::size_t n = c.read(back.data() + got, back.size() - got);
              if (n == 0) throw std::runtime_error("the server closed the connection");
              got += n;
            }
            mine.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
            if (back != msg) throw std::runtime_error("the reply differs from the request");
          }
          c.close();
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(i)] = e.what();
        }
        wg.done();
      });
    }
    wg.wait();
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<std::int64_t> all;
    for (auto& v : rtts) all.insert(all.end(), v.begin(), v.end());
    int failed = 0;
    for (auto& e : errors)
      if (!e.empty() && failed++ == 0) std::fprintf(stderr, "echo_load: %s\n", e.c_str());
    double rps = static_cast<double>(all.size()) / secs;
    double med = percentile(all, 0.50), p99 = percentile(all, 0.99), mx = percentile(all, 1.0);
    if (o.json)
      std::printf("{\"conns\":%d,\"max_us\":%.3f,\"median_us\":%.3f,\"p99_us\":%.3f,\"rps\":%.3f}\n", o.conns, mx, med, p99, rps);
    else
      std::printf("%d connections, %zu-byte messages, %.2f s: %.0f requests/s, RTT median %.0f us, p99 %.0f us, max %.0f us\n",
                  o.conns, o.size, secs, rps, med, p99, mx);
    if (failed) std::printf("%d connection(s) failed\n", failed);
    return failed ? 1 : 0;
  });
}
