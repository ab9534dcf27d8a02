// Unbounded recursion for the stack-overflow tests: preempt_probe (built
// with yield points: the check at each entry catches it) and gort_probe
// (without: the guard page does). A header, not a library, so that each
// program compiles it with its own flags. (Not in gort_test: tracebacks
// hide frames whose names start with "gort_", as the runtime's.)
#pragma once

namespace probe {

// Each frame keeps a buffer alive so the stack is used up in a few hundred
// calls. (recurse_depth is never reached: it only keeps the compiler from
// calling the recursion infinite, which it is.)
inline volatile long recurse_depth = 1L << 40;
__attribute__((noinline)) inline long recurse(long n) {
  volatile char buf[512];
  buf[0] = static_cast<char>(n);
  if (n == recurse_depth) return 0;
  return recurse(n + 1) + buf[0];
}

}  // namespace probe
