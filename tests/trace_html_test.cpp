// `gort trace FILE --html`: the viewer page (trace/html.h, trace/viewer.html).
//
// A Chrome Trace JSON written here by hand, as docs/trace.md describes it (two
// Ps, two Ms, goroutine slices of every cname, a syscall slice, a flow, an
// instant, a stop-the-world pause), goes through html_page; headless Chromium
// loads the page and dumps its DOM, and the test compares what the page says
// it indexed and drew (<pre id="render-stats">, the details panel, a script
// appended to the page that asks window.gortViewer and reads the canvas's
// pixels) with the JSON. Without chromium the Chromium tests are skipped:
// tools/install-deps.sh installs it. GORT_CHROMIUM names another binary.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "chrome.h"
#include "command_testing.h"
#include "html.h"
#include "reader.h"
#include "trace_builder.h"

namespace fs = std::filesystem;

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c; break;
    }
  }
  return out + "\"";
}

// Times in microseconds, as in the converter's output.
std::string us(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// A slice the page must show: where (track index, top to bottom), when, and
// the colour its cname stands for.
struct Expected {
  int track;
  double ts, dur;
  std::string name, cname;
};

// The Chrome Trace JSON, with the counts the page must report.
class TraceJson {
 public:
  // Tracks in the page's order: pid 1 (Ps), 2 (Ms), 3 (STW), by tid.
  static int track_index(int pid, int tid) {
    static const std::map<std::pair<int, int>, int> order = {
        {{1, 0}, 0}, {{1, 1}, 1}, {{2, 0}, 2}, {{2, 1}, 3}, {{3, 0}, 4}};
    return order.at({pid, tid});
  }

  TraceJson() {
    process(1, "Procs");
    process(2, "Threads");
    process(3, "STW");
    thread(1, 0, "P0");
    thread(1, 1, "P1");
    thread(2, 0, "M0 (tid 100)");
    thread(2, 1, "M1 (tid 101)");
    thread(3, 0, "stop the world");
  }

  void process(int pid, const std::string& name) {
    events_.push_back(R"({"ph":"M","pid":)" + std::to_string(pid) + R"(,"tid":0,"name":"process_name","args":{"name":)" +
                      json_string(name) + "}}");
  }
  void thread(int pid, int tid, const std::string& name) {
    events_.push_back(R"({"ph":"M","pid":)" + std::to_string(pid) + R"(,"tid":)" + std::to_string(tid) +
                      R"(,"name":"thread_name","args":{"name":)" + json_string(name) + "}}");
    tracks.insert({pid, tid});
  }

  // A goroutine ran on P p, M m: its slice on both tracks.
  void run(int goid, const std::string& name, int p, int m, double ts, double dur, const std::string& cname,
           const std::string& end) {
    for (auto [pid, tid] : {std::pair{1, p}, std::pair{2, m}}) {
      events_.push_back(R"({"ph":"X","pid":)" + std::to_string(pid) + R"(,"tid":)" + std::to_string(tid) +
                        R"(,"ts":)" + us(ts) + R"(,"dur":)" + us(dur) + R"(,"name":)" + json_string(name) +
                        R"(,"cat":"goroutine","cname":")" + cname + R"(","args":{"goid":)" + std::to_string(goid) +
                        R"(,"p":)" + std::to_string(p) + R"(,"m":)" + std::to_string(m) +
                        R"(,"end":)" + json_string(end) + "}}");
      expected.push_back({track_index(pid, tid), ts, dur, name, cname});
      ++slices;
    }
    goroutines.insert(goid);
  }
  // P p waits while goid is in a system call.
  void syscall(int goid, int p, double ts, double dur) {
    events_.push_back(R"({"ph":"X","pid":1,"tid":)" + std::to_string(p) + R"(,"ts":)" + us(ts) + R"(,"dur":)" +
                      us(dur) + R"(,"name":"syscall G)" + std::to_string(goid) +
                      R"(","cat":"syscall","args":{"goid":)" + std::to_string(goid) + "}}");
    expected.push_back({track_index(1, p), ts, dur, "syscall G" + std::to_string(goid), ""});
    ++slices;
  }
  // Stop the world: on the STW track and on every P's.
  void stw(double ts, double dur, const std::string& reason) {
    for (auto [pid, tid] : {std::pair{3, 0}, std::pair{1, 0}, std::pair{1, 1}}) {
      events_.push_back(R"({"ph":"X","pid":)" + std::to_string(pid) + R"(,"tid":)" + std::to_string(tid) +
                        R"(,"ts":)" + us(ts) + R"(,"dur":)" + us(dur) + R"(,"name":"STW: )" + reason +
                        R"(","cat":"stw","cname":"black","args":{"reason":")" + reason + "\"}}");
      expected.push_back({track_index(pid, tid), ts, dur, "STW: " + reason, "black"});
      ++slices;
    }
    ++stws;
  }
  // by readied goid at ts on P from_p; goid runs from to_ts on P to_p.
  void ready(int id, int by, int from_p, double ts, int goid, int to_p, double to_ts) {
    events_.push_back(R"({"ph":"s","pid":1,"tid":)" + std::to_string(from_p) + R"(,"ts":)" + us(ts) +
                      R"(,"name":"ready","cat":"ready","id":)" + std::to_string(id) + R"(,"args":{"by":)" +
                      std::to_string(by) + R"(,"goid":)" + std::to_string(goid) + "}}");
    events_.push_back(R"({"ph":"f","pid":1,"tid":)" + std::to_string(to_p) + R"(,"ts":)" + us(to_ts) +
                      R"(,"name":"ready","cat":"ready","id":)" + std::to_string(id) + R"(,"bp":"e"})");
    ++flows;
  }
  void instant(int p, double ts, const std::string& name) {
    events_.push_back(R"({"ph":"i","pid":1,"tid":)" + std::to_string(p) + R"(,"ts":)" + us(ts) + R"(,"name":)" +
                      json_string(name) + R"(,"cat":"sched","s":"t"})");
    ++instants;
  }

  std::string json() const {
    std::string out = "{\"traceEvents\":[\n";
    for (std::size_t i = 0; i < events_.size(); ++i) out += events_[i] + (i + 1 < events_.size() ? ",\n" : "\n");
    out += R"(],"displayTimeUnit":"ns","otherData":{"version":1,"lost":3,"goroutines":)" +
           std::to_string(goroutines.size()) + "}}\n";
    return out;
  }

  std::set<std::pair<int, int>> tracks;
  std::set<int> goroutines;
  std::vector<Expected> expected;
  int slices = 0, flows = 0, instants = 0, stws = 0;

 private:
  std::vector<std::string> events_;
};

// A name that would end the page's script block, were it embedded as it is.
const std::string kNastyName = "G7 worker</script><script>window.pwned=1</script><!--";

TraceJson sample() {
  TraceJson t;
  t.run(1, "G1 main", 0, 0, 0, 10, "grey", "parked: chan receive");
  t.run(7, kNastyName, 1, 1, 2, 8, "bad", "preempted (async)");
  t.run(8, "G8 other", 0, 0, 12, 5, "yellow", "gosched");
  t.run(9, "G9 io", 1, 1, 15, 4, "olive", "syscall");
  t.syscall(9, 1, 19, 3);
  t.run(7, kNastyName, 0, 0, 20, 6, "good", "returned");
  t.run(10, "G10 stuck", 1, 1, 25, 3, "terrible", "blocked thread retaken");
  t.stw(30, 2, "gc");
  t.ready(1, 1, 0, 5, 7, 0, 20);  // G1 readies G7 at 5 us; G7 runs on P0 at 20 us
  t.instant(1, 6, "preempt G7 (async)");
  return t;
}

// Chrome's colours for the cnames of docs/trace.md.
std::array<int, 3> cname_rgb(const std::string& cname) {
  static const std::map<std::string, std::array<int, 3>> rgb = {
      {"good", {0, 125, 0}},    {"bad", {180, 125, 0}},     {"terrible", {180, 0, 0}}, {"yellow", {255, 255, 0}},
      {"grey", {221, 221, 221}}, {"olive", {100, 100, 0}}, {"black", {0, 0, 0}}};
  return rgb.at(cname);
}

std::string html_unescape(std::string s) {
  static const std::pair<const char*, const char*> entities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "}, {"&amp;", "&"}};
  for (auto [from, to] : entities) {
    std::string out;
    std::size_t pos = 0;
    for (std::size_t at; (at = s.find(from, pos)) != std::string::npos; pos = at + std::string_view(from).size())
      out += s.substr(pos, at - pos) + to;
    s = out + s.substr(pos);
  }
  return s;
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// The text of the element whose start tag begins with `open` (no child elements).
std::string element_text(const std::string& dom, const std::string& open) {
  const std::size_t at = dom.find(open);
  if (at == std::string::npos) return "";
  const std::size_t gt = dom.find('>', at), end = dom.find('<', gt);
  return html_unescape(dom.substr(gt + 1, end - gt - 1));
}

// A top-level integer field of render-stats' JSON (they come before "drawn").
long stat(const std::string& stats, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(stats, m, std::regex("\"" + key + "\":(-?[0-9]+)"))) return -1;
  return std::stol(m[1]);
}

std::string find_chromium() {
  if (const char* env = getenv("GORT_CHROMIUM"); env && *env) return env;
  const char* path = getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::vector<std::string> list;
  for (std::string d; std::getline(dirs, d, ':');) list.push_back(d);
  for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"})
    for (const std::string& d : list) {
      const fs::path p = fs::path(d.empty() ? "." : d) / name;
      if (access(p.c_str(), X_OK) == 0) return p.string();
    }
  return "";
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gort_trace_html_XXXXXX").string();
    if (mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

class TraceHtmlChromium : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = find_chromium();
    if (chromium_.empty())
      GTEST_SKIP() << "chromium is not installed (tools/install-deps.sh installs it; GORT_CHROMIUM=path names one)";
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
  }

  // Loads page (with an optional #fragment) in headless Chromium and returns
  // the DOM after its scripts ran. A profile and HOME of its own, in dir_.
  std::string dump_dom(const std::string& page, const std::string& fragment = "") {
    const fs::path file = dir_.path() / "trace.html";
    write_file(file, page);
    const fs::path profile = dir_.path() / "profile";
    const std::string cmd = "HOME='" + dir_.path().string() + "' timeout 60 '" + chromium_ +
                            "' --headless=new --no-sandbox --disable-gpu --no-first-run --no-default-browser-check"
                            " --disable-extensions --user-data-dir='" + profile.string() +
                            "' --window-size=1280,800 --force-device-scale-factor=1 --dump-dom"
                            " --virtual-time-budget=5000 'file://" + file.string() + fragment + "' 2>/dev/null";
    std::string out;
    if (FILE* f = popen(cmd.c_str(), "r")) {
      std::array<char, 65536> buf;
      for (std::size_t n; (n = fread(buf.data(), 1, buf.size(), f)) > 0;) out.append(buf.data(), n);
      const int status = pclose(f);
      EXPECT_EQ(status, 0) << cmd;
    } else {
      ADD_FAILURE() << "popen: " << cmd;
    }
    return out;
  }

  // The checks every page passes: rendered, no error, render-stats as the JSON says.
  void expect_rendered(const std::string& dom, const TraceJson& t) {
    ASSERT_NE(dom.find("<body"), std::string::npos) << "no DOM from chromium";
    const std::string stats = element_text(dom, "<pre id=\"render-stats\"");
    EXPECT_EQ(stats.find("\"error\""), std::string::npos) << stats;
    EXPECT_NE(dom.find("data-rendered=\"1\""), std::string::npos) << stats;
    EXPECT_EQ(element_text(dom, "<div id=\"error\""), "");
    EXPECT_EQ(stat(stats, "tracks"), static_cast<long>(t.tracks.size())) << stats;
    EXPECT_EQ(stat(stats, "slices"), t.slices) << stats;
    EXPECT_EQ(stat(stats, "flows"), t.flows) << stats;
    EXPECT_EQ(stat(stats, "instants"), t.instants) << stats;
    EXPECT_EQ(stat(stats, "stw"), t.stws) << stats;
    EXPECT_EQ(stat(stats, "goroutines"), static_cast<long>(t.goroutines.size())) << stats;
    EXPECT_EQ(stat(stats, "ps"), 2) << stats;
    EXPECT_EQ(stat(stats, "flowsUnmatched"), 0) << stats;
    // Drawn in the first frame, which shows the whole trace.
    EXPECT_NE(stats.find("\"drawn\":{\"slices\":" + std::to_string(t.slices) + ","), std::string::npos) << stats;
    // The nasty name stayed inside its JSON string: no script element of its own.
    EXPECT_EQ(dom.find("<script>window.pwned"), std::string::npos);
  }

  std::string chromium_;
  TempDir dir_;
};

// A script the test appends to the page: it asks window.gortViewer where each
// expected slice is, reads the canvas's pixel there, and lists G7's rows.
// One line per answer, tab-separated, in <pre id="harness">.
std::string harness(const TraceJson& t) {
  std::string checks = "[";
  for (const Expected& e : t.expected)
    checks += "[" + std::to_string(e.track) + "," + us(e.ts) + "," + us(e.dur) + "],";
  checks += "]";
  return R"(<script>
(function () {
  const out = [];
  try {
    const v = window.gortViewer;
    v.setOptions({ flows: false, instants: false }); // the slices alone, drawn now
    out.push(["tracks"].concat(v.tracks().map((t) => t.name)).join("\t"));
    const ctx = v.canvas.getContext("2d");
    for (const [track, ts, dur] of )" +
         checks + R"() {
      const s = v.sliceAt(track, ts + dur / 2);
      const p = v.toScreen(track, ts + dur / 2, s ? s.lane : 0);
      const px = ctx.getImageData(Math.floor(p.x * p.dpr), Math.floor((p.top + 1) * p.dpr), 1, 1).data;
      out.push(["slice", track, ts, s ? s.name : "-", s ? s.ts : "-", s ? s.dur : "-", px[0], px[1], px[2]].join("\t"));
    }
    out.push(["empty", JSON.stringify(v.sliceAt(0, 11))].join("\t"));

    // The input handlers, with synthetic events: "check", what, whether it held, details.
    const check = (what, ok, detail) => out.push(["check", what, ok ? "ok" : "FAILED", JSON.stringify(detail)].join("\t"));
    const rect = v.canvas.getBoundingClientRect();
    const at = (track, us) => {
      const p = v.toScreen(track, us, 0);
      // Whole pixels: a MouseEvent's clientX is rounded.
      return { clientX: Math.round(rect.left + p.x), clientY: Math.round(rect.top + p.y), button: 0, bubbles: true, cancelable: true };
    };
    const title = () => document.getElementById("details-title").textContent;
    const click = (o) => {
      v.canvas.dispatchEvent(new MouseEvent("mousedown", o));
      v.canvas.dispatchEvent(new MouseEvent("mouseup", o));
    };
    const span = () => v.view().t1 - v.view().t0;
    click(at(0, 14)); // G8 on P0, 12..17
    check("click on a slice lists its goroutine", title() === "G8 other", title());
    click(at(0, 11)); // P0 between G1 and G8
    check("click on empty space clears", title() === "Details", title());
    const full = span();
    const x14 = v.toScreen(0, 14, 0).x;
    v.canvas.dispatchEvent(new WheelEvent("wheel", Object.assign(at(0, 14), { deltaY: -200 })));
    check("wheel zooms in", span() < full * 0.8, [full, span()]);
    check("around the cursor", Math.abs(v.toScreen(0, 14, 0).x - x14) < 1, [x14, v.toScreen(0, 14, 0).x]);
    const key = (k) => document.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
    let before = span();
    key("+");
    check("+ zooms in", span() < before * 0.8, [before, span()]);
    before = span();
    key("s");
    check("S zooms out", span() > before * 1.2, [before, span()]);
    let t0 = v.view().t0;
    key("ArrowRight");
    check("right arrow pans right", v.view().t0 > t0, [t0, v.view().t0]);
    t0 = v.view().t0;
    key("a");
    check("A pans left", v.view().t0 < t0, [t0, v.view().t0]);
    t0 = v.view().t0;
    const from = at(0, 14), to = Object.assign({}, from, { clientX: from.clientX - 100 });
    v.canvas.dispatchEvent(new MouseEvent("mousedown", from));
    window.dispatchEvent(new MouseEvent("mousemove", to));
    window.dispatchEvent(new MouseEvent("mouseup", to));
    const moved = (v.view().t0 - t0) * (v.toScreen(0, 1, 0).x - v.toScreen(0, 0, 0).x);
    check("dragging pans", Math.abs(moved - 100) < 0.5, moved);
    check("a drag is no click", title() === "Details", title());
    document.getElementById("reset").click();
    check("reset shows it all", Math.abs(span() - full) < 1e-6, [full, span()]);
    v.redraw();
    const sel = v.select(7);
    for (const r of sel.rows) out.push(["row", r.ts, r.dur, r.kind, r.p, r.m, r.end, r.readiedBy].join("\t"));
    for (const f of sel.flows) out.push(["flow", f.ts, f.from, f.fromGoid, f.fromTs].join("\t"));
    out.push(["unknown", JSON.stringify(v.select(12345))].join("\t"));
  } catch (e) {
    out.push("harness error\t" + e + "\t" + e.stack);
  }
  const pre = document.createElement("pre");
  pre.id = "harness";
  pre.textContent = out.join("\n");
  document.body.append(pre);
})();
</script>
)";
}

std::vector<std::vector<std::string>> harness_lines(const std::string& dom) {
  std::vector<std::vector<std::string>> lines;
  std::stringstream in(element_text(dom, "<pre id=\"harness\""));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::stringstream f(line);
    for (std::string field; std::getline(f, field, '\t');) fields.push_back(field);
    lines.push_back(fields);
  }
  return lines;
}

}  // namespace

TEST(TraceHtml, EmbedsTheJsonSafely) {
  const TraceJson t = sample();
  const std::string json = t.json();
  const std::string page = gort::trace::html_page(json, "trace <of> \"x\" & 'y'");
  // The template's own two script blocks end; nothing in the JSON does.
  EXPECT_EQ(count(page, "</script"), 2u);
  EXPECT_EQ(count(page, "<!--"), 1u);  // the template's header comment
  EXPECT_EQ(page.find("window.pwned=1</"), std::string::npos);
  // The title, escaped, in <title> and <h1>; the markers are all filled in.
  EXPECT_EQ(count(page, "trace &lt;of&gt; &quot;x&quot; &amp; &#39;y&#39;"), 2u);
  EXPECT_EQ(page.find("{{GORT_"), std::string::npos);
  // The JSON comes back as it was once \u003c is '<' again.
  const std::string open = "<script type=\"application/json\" id=\"gort-trace\">";
  const std::size_t begin = page.find(open) + open.size(), end = page.find("</script>", begin);
  ASSERT_NE(end, std::string::npos);
  std::string embedded = page.substr(begin, end - begin);
  for (std::size_t at; (at = embedded.find("\\u003c")) != std::string::npos;) embedded.replace(at, 6, "<");
  EXPECT_EQ(embedded, json);
  // Self-contained: nothing is fetched.
  for (const char* ref : {"http:", "https:", " src=", "href=", "url(", "@import"})
    EXPECT_EQ(page.find(ref), std::string::npos) << ref;
}

// gort trace --html streams the page into the file (write_html_page): the
// same bytes as the page made whole, hostile strings and all.
TEST(TraceHtml, StreamedPageIsTheSame) {
  trace_testing::TraceBuilder b = trace_testing::scenario();
  b.string(14, "</script><!-- <b>");
  const gort::trace::Trace t = gort::trace::parse_trace(b.bytes(), "t.bin");
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(gort::trace::write_html_page(t, "a <title>", f));
  ASSERT_EQ(std::fflush(f), 0);
  const std::string streamed = command_testing::slurp_fd(fileno(f));
  std::fclose(f);
  const std::string whole = gort::trace::html_page(gort::trace::chrome_json(t), "a <title>");
  EXPECT_EQ(streamed, whole);
  EXPECT_EQ(count(whole, "</script"), 2u);
}

TEST(TraceHtml, EmptyTitleAndEmptyTrace) {
  const std::string page = gort::trace::html_page(R"({"traceEvents":[]})", "");
  EXPECT_NE(page.find("<title>gort trace</title>"), std::string::npos);
  EXPECT_NE(page.find(R"(id="gort-trace">{"traceEvents":[]}</script>)"), std::string::npos);
}

TEST_F(TraceHtmlChromium, DrawsWhatTheJsonHolds) {
  const TraceJson t = sample();
  std::string page = gort::trace::html_page(t.json(), "gort trace test");
  const std::size_t body_end = page.rfind("</body>");
  ASSERT_NE(body_end, std::string::npos);
  page.insert(body_end, harness(t));
  const std::string dom = dump_dom(page);
  expect_rendered(dom, t);

  const auto lines = harness_lines(dom);
  ASSERT_FALSE(lines.empty()) << "the harness wrote nothing";
  std::size_t next_slice = 0;
  int checks = 0;
  std::vector<std::vector<std::string>> rows, flows;
  for (const auto& l : lines) {
    ASSERT_FALSE(l.empty());
    const std::string& what = l[0];
    if (what == "harness error") {
      ADD_FAILURE() << (l.size() > 1 ? l[1] : "") << (l.size() > 2 ? l[2] : "");
    } else if (what == "tracks") {
      EXPECT_EQ(l, (std::vector<std::string>{"tracks", "P0", "P1", "M0 (tid 100)", "M1 (tid 101)", "stop the world"}));
    } else if (what == "slice") {
      // The slice at each expected slice's middle is that slice, in its colour.
      ASSERT_LT(next_slice, t.expected.size());
      const Expected& e = t.expected[next_slice++];
      ASSERT_EQ(l.size(), 9u);
      SCOPED_TRACE("slice " + e.name + " at " + us(e.ts) + " on track " + std::to_string(e.track));
      EXPECT_EQ(l[3], e.name);
      EXPECT_EQ(l[4], us(e.ts));
      EXPECT_EQ(l[5], us(e.dur));
      if (!e.cname.empty()) {
        const auto rgb = cname_rgb(e.cname);
        for (int i = 0; i < 3; ++i) EXPECT_NEAR(std::stoi(l[6 + i]), rgb[i], 12) << "channel " << i;
      }
    } else if (what == "empty") {
      EXPECT_EQ(l.at(1), "null");  // P0 between G1 (ends at 10) and G8 (starts at 12)
    } else if (what == "row") {
      rows.push_back(l);
    } else if (what == "flow") {
      flows.push_back(l);
    } else if (what == "unknown") {
      EXPECT_EQ(l.at(1), "null");
    } else if (what == "check") {
      ASSERT_EQ(l.size(), 4u);
      EXPECT_EQ(l[2], "ok") << l[1] << ": " << l[3];
      ++checks;
    }
  }
  EXPECT_EQ(next_slice, t.expected.size());
  EXPECT_EQ(checks, 11);
  // G7 ran twice: preempted on P1, then, readied by G1, on P0 until it returned.
  using Row = std::vector<std::string>;
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (Row{"row", "2", "8", "ran", "P1", "M1 (tid 101)", "preempted (async)"}));
  EXPECT_EQ(rows[1], (Row{"row", "20", "6", "ran", "P0", "M0 (tid 100)", "returned", "G1 main"}));
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0], (Row{"flow", "20", "G1 main", "1", "5"}));
}

TEST_F(TraceHtmlChromium, SelectFromTheUrlFragment) {
  const TraceJson t = sample();
  const std::string dom = dump_dom(gort::trace::html_page(t.json(), "gort trace test"), "#select=9");
  expect_rendered(dom, t);
  // G9's rows in the details panel: it ran on P1 and went into a system call,
  // then its P waited in the call.
  std::vector<std::string> rows;
  for (std::size_t at = dom.find("<tr class=\"g-row\""); at != std::string::npos;
       at = dom.find("<tr class=\"g-row\"", at + 1))
    rows.push_back(dom.substr(at, dom.find('>', at) - at));
  ASSERT_EQ(rows.size(), 2u) << dom.substr(dom.find("<section id=\"details\""));
  for (const std::string& r : rows) EXPECT_NE(r.find("data-goid=\"9\""), std::string::npos) << r;
  EXPECT_NE(rows[0].find("data-ts=\"15\" data-dur=\"4\" data-kind=\"ran\" data-p=\"P1\" data-m=\"M1 (tid 101)\""
                         " data-end=\"syscall\" data-cname=\"olive\""),
            std::string::npos)
      << rows[0];
  EXPECT_NE(rows[1].find("data-ts=\"19\" data-dur=\"3\" data-kind=\"syscall\" data-p=\"P1\""), std::string::npos)
      << rows[1];
  EXPECT_NE(dom.find("<h2 id=\"details-title\">G9 io</h2>"), std::string::npos);
}

TEST_F(TraceHtmlChromium, ShowsAnErrorForABadTrace) {
  const std::string dom = dump_dom(gort::trace::html_page("{\"traceEvents\": [", "broken"));
  ASSERT_NE(dom.find("<body"), std::string::npos) << "no DOM from chromium";
  EXPECT_NE(dom.find("data-rendered=\"error\""), std::string::npos);
  const std::string stats = element_text(dom, "<pre id=\"render-stats\"");
  EXPECT_EQ(stats.rfind("{\"error\":", 0), 0u) << stats;
  EXPECT_NE(element_text(dom, "<div id=\"error\"").find("viewer error"), std::string::npos);
}
