// Fatal errors and panics, in Go's words and with Go's exit status 2.
//
// fatal(): the runtime found something it cannot continue from (deadlock,
// corrupted state, misuse). Prints "fatal error: ..." and every goroutine.
// Panics: an exception escaped a goroutine, or a sync misuse Go reports as a
// panic. Prints "panic: ..." and the panicking goroutine (all of them with
// GOTRACEBACK=all, as in Go).
// Only the first thread to die prints; any other that fails meanwhile parks.
#include <cxxabi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <typeinfo>

#include "crash.h"
#include "runtime2.h"
#include "trace.h"
#include "traceback.h"

namespace gort::rt {

// Indexed by WaitReason; the debug descriptor points inspectors at it.
const char* const waitreason_strings[static_cast<int>(WaitReason::Count)] = {
    "",                         // Zero
    "chan receive (nil chan)",  // ChanReceiveNilChan
    "chan send (nil chan)",     // ChanSendNilChan
    "select",                   // Select
    "select (no cases)",        // SelectNoCases
    "chan receive",             // ChanReceive
    "chan send",                // ChanSend
    "semacquire",               // Semacquire
    "sleep",                    // Sleep
    "sync.Mutex.Lock",          // SyncMutexLock
    "preempted",                // Preempted
    "IO wait",                  // IOWait
    "stop the world",           // StopTheWorld
};

const char* waitreason_string(WaitReason r) {
  auto i = static_cast<unsigned>(r);
  return i < static_cast<unsigned>(WaitReason::Count) ? waitreason_strings[i] : "?";
}

const char* gstatus_string(std::uint32_t s) {
  switch (s & ~Gscan) {
    case Gidle: return "idle";
    case Grunnable: return "runnable";
    case Grunning: return "running";
    case Gsyscall: return "syscall";
    case Gwaiting: return "waiting";
    case Gdead: return "dead";
    case Gpreempted: return "preempted";
  }
  return "???";
}

namespace {

std::atomic<int> dying{0};

// Address space held back for the way out. A fatal error met at the end of
// memory (a stack that cannot be mapped under RLIMIT_AS or
// vm.max_map_count) must still print its goroutine dump, and the dump
// allocates (libdw's tables; under ASan any allocation may map more):
// startpanic gives this back first. PROT_NONE and MAP_NORESERVE: it costs
// no memory, only address space and one mapping. (Without it an ASan build
// died in the middle of the dump: "ERROR: Failed to mmap".)
constexpr std::size_t kCrashReserve = std::size_t{32} << 20;
void* crash_reserve = nullptr;

}  // namespace

// Claims the right to print the death message; a second thread that dies
// meanwhile waits here for the first to end the process.
void startpanic() {
  if (dying.fetch_add(1) != 0) park_forever();
  if (crash_reserve != nullptr) munmap(crash_reserve, kCrashReserve);  // (a system call: fine in a signal handler)
  crash_reserve = nullptr;
}

void crash_reserve_init() {
  void* p = mmap(nullptr, kCrashReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != MAP_FAILED) crash_reserve = p;
}

namespace {

[[noreturn]] void die() {
  trace::stop_for_exit();
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(2);
}

G* current_user_g() {
  M* mp = getm();
  G* gp = mp ? mp->curg : nullptr;
  return (gp && getg() == gp) ? gp : nullptr;
}

bool traceback_all() { return gotraceback() >= Traceback::All; }

void print_current(G* gp, bool from_throw = false) {
  fdprintf(2, "goroutine %lld [running]:\n", static_cast<long long>(gp->goid));
  traceback_current(2, from_throw);
  print_created_by(2, gp);
}

std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    int st = 0;
    char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &st);
    std::string s = (st == 0 && name) ? name : typeid(e).name();
    std::free(name);
    return s + ": " + e.what();
  } catch (const char* s) {
    return s;
  } catch (const std::string& s) {
    return s;
  } catch (long long v) {
    return "(long long) " + std::to_string(v);
  } catch (long v) {
    return "(long) " + std::to_string(v);
  } catch (int v) {
    return "(int) " + std::to_string(v);
  } catch (...) {
    std::type_info* t = abi::__cxa_current_exception_type();
    if (t == nullptr) return "(unknown C++ exception)";
    int st = 0;
    char* name = abi::__cxa_demangle(t->name(), nullptr, nullptr, &st);
    std::string s = std::string("(") + ((st == 0 && name) ? name : t->name()) + ") C++ exception";
    std::free(name);
    return s;
  }
}

}  // namespace

void dump_goroutines(int fd, G* current) {
  std::int64_t now = nanotime();
  std::size_t n = allgs.len.load(std::memory_order_acquire);
  G** gs = allgs.ptr.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    G* gp = gs[i];
    if (gp == current) continue;
    std::uint32_t st = readgstatus(gp) & ~Gscan;
    if (st == Gdead || st == Gidle) continue;
    dump_progress.fetch_add(1, std::memory_order_relaxed);
    const char* what = st == Gwaiting && gp->waitreason != WaitReason::Zero ? waitreason_string(gp->waitreason)
                                                                           : gstatus_string(st);
    fdprintf(fd, "\ngoroutine %lld [%s", static_cast<long long>(gp->goid), what);
    if (st == Gwaiting && gp->waitsince != 0 && now - gp->waitsince >= 60'000'000'000)
      fdprintf(fd, ", %lld minutes", static_cast<long long>((now - gp->waitsince) / 60'000'000'000));
    if (gp->lockedm && !gp->preemptpinned) fdprintf(fd, ", locked to thread");
    fdprintf(fd, "]:\n");
    if (st == Grunning || st == Gsyscall)
      fdprintf(fd, "\tgoroutine running on other thread; stack unavailable\n");
    else
      traceback_parked(fd, gp);
    print_created_by(fd, gp);
  }
}

void fatal(const char* fmt, ...) {
  startpanic();
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fdprintf(2, "fatal error: %s\n", msg);
  G* gp = current_user_g();
  if (gp) {
    fdprintf(2, "\n");
    print_current(gp);
  }
  dump_goroutines(2, gp);
  die();
}

void print_stack_overflow(G* gp, std::uintptr_t sp) {
  fdprintf(2, "runtime: goroutine stack exceeds %zu-byte limit\n", static_cast<std::size_t>(gp->stack.hi - gp->stack.lo));
  fdprintf(2, "runtime: sp=%#zx stack=[%#zx, %#zx]\n", static_cast<std::size_t>(sp), static_cast<std::size_t>(gp->stack.lo),
           static_cast<std::size_t>(gp->stack.hi));
  fdprintf(2, "fatal error: stack overflow\n");
}

void fatal_stack_overflow(G* gp, std::uintptr_t sp, void* unw_context) {
  startpanic();
  print_stack_overflow(gp, sp);
  fdprintf(2, "\n");
  fdprintf(2, "goroutine %lld [running]:\n", static_cast<long long>(gp->goid));
  traceback_context(2, unw_context);
  print_created_by(2, gp);
  dump_goroutines(2, gp);
  die();
}

void gopanic_message(const char* msg) {
  startpanic();
  fdprintf(2, "panic: %s\n\n", msg);
  G* gp = current_user_g();
  if (gp) print_current(gp);
  if (traceback_all() || !gp) dump_goroutines(2, gp);
  die();
}

// std::terminate. An exception that nothing catches reaches the bottom of
// the goroutine's stack (gort_gostart ends the unwind tables there), the
// search phase of the unwinder fails before anything is unwound, and
// __cxa_throw calls std::terminate with the whole stack of the throw still in
// place: that is Go's panic, and its trace starts at the throw. Without an
// exception (std::terminate called directly) it is a fatal error.
void on_terminate() {
  if (std::current_exception()) {
    std::string what = describe_current_exception();
    startpanic();
    fdprintf(2, "panic: %s\n\n", what.c_str());
    G* gp = current_user_g();
    if (gp) print_current(gp, /*from_throw=*/true);
    if (traceback_all() || !gp) dump_goroutines(2, gp);
    die();
  }
  fatal("std::terminate called");
}

}  // namespace gort::rt
