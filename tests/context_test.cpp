// The context switch carries what the ABI says a call preserves, and more:
// the floating-point control state (MXCSR and the x87 control word) and the
// C++ exception state move with the goroutine, not with the thread. Each test
// makes goroutines disagree about that state and switches them many times
// over several Ms; a leak from one goroutine to another fails it.
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <array>
#include <atomic>
#include <cfenv>
#include <cstdint>
#include <memory>
#include <exception>
#include <stdexcept>
#include <string>

namespace {

constexpr int kSwitches = 2000;

unsigned read_mxcsr() {
  unsigned v;
  asm volatile("stmxcsr %0" : "=m"(v));
  return v;
}

}  // namespace

// fesetround changes both the SSE (MXCSR) and the x87 rounding mode.
TEST(Context, RoundingModeIsPerGoroutine) {
  const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
  std::atomic<int> bad{0};
  gort::WaitGroup wg;
  for (int g = 0; g < 16; ++g) {
    wg.add(1);
    gort::go([&, mode = modes[g % 4]] {
      std::fesetround(mode);
      const unsigned mine = read_mxcsr();
      for (int i = 0; i < kSwitches; ++i) {
        gort::gosched();
        if (std::fegetround() != mode || read_mxcsr() != mine) bad.fetch_add(1);
        // x87 too: long double arithmetic uses the x87 control word.
        volatile long double one = 1.0L, three = 3.0L;
        long double q = one / three;
        volatile long double back = q * three;
        (void)back;
      }
      std::fesetround(FE_TONEAREST);
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(std::fegetround(), FE_TONEAREST) << "a goroutine's rounding mode leaked into main";
}

// A goroutine parks inside a catch block while others throw and catch on the
// same threads; afterwards its `throw;` still rethrows its own exception and
// the uncaught-exception count is its own.
TEST(Context, ExceptionStateIsPerGoroutine) {
  std::atomic<int> bad{0};
  gort::WaitGroup wg;
  for (int g = 0; g < 16; ++g) {
    wg.add(1);
    gort::go([&, g] {
      for (int i = 0; i < 200; ++i) {
        try {
          try {
            throw std::runtime_error("g" + std::to_string(g));
          } catch (const std::runtime_error&) {
            gort::gosched();  // others throw and catch meanwhile, maybe on this thread
            if (std::current_exception() == nullptr) bad.fetch_add(1);
            throw;
          }
        } catch (const std::runtime_error& e) {
          if (e.what() != "g" + std::to_string(g)) bad.fetch_add(1);
        }
        if (std::uncaught_exceptions() != 0 || std::current_exception() != nullptr) bad.fetch_add(1);
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(bad.load(), 0);
}

// Callee-saved registers survive a switch: a loop that keeps many live
// values across gosched (the compiler puts them in rbx, rbp, r12-r15).
TEST(Context, CalleeSavedValuesSurviveSwitches) {
  std::atomic<int> bad{0};
  gort::WaitGroup wg;
  for (int g = 0; g < 8; ++g) {
    wg.add(1);
    gort::go([&, g] {
      std::uint64_t a = g, b = g * 3 + 1, c = g * 7 + 2, d = g * 11 + 3, e = g * 13 + 4, f = g * 17 + 5;
      for (int i = 0; i < kSwitches; ++i) {
        a += 1; b += 2; c += 3; d += 4; e += 5; f += 6;
        gort::gosched();
      }
      std::uint64_t n = kSwitches;
      if (a != g + n || b != g * 3 + 1 + 2 * n || c != g * 7 + 2 + 3 * n || d != g * 11 + 3 + 4 * n ||
          e != g * 13 + 4 + 5 * n || f != g * 17 + 5 + 6 * n)
        bad.fetch_add(1);
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(bad.load(), 0);
}

// Move-only callables (and large ones, stored on the heap) work with go().
TEST(Context, MoveOnlyAndLargeCallables) {
  gort::WaitGroup wg;
  auto p = std::make_unique<int>(41);
  int seen = 0;
  wg.add(2);
  gort::go([&, p = std::move(p)]() mutable {
    seen += ++*p;
    wg.done();
  });
  std::array<long, 64> big{};
  big[63] = 1;
  gort::go([&, big] {
    seen += static_cast<int>(big[63]);
    wg.done();
  });
  wg.wait();
  EXPECT_EQ(seen, 43);
}
