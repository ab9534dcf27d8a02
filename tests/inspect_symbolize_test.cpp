// Which frames are gort's: the inspector's User location is the first frame
// that is not, and Go-style output hides the runtime's. Names as libdw's
// demangler gives them, with the return types of template functions.
#include <gtest/gtest.h>

#include "gort/inspect/symbolize.h"

namespace {

using gort::inspect::is_gort_frame;
using gort::inspect::is_runtime_frame;
using gort::inspect::SourceFrame;

SourceFrame frame(const char* func, const char* decl = "") {
  SourceFrame f;
  f.func = func;
  f.decl = decl;
  return f;
}

TEST(InspectSymbolize, GortApiFramesWithAndWithoutReturnTypes) {
  EXPECT_TRUE(is_gort_frame(frame("gort::Mutex::lock()")));
  EXPECT_TRUE(is_gort_frame(frame("void gort::sleep_for<long, std::ratio<3600l, 1l> >(std::chrono::duration<long, std::ratio<3600l, 1l> >)")));
  EXPECT_TRUE(is_gort_frame(frame("unsigned long gort::select<gort::Case<int> >(gort::Case<int>&&)")));
  EXPECT_TRUE(is_gort_frame(frame("decltype ({parm#1}()) gort::syscall<blocking_reader()::{lambda()#1}>(blocking_reader()::{lambda()#1})")));
  EXPECT_TRUE(is_gort_frame(frame("gort::Chan<int>::send(int)")));
}

TEST(InspectSymbolize, UserFramesThatMentionGort) {
  EXPECT_FALSE(is_gort_frame(frame("gort::Chan<int> make_jobs()")));
  EXPECT_FALSE(is_gort_frame(frame("(anonymous namespace)::parked(gort::Chan<int>)")));
  EXPECT_FALSE(is_gort_frame(frame("blocking_reader()::{lambda()#1}::operator()() const")));
  EXPECT_FALSE(is_gort_frame(frame("worker(gort::WaitGroup&)")));
  EXPECT_FALSE(is_gort_frame(frame("sleeper")));
}

TEST(InspectSymbolize, RuntimeFramesAreGortFramesToo) {
  SourceFrame rt = frame("gort::rt::semacquire(unsigned int*, gort::rt::WaitReason)");
  EXPECT_TRUE(is_runtime_frame(rt));
  EXPECT_TRUE(is_gort_frame(rt));
  EXPECT_TRUE(is_runtime_frame(frame("gort_gostart")));
  EXPECT_TRUE(is_runtime_frame(frame("gort_async_preempt2")));
  // A user's names that merely start like the runtime's are the user's.
  EXPECT_FALSE(is_runtime_frame(frame("gort_helper()")));
  EXPECT_FALSE(is_runtime_frame(frame("gort_test::check_order(int)")));
  EXPECT_FALSE(is_runtime_frame(frame("gort::Mutex::lock()")));  // the public API is shown
}

}  // namespace
