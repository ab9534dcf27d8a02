// The current process as a Target (open_self): the inspector reading its
// own memory, mappings and auxiliary vector, checked against what the
// process knows directly. (This test program has no gort runtime: reading
// a snapshot of it is refused with the one-line error.)
#include <gtest/gtest.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "gort/inspect/error.h"
#include "gort/inspect/snapshot.h"
#include "gort/inspect/target.h"

namespace {

const std::uint64_t kKnown[4] = {0x0123456789abcdefULL, 42, 0, ~0ULL};

TEST(InspectSelf, ReadsItsOwnMemory) {
  auto t = gort::inspect::open_self();
  EXPECT_EQ(t->pid(), getpid());
  EXPECT_TRUE(t->live());
  EXPECT_FALSE(t->frozen());
  std::uint64_t got[4] = {};
  t->read(reinterpret_cast<std::uintptr_t>(kKnown), got, sizeof got);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], kKnown[i]);
  // Unmapped memory (page 0) is an error naming the address, not a crash.
  try {
    t->read(8, got, 8);
    ADD_FAILURE() << "read page 0";
  } catch (const gort::inspect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("0x8"), std::string::npos) << e.what();
  }
}

TEST(InspectSelf, AuxvAndMappingsAreTheProcesses) {
  auto t = gort::inspect::open_self();
  EXPECT_EQ(t->auxv(AT_ENTRY), getauxval(AT_ENTRY));
  EXPECT_EQ(t->auxv(AT_PHDR), getauxval(AT_PHDR));
  // The mapping that holds our code is executable and file-backed.
  auto here = reinterpret_cast<std::uintptr_t>(&getauxval);  // libc's code
  bool found = false;
  for (const gort::inspect::Mapping& m : t->mappings()) {
    if (here >= m.start && here < m.end) {
      found = true;
      EXPECT_NE(m.perms.find('x'), std::string::npos) << m.perms;
      EXPECT_NE(m.path.find("libc"), std::string::npos) << m.path;
    }
  }
  EXPECT_TRUE(found);
}

TEST(InspectSelf, NotAGortProgramIsOneLine) {
  auto t = gort::inspect::open_self();
  try {
    gort::inspect::read_snapshot(*t);
    ADD_FAILURE() << "a snapshot of a program without the runtime";
  } catch (const gort::inspect::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("is not a gort program"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace
