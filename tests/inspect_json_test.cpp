// The tools' JSON writer (gort/inspect/json.h), shared by the gort
// commands' --json and the execution trace's JSON: commas and nesting,
// every kind of value, untrusted strings (control bytes, invalid UTF-8)
// always giving valid JSON, '<' escaped only for text bound for an HTML
// page, and the FILE form writing through its buffer.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "command_testing.h"
#include "gort/inspect/json.h"
#include "json_testing.h"

namespace {

using gort::inspect::append_json_string;
using gort::inspect::JsonWriter;

template <class F>
std::string written(F&& f, bool html_safe = false) {
  std::string out;
  {
    JsonWriter j(&out, html_safe);
    f(j);
  }
  return out;
}

TEST(InspectJson, NestingAndValues) {
  const std::string s = written([](JsonWriter& j) {
    j.begin_object().field("s", "a").field("b", true).field("i", std::int64_t{-3}).field("u", std::uint64_t{18446744073709551615u});
    j.field("d", 0.5).hex("pc", 0x401000).micros("ts", 1234567).begin_array("a");
    j.value(std::int64_t{1}).value("x").begin_object().end_object().end_array();
    j.field("null", static_cast<const char*>(nullptr)).end_object();
  });
  EXPECT_EQ(s, R"({"s":"a","b":true,"i":-3,"u":18446744073709551615,"d":0.5,"pc":"0x401000","ts":1234.567,)"
               R"("a":[1,"x",{}],"null":""})");
  json_testing::Json doc = json_testing::JsonParser(s).parse();
  EXPECT_EQ(doc["a"].arr.size(), 3u);
}

TEST(InspectJson, UntrustedStringsStayValid) {
  const std::string bytes = std::string("q\"b\\n\n\t\x01\x7f") + "\xff" + "\xc3\xa9" + "\xe2\x82";
  const std::string s = written([&](JsonWriter& j) { j.begin_object().field("k", bytes).end_object(); });
  EXPECT_EQ(s, "{\"k\":\"q\\\"b\\\\n\\n\\t\\u0001\\u007f\\ufffd\xc3\xa9\\ufffd\\ufffd\"}");
  EXPECT_EQ(json_testing::JsonParser(s).parse()["k"].str, "q\"b\\n\n\t\x01\x7f\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(InspectJson, LessThanIsEscapedOnlyForHtml) {
  auto doc = [](JsonWriter& j) { j.begin_object().field("f", "std::vector<int></script>").end_object(); };
  EXPECT_EQ(written(doc), R"({"f":"std::vector<int></script>"})");
  EXPECT_EQ(written(doc, true), R"({"f":"std::vector\u003cint>\u003c/script>"})");
  std::string a, b;
  append_json_string(&a, "<x>");
  append_json_string(&b, "<x>", true);
  EXPECT_EQ(a, R"("<x>")");
  EXPECT_EQ(b, R"("\u003cx>")");
}

// Through the 1 MiB buffer to a FILE, more than fits in it.
TEST(InspectJson, FileOutputThroughTheBuffer) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  const std::string big(3 << 20, 'x');
  {
    JsonWriter j(f);
    j.begin_array().value(big).value(std::int64_t{7}).end_array();
    ASSERT_TRUE(j.flush());
  }
  const std::string back = command_testing::slurp_fd(fileno(f));  // flush() has emptied f's buffer
  std::fclose(f);
  EXPECT_EQ(back, "[\"" + big + "\",7]");
}

}  // namespace
