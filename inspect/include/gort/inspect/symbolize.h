// Addresses to source frames, through elfutils' libdwfl: the function (from
// the symbol table, demangled), file:line (DWARF line table), and the frames
// of functions inlined at that address, innermost first.
//
// Shared by the runtime's tracebacks (its own process) and the inspector
// (other processes and core files): each brings its own Dwfl session. A
// Dwfl session is not thread-safe; callers serialise their use of one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

typedef struct Dwfl Dwfl;

namespace gort::inspect {

struct SourceFrame {
  std::string func;    // demangled, with parameter types when the symbol has them
  std::string decl;    // the file the function is declared in, when DWARF says
  std::string file;    // where pc is: file and line
  int line = 0;
  std::uintptr_t offset = 0;  // pc - function start
};

// pc is a return address unless exact (the first frame of a stack, or one
// interrupted by a signal): a return address is looked up at pc-1, so that a
// call at the very end of a function is attributed to it. Never empty: an
// address without a symbol gives one frame named "0x...".
std::vector<SourceFrame> symbolize(Dwfl* dwfl, std::uintptr_t pc, bool exact);

// Frames Go would not show in a goroutine's stack: the runtime's own
// (gort::rt, gort::detail, the assembly) and the inlined wrappers of
// gort/runtime.h (gort::go, gort::run) around the user's callable.
bool is_runtime_frame(const SourceFrame& f);

// Any frame of gort's: the runtime's, and its public API (gort::Mutex,
// gort::Chan, gort::select...). The first frame that is not is where a
// goroutine is in the user's code (the inspector's "User:" location).
bool is_gort_frame(const SourceFrame& f);

std::string demangle(const char* name);

// Function names as dlv shows them: without the parameter list
// ("worker(int)" -> "worker"), " const" or GCC's " [clone .isra.0]".
std::string short_func(const std::string& func);

}  // namespace gort::inspect
