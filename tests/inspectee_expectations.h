// What examples/inspectee says it will show, on its stdout before `ready`
// (see the header of examples/inspectee.cpp): the suites that inspect it
// from outside (gort_inspect's) and from inside (the SIGQUIT dump's) check
// their listings against it.
#pragma once

#include <sys/types.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace gort_test {

// What examples/inspectee announces before `ready`.
struct Expectations {
  pid_t pid = 0;
  int gomaxprocs = 0;
  int goroutines = 0;
  std::map<std::string, int> by_state;  // "sleep" -> 4, "running|runnable" -> 6
  struct Role {
    std::string fn;  // the goroutines' function: "sleeper"
    int count;
    std::string states;  // "sleep", "running|runnable"
    // The states one by one: {"running", "runnable"}.
    std::vector<std::string> state_list() const {
      std::vector<std::string> out;
      for (std::size_t pos = 0;;) {
        std::size_t bar = states.find('|', pos);
        out.push_back(states.substr(pos, bar - pos));
        if (bar == std::string::npos) return out;
        pos = bar + 1;
      }
    }
  };
  std::vector<Role> roles;
};

inline Expectations parse_expectations(const std::string& out) {
  Expectations e;
  std::istringstream in(out);
  std::string line;
  static const std::regex role(R"(^expect (\w+) (\d+) (.+)$)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("inspectee pid ", 0) == 0) e.pid = std::stoi(line.substr(14));
    else if (line.rfind("expect gomaxprocs ", 0) == 0) e.gomaxprocs = std::stoi(line.substr(18));
    else if (line.rfind("expect goroutines ", 0) == 0) e.goroutines = std::stoi(line.substr(18));
    else if (std::regex_match(line, m, role)) {
      e.by_state[m[3]] += std::stoi(m[2]);
      e.roles.push_back({m[1], std::stoi(m[2]), m[3]});
    }
  }
  return e;
}

}  // namespace gort_test
