// Goroutine stacks: fixed-size, mmapped in slabs, never unmapped (a dead G
// keeps its stack and is reused).
//
// C++ frames cannot be moved, so stacks cannot grow the way Go's do: each
// is a fixed reservation (256 KiB by default, GORTDEBUG=stacksize=...) of
// which only the touched pages cost memory. A parked goroutine that never
// went deep costs one or two pages.
//
// Guard pages. A PROT_NONE page below each stack turns an overflow into a
// fault instead of silent corruption of the neighbouring stack. But each
// guard page splits the slab's mapping in two, and the kernel limits a
// process to vm.max_map_count mappings (65530 by default), shared with
// malloc, thread stacks and shared libraries. So guard pages are a budget:
// stacks get one while fewer than half of the mappings the process has left
// at start-up would be used by them; the stacks after that come without (the
// stackguard check at yield points still catches an overflow there). Running
// out of memory or mappings is a clear fatal error from malg.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

#include "runtime2.h"

namespace gort::rt {

namespace {
constexpr std::size_t kSlabStacks = 64;
std::size_t g_stacksize = 256 * 1024;
std::size_t g_pagesize = 4096;
std::int64_t g_guard_budget = 0;  // guard pages we may still create
Lock g_stacklock;
char* g_slab = nullptr;  // current slab and how many stacks of it are handed out
std::size_t g_slab_used = kSlabStacks;

long read_long(const char* path, long dflt) {
  FILE* f = std::fopen(path, "r");
  if (!f) return dflt;
  long v = dflt;
  if (std::fscanf(f, "%ld", &v) != 1) v = dflt;
  std::fclose(f);
  return v;
}

long count_maps() {
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (!f) return 0;
  long n = 0;
  for (int c; (c = std::fgetc(f)) != EOF;)
    if (c == '\n') ++n;
  std::fclose(f);
  return n;
}
}  // namespace

std::size_t stack_size() { return g_stacksize; }
std::int64_t guard_budget_left() { return g_guard_budget; }

void stackinit() {
  g_pagesize = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  if (debug.stacksize > 0) {
    std::size_t s = static_cast<std::size_t>(debug.stacksize);
    s = (s + g_pagesize - 1) & ~(g_pagesize - 1);
    if (s < 16 * 1024) s = 16 * 1024;  // room for kStackGuard and a few frames
    g_stacksize = s;
  }
  long max_maps = read_long("/proc/sys/vm/max_map_count", 65530);
  long left = max_maps - count_maps();
  // Each guard page costs two mappings (it splits one in two); keep half of
  // what is left for everything else the program maps.
  g_guard_budget = left > 0 ? left / 4 : 0;
}

bool stackalloc(Stack* st, bool* guarded) {
  g_stacklock.lock();
  if (g_slab_used == kSlabStacks) {
    std::size_t unit = g_stacksize + g_pagesize;  // stack plus its (possible) guard page
    void* p = mmap(nullptr, unit * kSlabStacks, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
      g_stacklock.unlock();
      return false;
    }
    g_slab = static_cast<char*>(p);
    g_slab_used = 0;
  }
  char* base = g_slab + g_slab_used * (g_stacksize + g_pagesize);
  g_slab_used++;
  *guarded = false;
  if (g_guard_budget > 0 && mprotect(base, g_pagesize, PROT_NONE) == 0) {
    g_guard_budget--;
    *guarded = true;
  }
  g_stacklock.unlock();
  st->lo = reinterpret_cast<std::uintptr_t>(base + g_pagesize);
  st->hi = st->lo + g_stacksize;
  return true;
}

}  // namespace gort::rt
