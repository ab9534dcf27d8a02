// Goroutine stack traces in Go's format, for panics, fatal errors and dumps:
//
//   goroutine 7 [semacquire]:
//   gort::WaitGroup::wait()
//   	/src/runtime/waitgroup.cpp:35 +0x4f
//   worker(int)
//   	/src/examples/prodcons.cpp:20 +0x1d
//   created by main::{lambda()#1}::operator()() const in goroutine 1
//   	/src/examples/prodcons.cpp:41 +0x9a
//
// Frames inside the runtime (gort::rt, gort::detail, the assembly) are
// hidden, as Go hides runtime.* frames. libunwind walks the stack (from the
// saved registers of a parked G, or from here for the current one); libdw
// gives function names and file:line.
#pragma once

#include "runtime2.h"

namespace gort::rt {

// The calling goroutine, from here; from_throw: start at the throw that is
// being handled (std::terminate for an exception that escaped).
void traceback_current(int fd, bool from_throw = false);
void traceback_parked(int fd, G* gp);
void traceback_context(int fd, void* unw_context);  // from a context captured with unw_getcontext  // a G that is not running: from its gobuf
void print_created_by(int fd, G* gp);
void print_created_by(int fd, std::int64_t goid, std::uintptr_t gopc, std::int64_t parentgoid);
// From a list of pcs (the first exact: where a signal interrupted the thread).
void traceback_pcs(int fd, const std::uintptr_t* pcs, std::size_t n);


// GOTRACEBACK, read as Go's gotraceback() reads it: the default (the
// panicking goroutine only), all (every goroutine), system (with the
// runtime's frames), crash (system, then SIGABRT for a core file).
enum class Traceback { Single, All, System, Crash };
Traceback gotraceback();
void fdwrite(int fd, const char* p, std::size_t len);
void fdprintf(int fd, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace gort::rt
