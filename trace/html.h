// `gort trace FILE --html out.html`: the timeline as one self-contained HTML
// page (trace/viewer.html, compiled into the binary) that draws the Chrome
// Trace Event JSON of docs/trace.md with zoom, pan and a goroutine's events on
// click. No network, no server: the JSON is embedded in the page.
#pragma once

#include <cstdio>
#include <string>

#include "reader.h"

namespace gort::trace {

// The viewer page with chrome_json (chrome_json()'s document) embedded and
// title (plain text: it is HTML-escaped here) as the page's title. The JSON is
// embedded in a <script type="application/json"> block with every '<' written
// as \u003c (valid JSON inside strings, where alone '<' can be), so that no
// "</script" or "<!--" in a goroutine's name can end the block.
std::string html_page(const std::string& chrome_json, const std::string& title);

// The same page for trace t, written to f as it is made: the JSON goes
// straight from write_chrome_json (which escapes '<' already) into the file,
// so a big trace's page is never held in memory, nor is its JSON. False if
// a write failed (errno says why); f stays open.
bool write_html_page(const Trace& t, const std::string& title, std::FILE* f);

}  // namespace gort::trace
