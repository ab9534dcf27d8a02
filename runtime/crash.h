// The crash dumper: a thread of its own (sigquit.cpp) that prints goroutine
// dumps for signal handlers, which cannot (tracebacks allocate and lock).
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::rt {

inline constexpr std::uint32_t kDumpQuit = 1;   // SIGQUIT (sigquit.cpp)
inline constexpr std::uint32_t kDumpFault = 2;  // a fatal signal in the program (sigfault.cpp)

// Asks the dumper to print (async-signal-safe). The first request wins;
// false if there is no dumper (it could not be made).
bool dumper_wake(std::uint32_t why);
bool on_dumper();  // the calling thread is the dumper
void write_stderr(const char* s);  // async-signal-safe, no retry (the process is dying)
// Counts the dumper's steps (a goroutine printed), so that a thread waiting
// for it can tell a long dump from a stuck one.
extern std::atomic<std::uint64_t> dump_progress;

// On the dumper: stop every P within 100 ms if they stop, then leave them.
void freeze_world();
// On the dumper: the end of a dump, _exit(2) or, under GOTRACEBACK=crash, SIGABRT.
[[noreturn]] void dump_exit();
[[noreturn]] void fault_dump_and_exit();  // sigfault.cpp

void sigfault_init();  // sigfault.cpp (after sigquit_init: needs the dumper)

}  // namespace gort::rt
