// What the suites that record real traces check of every one
// (trace_record_test, trace_live_test).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reader.h"
#include "validate.h"

namespace trace_testing {

// Complete, nothing lost, every event recorded read back, and the
// scheduler's invariants hold (gort trace --check).
inline void expect_complete_and_valid(const gort::trace::Trace& t) {
  EXPECT_TRUE(t.complete);
  EXPECT_EQ(t.lost, 0u);
  EXPECT_EQ(t.recorded, t.events.size());
  std::vector<std::string> v = gort::trace::validate(t);
  EXPECT_TRUE(v.empty()) << v.size() << " violations, the first: " << v.front();
}

}  // namespace trace_testing
