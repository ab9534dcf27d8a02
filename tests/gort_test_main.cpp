// The main of every test executable: the whole suite runs as gort's main
// goroutine, so tests may start goroutines, park, sleep and lock freely.
#include <gtest/gtest.h>

#include <gort/gort.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  // The runtime has threads: fork-only death tests would copy one of them.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  return gort::run([] { return RUN_ALL_TESTS(); });
}
