// JSON output: see gort/inspect/json.h.
#include "gort/inspect/json.h"

#include <array>
#include <charconv>
#include <cmath>

namespace gort::inspect {

namespace {

constexpr std::size_t kBufferBytes = 1 << 20;

// The length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (d & 0x3f);
  }
  // Overlong forms, surrogates and beyond U+10FFFF are not UTF-8.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

// The bytes a string literal holds as they are. In html_safe text '<' is
// escaped too, so that JSON embedded in an HTML page never holds "</script>".
constexpr std::array<bool, 256> plain_table(bool html_safe) {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\' && (c != '<' || !html_safe);
  return t;
}
constexpr std::array<bool, 256> kPlain = plain_table(false), kPlainHtml = plain_table(true);

// s's escaped body (no quotes) through out(std::string_view): runs of
// plain bytes in one piece, since nearly every string is one such run.
template <class Out>
void escape(std::string_view s, bool html_safe, Out&& out) {
  const std::array<bool, 256>& plain = html_safe ? kPlainHtml : kPlain;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j < s.size() && plain[static_cast<unsigned char>(s[j])]) ++j;
    if (j > i) out(s.substr(i, j - i));
    if (j == s.size()) break;
    i = j;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (std::size_t n = utf8_len(s, i)) {
        out(s.substr(i, n));
        i += n;
      } else {
        out("\\ufffd");
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out("\\\""); break;
      case '\\': out("\\\\"); break;
      case '\n': out("\\n"); break;
      case '\t': out("\\t"); break;
      case '\r': out("\\r"); break;
      case '<': out("\\u003c"); break;
      default: {
        // The other control characters and DEL.
        static constexpr char kHex[] = "0123456789abcdef";
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out(std::string_view(u, 6));
      }
    }
    ++i;
  }
}

}  // namespace

void append_json_string(std::string* out, std::string_view s, bool html_safe) {
  *out += '"';
  escape(s, html_safe, [out](std::string_view piece) { out->append(piece); });
  *out += '"';
}

JsonWriter::JsonWriter(std::string* out, bool html_safe)
    : str_(out), html_safe_(html_safe), buf_(new char[kBufferBytes]), pos_(buf_.get()), end_(pos_ + kBufferBytes) {}

JsonWriter::JsonWriter(std::FILE* f, bool html_safe)
    : file_(f), html_safe_(html_safe), buf_(new char[kBufferBytes]), pos_(buf_.get()), end_(pos_ + kBufferBytes) {}

JsonWriter::~JsonWriter() { spill(); }

bool JsonWriter::flush() {
  spill();
  if (file_ && !failed_ && std::fflush(file_) != 0) failed_ = true, errno_ = errno;
  if (failed_) errno = errno_;
  return !failed_;
}

void JsonWriter::spill() {
  const std::size_t n = static_cast<std::size_t>(pos_ - buf_.get());
  pos_ = buf_.get();
  if (n == 0) return;
  if (str_) {
    str_->append(buf_.get(), n);
  } else if (!failed_ && std::fwrite(buf_.get(), 1, n, file_) != n) {
    failed_ = true;
    errno_ = errno;
  }
}

void JsonWriter::raw_slow(std::string_view s) {
  while (!s.empty()) {
    if (pos_ == end_) spill();
    const std::size_t n = std::min(s.size(), static_cast<std::size_t>(end_ - pos_));
    std::memcpy(pos_, s.data(), n);
    pos_ += n;
    s.remove_prefix(n);
  }
}

void JsonWriter::string(std::string_view s) {
  raw('"');
  escape(s, html_safe_, [this](std::string_view piece) { raw(piece); });
  raw('"');
}

void JsonWriter::digits(std::uint64_t v) {
  reserve(20);
  pos_ = std::to_chars(pos_, end_, v).ptr;
}

JsonWriter& JsonWriter::field(const char* key, std::int64_t v) {
  prefix(key);
  reserve(20);
  pos_ = std::to_chars(pos_, end_, v).ptr;
  return *this;
}

JsonWriter& JsonWriter::field(const char* key, std::uint64_t v) {
  prefix(key);
  digits(v);
  return *this;
}

JsonWriter& JsonWriter::field(const char* key, double v) {
  prefix(key);
  if (!std::isfinite(v)) {
    raw("null");
    return *this;
  }
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.6g", v);
  raw(std::string_view(buf, static_cast<std::size_t>(n)));
  return *this;
}

JsonWriter& JsonWriter::hex(const char* key, std::uint64_t v) {
  prefix(key);
  reserve(20);
  *pos_++ = '"';
  *pos_++ = '0';
  *pos_++ = 'x';
  pos_ = std::to_chars(pos_, end_, v, 16).ptr;
  *pos_++ = '"';
  return *this;
}

JsonWriter& JsonWriter::micros(const char* key, std::int64_t ns) {
  prefix(key);
  const bool neg = ns < 0;
  const std::uint64_t a = neg ? 0 - static_cast<std::uint64_t>(ns) : static_cast<std::uint64_t>(ns);
  reserve(26);
  if (neg) *pos_++ = '-';
  pos_ = std::to_chars(pos_, end_, a / 1000).ptr;
  const unsigned frac = static_cast<unsigned>(a % 1000);
  pos_[0] = '.';
  pos_[1] = static_cast<char>('0' + frac / 100);
  pos_[2] = static_cast<char>('0' + frac / 10 % 10);
  pos_[3] = static_cast<char>('0' + frac % 10);
  pos_ += 4;
  return *this;
}

}  // namespace gort::inspect
