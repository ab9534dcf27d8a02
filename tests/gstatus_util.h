// For INTERNAL suites: what a goroutine is doing, read from allgs.
#pragma once

#include <cstdint>
#include <string>

#include "runtime2.h"

namespace gort_test {

// The wait reason of goroutine goid as the dumps print it ("IO wait"), or
// "" if it is not parked.
inline std::string wait_reason_of(std::int64_t goid) {
  using namespace gort::rt;
  std::size_t n = allgs.len.load();
  G** gs = allgs.ptr.load();
  for (std::size_t i = 0; i < n; ++i)
    if (gs[i]->goid == goid && readgstatus(gs[i]) == Gwaiting) return waitreason_string(gs[i]->waitreason);
  return "";
}

// Yields until goroutine goid is parked with that wait reason.
inline void await_wait_reason(const std::atomic<std::int64_t>& goid, const std::string& reason) {
  while (goid.load() == 0 || wait_reason_of(goid.load()) != reason) gort::gosched();
}

}  // namespace gort_test
