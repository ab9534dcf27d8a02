// The trace viewer page: see html.h. The template is trace/viewer.html, which
// trace/viewer.cmake turns into viewer_html.cpp (a raw string) at build time.
#include "html.h"

#include "chrome.h"

#include <algorithm>
#include <string_view>

namespace gort::trace {

namespace detail {
extern const std::string_view viewer_html;  // generated: viewer_html.cpp
}  // namespace detail

namespace {

// The template's two markers (each appears only where it is filled in).
constexpr std::string_view kTitleMarker = "{{GORT_TITLE}}";
constexpr std::string_view kJsonMarker = "{{GORT_TRACE_JSON}}";

void append_html_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c; break;
    }
  }
}

// JSON inside <script type="application/json">: the block ends at the first
// "</script", and "<!--" changes how the parser looks for that end. '<' can
// only be inside a JSON string, where \u003c means the same character.
void append_script_json(std::string& out, std::string_view json) {
  std::size_t pos = 0;
  for (std::size_t lt; (lt = json.find('<', pos)) != std::string_view::npos; pos = lt + 1) {
    out.append(json.substr(pos, lt - pos));
    out += "\\u003c";
  }
  out.append(json.substr(pos));
}

// One pass over the template: text(piece) for its own text and the escaped
// title, json() where the document goes. What is filled in is never
// searched for markers. False as soon as one of them fails.
template <class Text, class Json>
bool fill_template(const std::string& title, Text&& text, Json&& json) {
  const std::string_view tpl = detail::viewer_html;
  const std::string_view shown_title = title.empty() ? std::string_view("gort trace") : std::string_view(title);
  std::size_t pos = 0;
  for (;;) {
    const std::size_t t = tpl.find(kTitleMarker, pos), j = tpl.find(kJsonMarker, pos);
    const std::size_t next = std::min(t, j);
    if (next == std::string_view::npos) break;
    if (!text(tpl.substr(pos, next - pos))) return false;
    if (next == t) {
      std::string escaped;
      append_html_escaped(escaped, shown_title);
      if (!text(escaped)) return false;
      pos = t + kTitleMarker.size();
    } else {
      if (!json()) return false;
      pos = j + kJsonMarker.size();
    }
  }
  return text(tpl.substr(pos));
}

}  // namespace

std::string html_page(const std::string& chrome_json, const std::string& title) {
  std::string out;
  out.reserve(detail::viewer_html.size() + chrome_json.size() + chrome_json.size() / 32 + 4 * title.size());
  fill_template(
      title, [&](std::string_view piece) { return out.append(piece), true; },
      [&] { return append_script_json(out, chrome_json), true; });
  return out;
}

bool write_html_page(const Trace& t, const std::string& title, std::FILE* f) {
  return fill_template(
      title, [&](std::string_view piece) { return std::fwrite(piece.data(), 1, piece.size(), f) == piece.size(); },
      [&] { return write_chrome_json(t, f); });
}

}  // namespace gort::trace
