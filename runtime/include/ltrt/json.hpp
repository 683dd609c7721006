// A small JSON DOM that remembers where each value came from, so that the
// generator can report spec mistakes as file:line:col. Strict RFC 8259 parser
// and a serializer whose output Python's json module would also produce.
#pragma once

#include "ltrt/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ltrt::json {

enum class Kind { null, boolean, number, string, array, object };

// Name of a kind for messages: "null", "boolean", "number", ...
const char* kind_name(Kind kind);

struct Pos {
  int line = 0;  // 1-based; 0 = unknown
  int col = 0;   // 1-based, in bytes
};

struct Value {
  Kind kind = Kind::null;
  bool b = false;
  double num = 0;            // number value
  bool is_integer = false;   // the literal had no '.', 'e' or 'E' (and fits int64)
  std::int64_t integer = 0;  // valid when is_integer
  std::string str;
  std::vector<Value> items;                            // array
  std::vector<std::pair<std::string, Value>> members;  // object, in file order
  Pos pos;                                             // where the value starts
  std::vector<Pos> key_pos;                            // object: where each key starts

  const Value* find(std::string_view key) const;  // nullptr if absent (or not an object)

  bool is_null() const { return kind == Kind::null; }
  bool is_bool() const { return kind == Kind::boolean; }
  bool is_number() const { return kind == Kind::number; }
  bool is_string() const { return kind == Kind::string; }
  bool is_array() const { return kind == Kind::array; }
  bool is_object() const { return kind == Kind::object; }

  // Builders, for values made in code (hparams, checkpoint metadata).
  static Value make_null() { return Value{}; }
  static Value make_bool(bool v);
  static Value make_number(double v);          // written like Python's float: 1.0, 0.001
  static Value make_integer(std::int64_t v);   // written like Python's int: 1
  static Value make_string(std::string v);
  static Value make_array();
  static Value make_object();
  // Object: replaces the member named key, or appends it. Returns the stored value.
  Value& set(std::string key, Value v);
  // Array: appends. Returns the stored value.
  Value& push(Value v);
};

// A parse failure: what() is the bare message (no file name, no position;
// the caller prefixes "path:line:col: "), pos says where.
struct ParseError : ltrt::Error {
  Pos pos;
  ParseError(const std::string& message, Pos where) : ltrt::Error(message), pos(where) {}
};

struct ParseOptions {
  // Accept NaN, Infinity and -Infinity as Python's json module writes them
  // (not RFC 8259; off by default).
  bool allow_nan = false;
  // Nesting deeper than this is refused instead of exhausting the stack.
  int max_depth = 512;
};

// Strict RFC 8259: one value, surrounded by whitespace only; UTF-8 text (a
// leading byte order mark is skipped); duplicate object keys are an error.
Value parse(std::string_view text);
Value parse(std::string_view text, const ParseOptions& options);

// A JSON string literal, quotes included: '"', '\\' and control characters
// escaped, everything else (UTF-8 included) kept as is.
std::string quote(std::string_view s);

// Serializes v. indent < 0: compact ("," and ":" without spaces); indent >= 0:
// like Python's json.dumps(v, indent=indent). Integers are written as
// integers, other numbers like Python's repr(float); non-finite numbers as
// NaN / Infinity / -Infinity like Python (read them back with allow_nan).
std::string write(const Value& v, int indent = -1);

}  // namespace ltrt::json
