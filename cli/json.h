// A small streaming JSON writer for --json output: objects, arrays,
// strings (escaped), numbers and booleans, with commas put where they go.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace gort::cli {

class Json {
 public:
  explicit Json(std::FILE* out) : out_(out) {}
  ~Json() { std::fputc('\n', out_); }

  Json& begin_object(const char* key = nullptr) { return open(key, '{'); }
  Json& end_object() { return close('}'); }
  Json& begin_array(const char* key = nullptr) { return open(key, '['); }
  Json& end_array() { return close(']'); }

  Json& field(const char* key, const std::string& v) {
    prefix(key);
    string(v);
    return *this;
  }
  Json& field(const char* key, const char* v) { return field(key, std::string(v ? v : "")); }
  Json& field(const char* key, bool v) {
    prefix(key);
    std::fputs(v ? "true" : "false", out_);
    return *this;
  }
  Json& field(const char* key, std::int64_t v) {
    prefix(key);
    std::fprintf(out_, "%lld", static_cast<long long>(v));
    return *this;
  }
  Json& field(const char* key, int v) { return field(key, static_cast<std::int64_t>(v)); }
  Json& field(const char* key, std::uint32_t v) { return field(key, static_cast<std::int64_t>(v)); }
  Json& field(const char* key, std::uint64_t v) {
    prefix(key);
    std::fprintf(out_, "%llu", static_cast<unsigned long long>(v));
    return *this;
  }
  // An address, as a "0x..." string (JSON numbers lose 64-bit precision in many readers).
  Json& hex(const char* key, std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return field(key, std::string(buf));
  }
  Json& value(std::int64_t v) { return field(nullptr, v); }

 private:
  Json& open(const char* key, char c) {
    prefix(key);
    std::fputc(c, out_);
    first_.push_back(true);
    return *this;
  }
  Json& close(char c) {
    first_.pop_back();
    std::fputc(c, out_);
    return *this;
  }
  void prefix(const char* key) {
    if (!first_.empty()) {
      if (!first_.back()) std::fputc(',', out_);
      first_.back() = false;
    }
    if (key) {
      string(key);
      std::fputc(':', out_);
    }
  }
  void string(const std::string& s) {
    std::fputc('"', out_);
    for (unsigned char c : s) {
      switch (c) {
        case '"': std::fputs("\\\"", out_); break;
        case '\\': std::fputs("\\\\", out_); break;
        case '\n': std::fputs("\\n", out_); break;
        case '\t': std::fputs("\\t", out_); break;
        case '\r': std::fputs("\\r", out_); break;
        default:
          if (c < 0x20) std::fprintf(out_, "\\u%04x", c);
          else std::fputc(c, out_);
      }
    }
    std::fputc('"', out_);
  }

  std::FILE* out_;
  std::vector<bool> first_;
};

}  // namespace gort::cli
