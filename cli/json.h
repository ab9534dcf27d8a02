// --json output of the gort commands: the tools' JSON writer
// (gort/inspect/json.h) on a FILE, ending the document with a newline and
// flushing it when it goes out of scope.
#pragma once

#include <cstdio>

#include "gort/inspect/json.h"

namespace gort::cli {

class Json : public inspect::JsonWriter {
 public:
  explicit Json(std::FILE* out) : JsonWriter(out) {}
  ~Json() {
    raw('\n');
    flush();  // like the text output, a failed write to the terminal or pipe goes unreported
  }
};

}  // namespace gort::cli
