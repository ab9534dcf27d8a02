// Target's non-virtual helpers and the default read_partial, built on
// read() alone so that a backend needs only read() to be complete.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "gort/inspect/error.h"
#include "gort/inspect/target.h"

namespace gort::inspect {

namespace {

// Memory is readable or not a page at a time in every target we know (a
// mapping, a core segment): the default read_partial probes page by page.
constexpr std::uint64_t kPage = 4096;

std::size_t to_page_end(std::uint64_t addr) { return static_cast<std::size_t>(kPage - (addr & (kPage - 1))); }

}  // namespace

std::size_t Target::read_partial(std::uint64_t addr, void* buf, std::size_t len) {
  if (len == 0) return 0;
  // Never past the top of the address space.
  if (addr + len < addr) len = static_cast<std::size_t>(0 - addr);
  auto* out = static_cast<unsigned char*>(buf);
  // The common case: all of it is there.
  try {
    read(addr, out, len);
    return len;
  } catch (const Error&) {
  }
  // Page by page up to the first page that fails...
  std::size_t done = 0;
  while (done < len) {
    const std::uint64_t a = addr + done;
    const std::size_t chunk = std::min(len - done, to_page_end(a));
    try {
      read(a, out + done, chunk);
      done += chunk;
      continue;
    } catch (const Error&) {
    }
    // ...and within that page, the longest readable prefix, by halving
    // (a backend may stop short of a page boundary). lo is readable, hi not.
    std::size_t lo = 0, hi = chunk;
    while (hi - lo > 1) {
      std::size_t mid = lo + (hi - lo) / 2;
      try {
        read(a, out + done, mid);
        lo = mid;
      } catch (const Error&) {
        hi = mid;
      }
    }
    // A failed attempt may have scribbled past lo: read the prefix again.
    if (lo > 0) {
      try {
        read(a, out + done, lo);
      } catch (const Error&) {
        lo = 0;  // the target changed under us: keep only what we had
      }
    }
    done += lo;
    break;
  }
  return done;
}

std::string Target::read_string(std::uint64_t addr, std::size_t max) {
  std::string s;
  char buf[256];
  while (s.size() < max) {
    const std::uint64_t a = addr + s.size();
    // Chunks end at page ends, so that the string's last page being the
    // last readable one costs no failed read.
    const std::size_t want = std::min({sizeof buf, max - s.size(), to_page_end(a)});
    const std::size_t n = read_partial(a, buf, want);
    if (const void* nul = std::memchr(buf, 0, n)) {
      s.append(buf, static_cast<const char*>(nul) - buf);
      return s;
    }
    s.append(buf, n);
    if (n < want) {
      // Nothing at all at addr is an error; a string that runs into
      // unreadable memory is returned as far as it goes.
      if (s.empty()) {
        char msg[96];
        std::snprintf(msg, sizeof msg, "cannot read a string at 0x%llx in ", static_cast<unsigned long long>(addr));
        throw Error(msg + describe());
      }
      break;
    }
  }
  return s;
}

}  // namespace gort::inspect
