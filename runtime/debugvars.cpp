// GORTDEBUG: the runtime's knobs, Go's GODEBUG syntax ("key=value,key=value")
// and, where Go has one, Go's key. Unknown keys are reported once and ignored.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime2.h"
#include "traceback.h"

namespace gort::rt {

DebugVars debug{0, false, 0, 10'000'000'000, false, false, 10'000'000, true, false, {}, true, true};

namespace {

// "64k", "1m", "262144" → bytes
bool parse_size(const std::string& v, std::int64_t* out) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (end == v.c_str() || n < 0) return false;
  std::string unit(end);
  if (unit.empty() || unit == "b") *out = n;
  else if (unit == "k" || unit == "K" || unit == "KiB") *out = n * 1024;
  else if (unit == "m" || unit == "M" || unit == "MiB") *out = n * 1024 * 1024;
  else return false;
  return true;
}

// "10ms", "100us", "1s", "500ns" → nanoseconds
bool parse_duration(const std::string& v, std::int64_t* out) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (end == v.c_str() || n < 0) return false;
  std::string unit(end);
  if (unit == "ns") *out = n;
  else if (unit == "us" || unit == "µs") *out = n * 1000;
  else if (unit == "ms") *out = n * 1000000;
  else if (unit == "s") *out = n * 1000000000;
  else return false;
  return true;
}

// Shorter slices would spend more on signals than on running goroutines.
constexpr std::int64_t kMinTimesliceNs = 100'000;

void bad(const std::string& key, const std::string& val) {
  fdprintf(2, "gort: GORTDEBUG: bad value %s=%s (ignored)\n", key.c_str(), val.c_str());
}

}  // namespace

void parsedebugvars() {
  const char* env = std::getenv("GORTDEBUG");
  if (env == nullptr) return;
  std::string all(env);
  std::size_t pos = 0;
  while (pos <= all.size()) {
    std::size_t comma = all.find(',', pos);
    std::string item = all.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? all.size() + 1 : comma + 1;
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    std::string key = item.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "schedtrace") {
      char* end = nullptr;
      long long ms = std::strtoll(val.c_str(), &end, 10);
      if (end == val.c_str() || *end || ms < 0) bad(key, val);
      else debug.schedtrace_ms = ms;
    } else if (key == "scheddetail") {
      debug.scheddetail = val == "1";
    } else if (key == "stacksize") {
      if (!parse_size(val, &debug.stacksize)) bad(key, val);
    } else if (key == "idlethreadexit") {
      std::int64_t ns;
      if (parse_duration(val, &ns)) debug.idlethreadexit_ns = ns;
      else bad(key, val);
    } else if (key == "preemptoff") {
      if (val == "0" || val == "1") debug.preemptoff = val == "1";
      else bad(key, val);
    } else if (key == "asyncpreemptoff") {
      if (val == "0" || val == "1") debug.asyncpreemptoff = val == "1";
      else bad(key, val);
    } else if (key == "slicetimer") {
      if (val == "0" || val == "1") debug.slicetimer = val == "1";
      else bad(key, val);
    } else if (key == "handoffcpu") {
      if (val == "0" || val == "1") debug.handoffcpu = val == "1";
      else bad(key, val);
    } else if (key == "blockretake") {
      if (val == "0" || val == "1") debug.blockretake = val == "1";
      else bad(key, val);
    } else if (key == "blockwarn") {
      if (val == "0" || val == "1") debug.blockwarn = val == "1";
      else bad(key, val);
    } else if (key == "trace") {
      if (val.empty()) bad(key, val);
      else debug.trace = val;
    } else if (key == "timeslice") {
      // A unit is required: "10" alone could mean ms (Go's habit) or ns.
      std::int64_t ns;
      if (parse_duration(val, &ns) && ns >= kMinTimesliceNs) debug.timeslice_ns = ns;
      else fdprintf(2, "gort: GORTDEBUG: bad value timeslice=%s (want a duration of at least 100us, like 10ms; ignored)\n", val.c_str());
    } else {
      fdprintf(2, "gort: GORTDEBUG: unknown setting %s (ignored)\n", key.c_str());
    }
  }
}

}  // namespace gort::rt
