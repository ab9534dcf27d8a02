// Asynchronous preemption keeps every register and the red zone: goroutines
// hold distinct values in all general registers, all YMM registers and the
// 128 bytes below rsp (the System V red zone, which a leaf may use without
// moving rsp) across a call-free loop, while they are preempted by signal
// thousands of times and other goroutines run on the same threads with
// their own values. Run with GORTDEBUG=timeslice=100us (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <gort/debug.h>
#include <gort/gort.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "child_process.h"
#include "test_util.h"

namespace {

// What hold_registers leaves: the general registers in the order rax, rbx,
// rcx, rdx, rsi, rdi, rbp, r8-r15; the 16 red-zone slots (8 bytes below rsp
// first); the four 64-bit lanes of ymm0-15.
struct Held {
  std::uint64_t gpr[15];
  std::uint64_t redzone[16];
  std::uint64_t ymm[16][4];
};
static_assert(sizeof(Held) == 248 + 16 * 32);

// A call-free loop of n iterations (n >= 1) with base+i in general register
// i, base+100+j in every lane of ymm j, and base+200+k in red-zone slot k
// (slot 8 is the loop counter, 0 at the end); then stores them all in *out.
__attribute__((noinline)) void hold_registers(std::uint64_t base, std::uint64_t n, Held* out) {
  asm volatile(
      "lea -256(%%rsp), %%rsp\n\t"  // below the compiler's own red zone
      "push %%rbp\n\t"
      "push %%rdx\n\t"  // out, at (%%rsp)
      "mov %%rsi, -72(%%rsp)\n\t"  // the loop counter: red-zone slot 8
      "lea 200(%%rdi), %%rax\n\t"
      "mov %%rax, -8(%%rsp)\n\t"
      "lea 201(%%rdi), %%rax\n\t"
      "mov %%rax, -16(%%rsp)\n\t"
      "lea 202(%%rdi), %%rax\n\t"
      "mov %%rax, -24(%%rsp)\n\t"
      "lea 203(%%rdi), %%rax\n\t"
      "mov %%rax, -32(%%rsp)\n\t"
      "lea 204(%%rdi), %%rax\n\t"
      "mov %%rax, -40(%%rsp)\n\t"
      "lea 205(%%rdi), %%rax\n\t"
      "mov %%rax, -48(%%rsp)\n\t"
      "lea 206(%%rdi), %%rax\n\t"
      "mov %%rax, -56(%%rsp)\n\t"
      "lea 207(%%rdi), %%rax\n\t"
      "mov %%rax, -64(%%rsp)\n\t"
      "lea 209(%%rdi), %%rax\n\t"
      "mov %%rax, -80(%%rsp)\n\t"
      "lea 210(%%rdi), %%rax\n\t"
      "mov %%rax, -88(%%rsp)\n\t"
      "lea 211(%%rdi), %%rax\n\t"
      "mov %%rax, -96(%%rsp)\n\t"
      "lea 212(%%rdi), %%rax\n\t"
      "mov %%rax, -104(%%rsp)\n\t"
      "lea 213(%%rdi), %%rax\n\t"
      "mov %%rax, -112(%%rsp)\n\t"
      "lea 214(%%rdi), %%rax\n\t"
      "mov %%rax, -120(%%rsp)\n\t"
      "lea 215(%%rdi), %%rax\n\t"
      "mov %%rax, -128(%%rsp)\n\t"
      "lea 100(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm0\n\t"
      "vpbroadcastq %%xmm0, %%ymm0\n\t"
      "lea 101(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm1\n\t"
      "vpbroadcastq %%xmm1, %%ymm1\n\t"
      "lea 102(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm2\n\t"
      "vpbroadcastq %%xmm2, %%ymm2\n\t"
      "lea 103(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm3\n\t"
      "vpbroadcastq %%xmm3, %%ymm3\n\t"
      "lea 104(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm4\n\t"
      "vpbroadcastq %%xmm4, %%ymm4\n\t"
      "lea 105(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm5\n\t"
      "vpbroadcastq %%xmm5, %%ymm5\n\t"
      "lea 106(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm6\n\t"
      "vpbroadcastq %%xmm6, %%ymm6\n\t"
      "lea 107(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm7\n\t"
      "vpbroadcastq %%xmm7, %%ymm7\n\t"
      "lea 108(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm8\n\t"
      "vpbroadcastq %%xmm8, %%ymm8\n\t"
      "lea 109(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm9\n\t"
      "vpbroadcastq %%xmm9, %%ymm9\n\t"
      "lea 110(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm10\n\t"
      "vpbroadcastq %%xmm10, %%ymm10\n\t"
      "lea 111(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm11\n\t"
      "vpbroadcastq %%xmm11, %%ymm11\n\t"
      "lea 112(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm12\n\t"
      "vpbroadcastq %%xmm12, %%ymm12\n\t"
      "lea 113(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm13\n\t"
      "vpbroadcastq %%xmm13, %%ymm13\n\t"
      "lea 114(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm14\n\t"
      "vpbroadcastq %%xmm14, %%ymm14\n\t"
      "lea 115(%%rdi), %%rax\n\t"
      "vmovq %%rax, %%xmm15\n\t"
      "vpbroadcastq %%xmm15, %%ymm15\n\t"
      "lea 0(%%rdi), %%rax\n\t"
      "lea 1(%%rdi), %%rbx\n\t"
      "lea 2(%%rdi), %%rcx\n\t"
      "lea 3(%%rdi), %%rdx\n\t"
      "lea 4(%%rdi), %%rsi\n\t"
      "lea 6(%%rdi), %%rbp\n\t"
      "lea 7(%%rdi), %%r8\n\t"
      "lea 8(%%rdi), %%r9\n\t"
      "lea 9(%%rdi), %%r10\n\t"
      "lea 10(%%rdi), %%r11\n\t"
      "lea 11(%%rdi), %%r12\n\t"
      "lea 12(%%rdi), %%r13\n\t"
      "lea 13(%%rdi), %%r14\n\t"
      "lea 14(%%rdi), %%r15\n\t"
      "lea 5(%%rdi), %%rdi\n\t"
      "1:\n\t"
      "decq -72(%%rsp)\n\t"
      "jnz 1b\n\t"
      "xchg %%rax, (%%rsp)\n\t"  // rax = out; the held rax goes to the stack
      "mov %%rbx, 8(%%rax)\n\t"
      "mov %%rcx, 16(%%rax)\n\t"
      "mov %%rdx, 24(%%rax)\n\t"
      "mov %%rsi, 32(%%rax)\n\t"
      "mov %%rdi, 40(%%rax)\n\t"
      "mov %%rbp, 48(%%rax)\n\t"
      "mov %%r8, 56(%%rax)\n\t"
      "mov %%r9, 64(%%rax)\n\t"
      "mov %%r10, 72(%%rax)\n\t"
      "mov %%r11, 80(%%rax)\n\t"
      "mov %%r12, 88(%%rax)\n\t"
      "mov %%r13, 96(%%rax)\n\t"
      "mov %%r14, 104(%%rax)\n\t"
      "mov %%r15, 112(%%rax)\n\t"
      "mov (%%rsp), %%rbx\n\t"
      "mov %%rbx, 0(%%rax)\n\t"
      "mov -8(%%rsp), %%rbx\n\t"
      "mov %%rbx, 120(%%rax)\n\t"
      "mov -16(%%rsp), %%rbx\n\t"
      "mov %%rbx, 128(%%rax)\n\t"
      "mov -24(%%rsp), %%rbx\n\t"
      "mov %%rbx, 136(%%rax)\n\t"
      "mov -32(%%rsp), %%rbx\n\t"
      "mov %%rbx, 144(%%rax)\n\t"
      "mov -40(%%rsp), %%rbx\n\t"
      "mov %%rbx, 152(%%rax)\n\t"
      "mov -48(%%rsp), %%rbx\n\t"
      "mov %%rbx, 160(%%rax)\n\t"
      "mov -56(%%rsp), %%rbx\n\t"
      "mov %%rbx, 168(%%rax)\n\t"
      "mov -64(%%rsp), %%rbx\n\t"
      "mov %%rbx, 176(%%rax)\n\t"
      "mov -72(%%rsp), %%rbx\n\t"
      "mov %%rbx, 184(%%rax)\n\t"
      "mov -80(%%rsp), %%rbx\n\t"
      "mov %%rbx, 192(%%rax)\n\t"
      "mov -88(%%rsp), %%rbx\n\t"
      "mov %%rbx, 200(%%rax)\n\t"
      "mov -96(%%rsp), %%rbx\n\t"
      "mov %%rbx, 208(%%rax)\n\t"
      "mov -104(%%rsp), %%rbx\n\t"
      "mov %%rbx, 216(%%rax)\n\t"
      "mov -112(%%rsp), %%rbx\n\t"
      "mov %%rbx, 224(%%rax)\n\t"
      "mov -120(%%rsp), %%rbx\n\t"
      "mov %%rbx, 232(%%rax)\n\t"
      "mov -128(%%rsp), %%rbx\n\t"
      "mov %%rbx, 240(%%rax)\n\t"
      "vmovdqu %%ymm0, 248(%%rax)\n\t"
      "vmovdqu %%ymm1, 280(%%rax)\n\t"
      "vmovdqu %%ymm2, 312(%%rax)\n\t"
      "vmovdqu %%ymm3, 344(%%rax)\n\t"
      "vmovdqu %%ymm4, 376(%%rax)\n\t"
      "vmovdqu %%ymm5, 408(%%rax)\n\t"
      "vmovdqu %%ymm6, 440(%%rax)\n\t"
      "vmovdqu %%ymm7, 472(%%rax)\n\t"
      "vmovdqu %%ymm8, 504(%%rax)\n\t"
      "vmovdqu %%ymm9, 536(%%rax)\n\t"
      "vmovdqu %%ymm10, 568(%%rax)\n\t"
      "vmovdqu %%ymm11, 600(%%rax)\n\t"
      "vmovdqu %%ymm12, 632(%%rax)\n\t"
      "vmovdqu %%ymm13, 664(%%rax)\n\t"
      "vmovdqu %%ymm14, 696(%%rax)\n\t"
      "vmovdqu %%ymm15, 728(%%rax)\n\t"
      "vzeroupper\n\t"
      "pop %%rdx\n\t"
      "pop %%rbp\n\t"
      "lea 256(%%rsp), %%rsp\n\t"
      : "+D"(base), "+S"(n), "+d"(out)
      :
      : "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3",
        "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory",
        "cc");
}

// The first wrong value, or "" if all are right.
std::string check(const Held& h, std::uint64_t base) {
  for (int i = 0; i < 15; ++i)
    if (h.gpr[i] != base + static_cast<std::uint64_t>(i)) return "general register " + std::to_string(i);
  for (int k = 0; k < 16; ++k) {
    std::uint64_t want = k == 8 ? 0 : base + 200 + static_cast<std::uint64_t>(k);
    if (h.redzone[k] != want) return "red-zone slot " + std::to_string(k);
  }
  for (int j = 0; j < 16; ++j)
    for (int l = 0; l < 4; ++l)
      if (h.ymm[j][l] != base + 100 + static_cast<std::uint64_t>(j)) return "ymm" + std::to_string(j);
  return "";
}

std::uint64_t by_signal() { return gort::debug::sched_stats().preempted_by_signal; }

void hold_and_check(int procs, int goroutines_per_p) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "needs AVX2";
  gort_test::ScopedGomaxprocs p(procs);
  const int n = procs * goroutines_per_p;
  const std::uint64_t start = by_signal();
  constexpr std::uint64_t kWanted = 2000;  // preemptions by signal while the loops run
  std::atomic<bool> enough{false};
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  std::vector<long> rounds(static_cast<std::size_t>(n));
  gort::WaitGroup wg;
  for (int g = 0; g < n; ++g) {
    wg.add(1);
    gort::go([&, g] {
      const std::uint64_t base = (static_cast<std::uint64_t>(g) + 1) << 40;
      Held h{};
      // Chunks of ~1 ms; a bound on rounds keeps a broken preemption from
      // spinning forever (the assertion on the count then fails).
      for (long r = 0; r < 200'000 && !enough.load(std::memory_order_relaxed); ++r) {
        hold_registers(base, 1'000'000, &h);
        rounds[static_cast<std::size_t>(g)]++;
        std::string e = check(h, base);
        if (!e.empty()) {
          errors[static_cast<std::size_t>(g)] = e;
          break;
        }
        if (by_signal() - start >= kWanted) enough.store(true);
      }
      wg.done();
    });
  }
  wg.wait();
  for (int g = 0; g < n; ++g) EXPECT_EQ(errors[static_cast<std::size_t>(g)], "") << "goroutine " << g;
  EXPECT_GE(by_signal() - start, kWanted);
}

TEST(PreemptAsync, RegistersAndRedZoneSurviveOneP) { hold_and_check(1, 3); }
TEST(PreemptAsync, RegistersAndRedZoneSurviveTwoPs) { hold_and_check(2, 3); }

TEST(PreemptAsync, CallFreeLoopIsPreempted) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ChildResult r = gort_test::run_child({PREEMPT_PROBE, "spin", "nocalls"}, {{"GOMAXPROCS", "1"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "main ran again\n");
}

// main returns on whatever thread it runs on; gort::run returns on the one
// it was called on (m0), which may be running a spinner: it is preempted so
// that gort::run can return, and the program exits with main's status.
TEST(PreemptAsync, MainReturningWhileM0SpinsEndsTheProgram) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  for (int i = 0; i < 10; ++i) {
    gort_test::ChildResult r = gort_test::run_child({PREEMPT_PROBE, "exit-spinning"}, {{"GOMAXPROCS", "2"}});
    ASSERT_EQ(r.exit_code, 0) << "run " << i << " signal " << r.term_signal << "\n" << r.err;
  }
}

}  // namespace
