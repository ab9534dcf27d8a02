// A small JSON writer for the tools' machine-readable output (the `gort`
// commands' --json, the execution trace's Chrome JSON and summary):
// objects, arrays, escaped strings, numbers, with commas where they go.
// Strings are untrusted bytes (function names, paths, wait reasons read
// from a process or a file): invalid UTF-8 becomes U+FFFD, so the output is
// always valid JSON. An html_safe writer also escapes '<', so that its text
// can go inside an HTML page's <script> (the trace viewer).
//
// The text goes to a std::string or, through a 1 MiB buffer, to a FILE: the
// timeline of a big trace is gigabytes of JSON, several times the memory of
// the events it describes, and is never held whole. The writer is on the hot
// path of that conversion (tens of millions of values), hence its own buffer
// and number formatting instead of std::string appends and snprintf.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gort::inspect {

// s as a JSON string literal, quotes included, appended to *out.
void append_json_string(std::string* out, std::string_view s, bool html_safe = false);

class JsonWriter {
 public:
  // Appends to *out, which holds the text once the writer is destroyed
  // (or flush()ed).
  explicit JsonWriter(std::string* out, bool html_safe = false);
  // Writes to f as the buffer fills. flush() (false on a write error, with
  // errno set) must be called at the end: the destructor cannot report one.
  explicit JsonWriter(std::FILE* f, bool html_safe = false);
  ~JsonWriter();
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  bool flush();

  // Keys are the program's own names, plain ASCII: they are written as
  // they are, not escaped (they are a third of the output).
  JsonWriter& begin_object(const char* key = nullptr) { return open(key, '{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array(const char* key = nullptr) { return open(key, '['); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& field(const char* key, std::string_view v) {
    prefix(key);
    string(v);
    return *this;
  }
  JsonWriter& field(const char* key, const char* v) { return field(key, std::string_view(v ? v : "")); }
  JsonWriter& field(const char* key, const std::string& v) { return field(key, std::string_view(v)); }
  JsonWriter& field(const char* key, bool v) {
    prefix(key);
    raw(v ? std::string_view("true") : std::string_view("false"));
    return *this;
  }
  JsonWriter& field(const char* key, std::int64_t v);
  JsonWriter& field(const char* key, std::uint64_t v);
  JsonWriter& field(const char* key, int v) { return field(key, static_cast<std::int64_t>(v)); }
  JsonWriter& field(const char* key, std::uint32_t v) { return field(key, static_cast<std::uint64_t>(v)); }
  JsonWriter& field(const char* key, double v);
  // An address, as a "0x..." string (JSON numbers lose 64-bit precision in many readers).
  JsonWriter& hex(const char* key, std::uint64_t v);
  // A value that is JSON text already (a string escaped once with
  // append_json_string and written many times).
  JsonWriter& field_json(const char* key, std::string_view json) {
    prefix(key);
    raw(json);
    return *this;
  }
  // ns as microseconds with three decimals: Chrome's ts and dur.
  JsonWriter& micros(const char* key, std::int64_t ns);
  JsonWriter& value(std::string_view v) { return field(nullptr, v); }
  JsonWriter& value(std::int64_t v) { return field(nullptr, v); }

  // Text as it is, with no comma: for the trailing newline, or a string
  // value built from pieces (raw("\"G"), digits..., raw("\"")).
  void raw(std::string_view s) {
    if (s.size() > static_cast<std::size_t>(end_ - pos_)) return raw_slow(s);
    std::memcpy(pos_, s.data(), s.size());
    pos_ += s.size();
  }
  void raw(char c) {
    if (pos_ == end_) spill();
    *pos_++ = c;
  }
  // The decimal digits of v, with no comma.
  void digits(std::uint64_t v);

 private:
  JsonWriter& open(const char* key, char c) {
    prefix(key);
    raw(c);
    first_.push_back(1);
    return *this;
  }
  JsonWriter& close(char c) {
    first_.pop_back();
    raw(c);
    return *this;
  }
  void prefix(const char* key) {
    if (!first_.empty()) {
      if (!first_.back()) raw(',');
      first_.back() = 0;
    }
    if (key) {
      raw('"');
      raw(std::string_view(key));
      raw("\":");
    }
  }
  void string(std::string_view s);
  // Room for at least n more bytes (n at most the buffer's size).
  void reserve(std::size_t n) {
    if (static_cast<std::size_t>(end_ - pos_) < n) spill();
  }
  void raw_slow(std::string_view s);
  // Empties the buffer into the string or the file.
  void spill();

  std::string* str_ = nullptr;
  std::FILE* file_ = nullptr;
  const bool html_safe_;
  bool failed_ = false;  // a write to file_ failed: the rest is dropped
  int errno_ = 0;
  std::unique_ptr<char[]> buf_;
  char *pos_ = nullptr, *end_ = nullptr;
  std::vector<unsigned char> first_;  // per open object or array: nothing in it yet
};

}  // namespace gort::inspect
