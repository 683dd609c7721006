// JSON: parsing with positions, strictness, errors with the right place, writing.
#include "ltrt/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace {

namespace json = ltrt::json;

// Parses text expecting a ParseError; returns it.
json::ParseError parse_error(const std::string& text, const json::ParseOptions& opt = {}) {
  try {
    json::parse(text, opt);
  } catch (const json::ParseError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for: " << text;
  return json::ParseError("", {});
}

void expect_error(const std::string& text, const std::string& message, int line, int col) {
  const json::ParseError e = parse_error(text);
  EXPECT_EQ(std::string(e.what()), message) << "for: " << text;
  EXPECT_EQ(e.pos.line, line) << "for: " << text;
  EXPECT_EQ(e.pos.col, col) << "for: " << text;
}

TEST(Json, ParsesObjectsInFileOrderWithPositions) {
  const std::string text = "{\n  \"b\": 1,\n  \"a\": [true, null, \"x\"],\n  \"c\": {\"d\": -2.5}\n}";
  const json::Value v = json::parse(text);
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.members.size(), 3u);
  EXPECT_EQ(v.members[0].first, "b");
  EXPECT_EQ(v.members[1].first, "a");
  EXPECT_EQ(v.members[2].first, "c");
  EXPECT_EQ(v.pos.line, 1);
  EXPECT_EQ(v.pos.col, 1);
  ASSERT_EQ(v.key_pos.size(), 3u);
  EXPECT_EQ(v.key_pos[1].line, 3);
  EXPECT_EQ(v.key_pos[1].col, 3);

  const json::Value* a = v.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->is_array());
  ASSERT_EQ(a->items.size(), 3u);
  EXPECT_TRUE(a->items[0].is_bool());
  EXPECT_TRUE(a->items[0].b);
  EXPECT_TRUE(a->items[1].is_null());
  EXPECT_EQ(a->items[2].str, "x");
  EXPECT_EQ(a->pos.line, 3);
  EXPECT_EQ(a->pos.col, 8);
  EXPECT_EQ(a->items[2].pos.col, 21);

  const json::Value* d = v.find("c")->find("d");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->num, -2.5);
  EXPECT_FALSE(d->is_integer);
  EXPECT_EQ(d->pos.line, 4);
  EXPECT_EQ(d->pos.col, 14);
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_EQ(a->find("a"), nullptr);  // not an object
}

TEST(Json, Numbers) {
  const json::Value v = json::parse("[0, -7, 12, 1.0, 1e2, 2E-3, 9223372036854775807, "
                                    "-9223372036854775808, 9223372036854775808, 1e-400]");
  ASSERT_EQ(v.items.size(), 10u);
  EXPECT_TRUE(v.items[0].is_integer);
  EXPECT_EQ(v.items[1].integer, -7);
  EXPECT_EQ(v.items[2].num, 12.0);
  EXPECT_FALSE(v.items[3].is_integer);
  EXPECT_EQ(v.items[3].num, 1.0);
  EXPECT_FALSE(v.items[4].is_integer);
  EXPECT_EQ(v.items[4].num, 100.0);
  EXPECT_EQ(v.items[5].num, 0.002);
  EXPECT_TRUE(v.items[6].is_integer);
  EXPECT_EQ(v.items[6].integer, INT64_MAX);
  EXPECT_TRUE(v.items[7].is_integer);
  EXPECT_EQ(v.items[7].integer, INT64_MIN);
  EXPECT_FALSE(v.items[8].is_integer);  // does not fit int64
  EXPECT_EQ(v.items[8].num, 9223372036854775808.0);
  EXPECT_EQ(v.items[9].num, 0.0);  // underflow is zero, like Python
}

TEST(Json, Strings) {
  const json::Value v = json::parse(R"(["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u20ac", "\ud83d\ude00", "caf\u00C9", "ü"])");
  EXPECT_EQ(v.items[0].str, "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(v.items[1].str, "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(v.items[2].str, "\xF0\x9F\x98\x80");
  EXPECT_EQ(v.items[3].str, "caf\xC3\x89");
  EXPECT_EQ(v.items[4].str, "\xC3\xBC");
}

TEST(Json, WhitespaceAndBom) {
  EXPECT_TRUE(json::parse(" \t\r\n 1 \r\n").is_number());
  const json::Value v = json::parse("\xEF\xBB\xBF{\"a\": 1}");
  EXPECT_EQ(v.find("a")->integer, 1);
  EXPECT_EQ(v.pos.col, 1);  // editors do not count the mark
}

TEST(Json, ErrorsSayWhatAndWhere) {
  expect_error("{\n  \"a\": 1\n  \"b\": 2\n}", "expected ',' or '}' after object member", 3, 3);
  expect_error("[1, 2\n 3]", "expected ',' or ']' after array element", 2, 2);
  expect_error("{\"a\": 1,}", "trailing comma before '}' is not allowed", 1, 9);
  expect_error("[1,]", "trailing comma before ']' is not allowed", 1, 4);
  expect_error("{\"a\" 1}", "expected ':' after object key \"a\"", 1, 6);
  expect_error("{a: 1}", "expected string key in object, found 'a'", 1, 2);
  expect_error("{\"x\": 1,\n \"x\": 2}", "duplicate key \"x\" (first at line 1, col 2)", 2, 2);
  expect_error("", "expected a JSON value, found end of input", 1, 1);
  expect_error("   ", "expected a JSON value, found end of input", 1, 4);
  expect_error("[1, 2", "unterminated array: expected ',' or ']', found end of input", 1, 6);
  expect_error("{\"a\": ", "expected a JSON value, found end of input", 1, 7);
  expect_error("1 2", "unexpected '2' after the JSON value", 1, 3);
  expect_error("{} x", "unexpected 'x' after the JSON value", 1, 4);
  expect_error("[tru]", "invalid literal: expected true, false or null", 1, 2);
  expect_error("['a']", "strings must use double quotes", 1, 2);
  expect_error("[01]", "invalid number: leading zeros are not allowed", 1, 3);
  expect_error("[1.]", "invalid number: expected a digit after '.'", 1, 4);
  expect_error("[.5]", "expected a JSON value, found '.'", 1, 2);
  expect_error("[-]", "invalid number: expected a digit after '-'", 1, 3);
  expect_error("[1e]", "invalid number: expected a digit in the exponent", 1, 4);
  expect_error("[+1]", "expected a JSON value, found '+'", 1, 2);
  expect_error("[1e999]", "number 1e999 is out of range for a double", 1, 2);
  expect_error("\n  \"abc", "unterminated string", 2, 3);
  expect_error("\"a\nb\"", "unterminated string (a line break inside a string must be written \\n)", 1, 3);
  expect_error("\"a\tb\"", "control character U+0009 in string must be escaped", 1, 3);
  expect_error(R"("a\qb")", "invalid escape \\q in string", 1, 3);
  expect_error(R"("\u12G4")", "invalid \\u escape: expected 4 hex digits", 1, 6);
  expect_error(R"(["\ud800"])", "invalid \\u escape: unpaired high surrogate", 1, 3);
  expect_error(R"(["\udc00"])", "invalid \\u escape: unpaired low surrogate", 1, 3);
  expect_error("\"\xff\"", "invalid UTF-8 byte 0xff in string", 1, 2);
  expect_error("\"\xC3\"", "invalid UTF-8 sequence in string", 1, 2);
  expect_error("\"\xC3", "truncated UTF-8 sequence in string", 1, 2);
  expect_error("\"\xC0\x80\"", "invalid UTF-8 byte 0xc0 in string", 1, 2);
  expect_error("\"\xED\xA0\x80\"", "invalid UTF-8 sequence in string", 1, 2);
  expect_error("[NaN]", "expected a JSON value, found 'N'", 1, 2);
  expect_error("[Infinity]", "expected a JSON value, found 'I'", 1, 2);
  expect_error("\x01", "expected a JSON value, found byte 0x01", 1, 1);
}

TEST(Json, DepthLimit) {
  const std::string deep = std::string(600, '[') + std::string(600, ']');
  const json::ParseError e = parse_error(deep);
  EXPECT_EQ(std::string(e.what()), "nesting deeper than 512 levels");
  const std::string ok = std::string(100, '[') + std::string(100, ']');
  EXPECT_NO_THROW(json::parse(ok));
  // A huge nesting must not overflow the stack.
  const std::string huge(1000000, '[');
  EXPECT_THROW(json::parse(huge), json::ParseError);
}

TEST(Json, AllowNan) {
  json::ParseOptions opt;
  opt.allow_nan = true;
  const json::Value v = json::parse("[NaN, Infinity, -Infinity, 1]", opt);
  EXPECT_TRUE(std::isnan(v.items[0].num));
  EXPECT_EQ(v.items[1].num, HUGE_VAL);
  EXPECT_EQ(v.items[2].num, -HUGE_VAL);
  EXPECT_EQ(json::write(v), "[NaN,Infinity,-Infinity,1]");
}

TEST(Json, ParseErrorIsAnLtrtError) {
  EXPECT_THROW(json::parse("{"), ltrt::Error);
}

TEST(Json, Quote) {
  EXPECT_EQ(json::quote("plain"), "\"plain\"");
  EXPECT_EQ(json::quote("a\"b\\c\n\t\r\b\f"), R"("a\"b\\c\n\t\r\b\f")");
  EXPECT_EQ(json::quote(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(json::quote("\xC3\xA9"), "\"\xC3\xA9\"");
  EXPECT_EQ(json::quote(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(Json, WriteCompactAndIndented) {
  const std::string text = R"({"name": "linear", "lr": 0.1, "one": 1.0, "n": 3, "tiny": 1e-05,
                              "ok": true, "none": null, "list": [1, [], {}], "empty": {}})";
  const json::Value v = json::parse(text);
  EXPECT_EQ(json::write(v),
            R"({"name":"linear","lr":0.1,"one":1.0,"n":3,"tiny":1e-05,"ok":true,"none":null,"list":[1,[],{}],"empty":{}})");
  // What Python's json.dumps(v, indent=2) prints.
  EXPECT_EQ(json::write(v, 2), R"({
  "name": "linear",
  "lr": 0.1,
  "one": 1.0,
  "n": 3,
  "tiny": 1e-05,
  "ok": true,
  "none": null,
  "list": [
    1,
    [],
    {}
  ],
  "empty": {}
})");
  // Writing and reading back gives the same text.
  EXPECT_EQ(json::write(json::parse(json::write(v))), json::write(v));
  EXPECT_EQ(json::write(json::parse(json::write(v, 4))), json::write(v));
}

TEST(Json, Builders) {
  json::Value v = json::Value::make_object();
  v.set("b", json::Value::make_integer(1));
  v.set("a", json::Value::make_number(2.0));
  json::Value& list = v.set("list", json::Value::make_array());
  list.push(json::Value::make_string("x\"y"));
  list.push(json::Value::make_bool(false));
  list.push(json::Value::make_null());
  v.set("b", json::Value::make_integer(7));  // replaces, keeps the place
  EXPECT_EQ(json::write(v), R"({"b":7,"a":2.0,"list":["x\"y",false,null]})");
  EXPECT_EQ(v.members.size(), v.key_pos.size());
  json::Value n = json::Value::make_integer(1);
  EXPECT_THROW(n.set("a", {}), ltrt::Error);
  EXPECT_THROW(n.push({}), ltrt::Error);
}

}  // namespace
