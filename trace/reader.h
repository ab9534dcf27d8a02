// Reading an execution trace file (gort/trace_format.h, docs/trace.md)
// into events in time order.
//
// The file is untrusted input: a trace cut short by a crash, a disk that
// filled up, or any other file given by mistake. Every problem is one
// FormatError naming the file and the offset, never a crash, a hang or an
// allocation larger than the file. A trace without its END record (the
// recorder did not finish) is still read: Trace::complete is false and a
// warning says so.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gort/trace_format.h"

namespace gort::trace {

// The trace cannot be read: the file cannot be opened, or it is not a
// trace. One line, starting with the file's name.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The file is not a trace this reader understands: bad magic, another
// version, a record or event cut short or malformed.
class FormatError : public Error {
 public:
  using Error::Error;
};

struct Event {
  std::int64_t ts = 0;        // ns since the first event of the trace
  std::uint64_t args[4] = {};  // GORT_TRACE_NARGS of its type; the rest 0
  std::uint32_t m = GORT_TRACE_NO_M;  // the M id of its batch's thread
  std::uint32_t tid = 0;              // that thread's kernel id
  std::uint8_t type = 0;              // enum gort_trace_event

  std::uint64_t arg(int i) const { return args[i]; }
};

// An ELF object mapped when the trace started.
struct Module {
  std::uint64_t bias = 0;  // runtime address - link-time address
  std::string path;
};

struct Trace {
  std::string name;  // the file, for messages
  std::uint32_t version = 0, flags = 0;
  std::uint64_t ticks_per_second = 0;
  std::vector<Event> events;  // by ts; a thread's events keep their order
  std::map<std::uint64_t, std::string> strings;
  std::vector<Module> modules;
  bool complete = false;        // the END record was read
  std::uint64_t lost = 0;       // END: events the recorder dropped
  std::uint64_t recorded = 0;   // END: events it wrote
  std::int64_t duration = 0;    // ns from the first event to the last
  std::vector<std::string> warnings;  // usable, but: no END, lost events, unknown event types

  // A STRING record's text, or "" (as "string N" if `fallback`).
  std::string str(std::uint64_t id, bool fallback = true) const;
};

// Reads and parses a file. Throws Error (cannot read) or FormatError.
Trace read_trace(const std::string& path);
// Parses a trace held in memory; `name` is the file name for messages.
Trace parse_trace(std::string_view data, const std::string& name);

// "GO_START", or "event 42" for an unknown type.
std::string event_name(std::uint8_t type);
// How many arguments an event of this type has, -1 for an unknown type.
int event_nargs(std::uint8_t type);

// Whether an event of this type names a goroutine by its first argument.
inline bool names_goroutine(std::uint8_t type) {
  return (type >= GORT_TRACE_EV_GO_CREATE && type <= GORT_TRACE_EV_GO_BLOCKED) || type == GORT_TRACE_EV_PREEMPT_REQ ||
         type == GORT_TRACE_EV_GO_EXISTING || type == GORT_TRACE_EV_GO_STATE;
}

}  // namespace gort::trace
