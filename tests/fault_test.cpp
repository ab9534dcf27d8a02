// Fatal signals (runtime/sigfault.cpp): a goroutine that runs off its stack
// without yield points, dereferences a null or wild pointer or divides by
// zero dies the way a Go program does: Go's message, the faulting
// goroutine's stack from the instruction that faulted, exit status 2; not
// a bare "Segmentation fault". Each case runs gort_probe as a child.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "child_process.h"
#include "test_util.h"

namespace {

using gort_test::ChildResult;
using gort_test::run_child;

#define SKIP_UNDER_SANITIZERS() \
  if (gort_test::kSanitizerOwnsFaults) GTEST_SKIP() << "the sanitizer's own fault handler reports it"

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

ChildResult fault(const std::string& kind, const char* gotraceback = nullptr) {
  std::map<std::string, std::optional<std::string>> env;
  if (gotraceback) env["GOTRACEBACK"] = gotraceback;
  return run_child({GORT_PROBE, "fault", kind}, env);
}

TEST(Fault, OverflowWithoutYieldPointsIsAStackOverflow) {
  SKIP_UNDER_SANITIZERS();
  ChildResult r = fault("overflow");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(has(r.err, "runtime: goroutine stack exceeds ")) << r.err;
  EXPECT_TRUE(has(r.err, "fatal error: stack overflow\n\ngoroutine 2 [running]:\n")) << r.err;
  EXPECT_TRUE(has(r.err, "recurse(long)")) << r.err;
  EXPECT_TRUE(has(r.err, "...additional frames elided...")) << r.err;
  EXPECT_TRUE(has(r.err, "\ngoroutine 1 [sleep]:\n")) << r.err;  // a fatal error shows everyone
}

TEST(Fault, NilDereferenceIsAPanicNamingTheGoroutine) {
  SKIP_UNDER_SANITIZERS();
  ChildResult r = fault("nil");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("panic: runtime error: invalid memory address or nil pointer dereference\n"
                        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x", 0),
            0u)
      << r.err;
  EXPECT_TRUE(has(r.err, "\n\ngoroutine 2 [running]:\n")) << r.err;
  EXPECT_TRUE(has(r.err, "fault_now(")) << r.err;
  EXPECT_TRUE(has(r.err, "created by main")) << r.err;
  // A panic shows the panicking goroutine only, unless GOTRACEBACK says all.
  EXPECT_FALSE(has(r.err, "goroutine 1 [")) << r.err;
  ChildResult all = fault("nil", "all");
  EXPECT_EQ(all.exit_code, 2) << all.err;
  EXPECT_TRUE(has(all.err, "\ngoroutine 1 [sleep]:\n")) << all.err;
}

TEST(Fault, WildPointerIsAFatalFault) {
  SKIP_UNDER_SANITIZERS();
  ChildResult r = fault("wild");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("unexpected fault address 0x7ff0deadbe00\nfatal error: fault\n[signal SIGSEGV: ", 0), 0u)
      << r.err;
  EXPECT_TRUE(has(r.err, "goroutine 2 [running]:\n")) << r.err;
  EXPECT_TRUE(has(r.err, "\ngoroutine 1 [sleep]:\n")) << r.err;
}

TEST(Fault, IntegerDivideByZeroIsAPanic) {
  SKIP_UNDER_SANITIZERS();
  ChildResult r = fault("divide");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("panic: runtime error: integer divide by zero\n"
                        "[signal SIGFPE: floating-point exception code=0x1 ", 0),
            0u)
      << r.err;
  EXPECT_TRUE(has(r.err, "goroutine 2 [running]:\n")) << r.err;
}

TEST(Fault, InAThreadGortDidNotMakeShowsThatThreadAndTheGoroutines) {
  SKIP_UNDER_SANITIZERS();
  ChildResult r = fault("foreign");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("fatal error: unexpected signal in a thread gort did not make\n[signal SIGSEGV: ", 0), 0u)
      << r.err;
  EXPECT_TRUE(has(r.err, "(not a gort thread) stack:\n")) << r.err;
  EXPECT_TRUE(has(r.err, "fault_now(")) << r.err;
  EXPECT_TRUE(has(r.err, "\ngoroutine 1 [")) << r.err;
}

TEST(Fault, GotracebackCrashEndsWithSigabrt) {
  SKIP_UNDER_SANITIZERS();
  ChildResult r = fault("nil", "crash");
  EXPECT_EQ(r.term_signal, SIGABRT) << r.err;
  EXPECT_TRUE(has(r.err, "panic: runtime error: invalid memory address")) << r.err;
}

TEST(Fault, AHandlerTheProgramInstalledIsKept) {
  SKIP_UNDER_SANITIZERS();  // ASan keeps SIGSEGV for itself
  ChildResult r = run_child({GORT_PROBE, "fault-own-handler"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "mine\n");
  EXPECT_FALSE(has(r.err, "panic:")) << r.err;
}

}  // namespace
