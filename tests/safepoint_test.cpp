// The safe-point table (preempt/safepoint.cpp): a preemption signal may
// inject the trampoline only into the program's own code, never into the
// runtime's, which runs on goroutines' stacks without holding a lock where
// it must not be interrupted. The table tells the two apart by the compile
// units in the debug information; a build that merges them (LTO's
// artificial units) or inlines runtime code into the program's would
// preempt inside the scheduler, and every other test would still pass.
#include <gtest/gtest.h>

#include <gort/gort.h>
#include <gort/preempt.h>

#include <cstdint>

#include "preempt/preempt.h"
#include "preempt/signal.h"
#include "runtime2.h"

namespace {

// The program's own code, as far from the runtime as code gets.
[[gnu::noinline]] int program_function(int x) {
  asm volatile("" : "+r"(x));
  return x * 3 + 1;
}

std::uintptr_t inside(auto* fn) { return reinterpret_cast<std::uintptr_t>(fn) + 1; }

}  // namespace

TEST(SafePoints, TheProgramsCodeIsAndTheRuntimesIsNot) {
  ASSERT_TRUE(gort::rt::safepoints_ready()) << "the table could not be built (no debug information?)";
  EXPECT_EQ(program_function(2), 7);
  EXPECT_TRUE(gort::rt::program_code_pc(inside(&program_function)));
  // The runtime's own code: its public entry points, the scheduler, the
  // preemption machinery, stop the world.
  EXPECT_FALSE(gort::rt::program_code_pc(inside(&gort::gosched)));
  EXPECT_FALSE(gort::rt::program_code_pc(inside(&gort::rt::execute)));
  EXPECT_FALSE(gort::rt::program_code_pc(inside(&gort::rt::preemptone)));
  EXPECT_FALSE(gort::rt::program_code_pc(inside(&gort::stop_the_world)));
  EXPECT_FALSE(gort::rt::program_code_pc(inside(&gort::rt::stop_the_world_internal)));
}
