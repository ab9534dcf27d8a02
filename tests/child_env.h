// The environment the test suites give their child processes: ours without
// the runtime's variables (GOMAXPROCS, GORTDEBUG, GOTRACEBACK: a test run
// with them set must not change what its children do), then `set` applied
// (a value sets the variable, std::nullopt leaves it unset).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace gort_test {

inline std::vector<std::string> child_env(const std::map<std::string, std::optional<std::string>>& set) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (key == "GOMAXPROCS" || key == "GORTDEBUG" || key == "GOTRACEBACK" || set.count(key)) continue;
    env.push_back(kv);
  }
  for (const auto& [k, v] : set)
    if (v) env.push_back(k + "=" + *v);
  return env;
}

// argv or envp for exec: pointers into `strings` (which must outlive them),
// ending with nullptr.
inline std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace gort_test
