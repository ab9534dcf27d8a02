// A small JSON writer into a std::string, for the Chrome trace and the
// summary's --json: objects, arrays, escaped strings, numbers, with commas
// where they go. Strings from the trace (wait reasons, module paths,
// function names) are untrusted bytes: invalid UTF-8 becomes U+FFFD, so the
// output is always valid JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gort::trace {

// s as a JSON string literal, quotes included, appended to *out.
void append_json_string(std::string* out, std::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& begin_object(const char* key = nullptr) { return open(key, '{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array(const char* key = nullptr) { return open(key, '['); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& field(const char* key, std::string_view v) {
    prefix(key);
    append_json_string(out_, v);
    return *this;
  }
  JsonWriter& field(const char* key, const char* v) { return field(key, std::string_view(v)); }
  JsonWriter& field(const char* key, const std::string& v) { return field(key, std::string_view(v)); }
  JsonWriter& field(const char* key, bool v) {
    prefix(key);
    *out_ += v ? "true" : "false";
    return *this;
  }
  JsonWriter& field(const char* key, std::int64_t v) {
    prefix(key);
    *out_ += std::to_string(v);
    return *this;
  }
  JsonWriter& field(const char* key, std::uint64_t v) {
    prefix(key);
    *out_ += std::to_string(v);
    return *this;
  }
  JsonWriter& field(const char* key, int v) { return field(key, static_cast<std::int64_t>(v)); }
  JsonWriter& field(const char* key, std::uint32_t v) { return field(key, static_cast<std::uint64_t>(v)); }
  JsonWriter& field(const char* key, double v);
  // ns as microseconds with three decimals: Chrome's ts and dur.
  JsonWriter& micros(const char* key, std::int64_t ns);
  JsonWriter& value(std::string_view v) { return field(nullptr, v); }
  JsonWriter& value(std::int64_t v) { return field(nullptr, v); }

 private:
  JsonWriter& open(const char* key, char c) {
    prefix(key);
    *out_ += c;
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char c) {
    first_.pop_back();
    *out_ += c;
    return *this;
  }
  void prefix(const char* key) {
    if (!first_.empty()) {
      if (!first_.back()) *out_ += ',';
      first_.back() = false;
    }
    if (key) {
      append_json_string(out_, key);
      *out_ += ':';
    }
  }

  std::string* out_;
  std::vector<bool> first_;
};

}  // namespace gort::trace
