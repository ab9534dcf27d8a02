// Errors of the inspector. Every failure the CLI reports is one of these:
// one line, saying what went wrong with which target.
#pragma once

#include <stdexcept>
#include <string>

namespace gort::inspect {

// The target (file, process, core) cannot be read as asked. The CLI prints
// "gort: <what>" and exits 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The command line is wrong. The CLI prints "gort: <what>" and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace gort::inspect
