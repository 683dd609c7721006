// JSON: a recursive-descent parser that records positions, and a serializer.
#include "ltrt/json.hpp"

#include "ltrt/python_repr.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace ltrt::json {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::null: return "null";
    case Kind::boolean: return "boolean";
    case Kind::number: return "number";
    case Kind::string: return "string";
    case Kind::array: return "array";
    case Kind::object: return "object";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Value

const Value* Value::find(std::string_view key) const {
  if (kind != Kind::object) return nullptr;
  for (const auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

Value Value::make_bool(bool v) {
  Value out;
  out.kind = Kind::boolean;
  out.b = v;
  return out;
}

Value Value::make_number(double v) {
  Value out;
  out.kind = Kind::number;
  out.num = v;
  return out;
}

Value Value::make_integer(std::int64_t v) {
  Value out;
  out.kind = Kind::number;
  out.num = static_cast<double>(v);
  out.is_integer = true;
  out.integer = v;
  return out;
}

Value Value::make_string(std::string v) {
  Value out;
  out.kind = Kind::string;
  out.str = std::move(v);
  return out;
}

Value Value::make_array() {
  Value out;
  out.kind = Kind::array;
  return out;
}

Value Value::make_object() {
  Value out;
  out.kind = Kind::object;
  return out;
}

Value& Value::set(std::string key, Value v) {
  if (kind != Kind::object) throw Error("json: set(\"" + key + "\") on a " + kind_name(kind));
  for (auto& [k, existing] : members) {
    if (k == key) {
      existing = std::move(v);
      return existing;
    }
  }
  members.emplace_back(std::move(key), std::move(v));
  key_pos.push_back(Pos{});
  return members.back().second;
}

Value& Value::push(Value v) {
  if (kind != Kind::array) throw Error(std::string("json: push() on a ") + kind_name(kind));
  items.push_back(std::move(v));
  return items.back();
}

// ---------------------------------------------------------------------------
// Parser

namespace {

std::string describe_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
  return buf;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options) : s_(text), opt_(options) {}

  Value parse_document() {
    // A UTF-8 byte order mark is not JSON, but editors on Windows add it.
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") i_ = line_start_ = 3;
    skip_ws();
    if (at_end()) fail("expected a JSON value, found end of input");
    Value v = parse_value(0);
    skip_ws();
    if (!at_end()) fail("unexpected " + describe_byte(s_[i_]) + " after the JSON value");
    return v;
  }

 private:
  std::string_view s_;
  const ParseOptions& opt_;
  std::size_t i_ = 0;
  int line_ = 1;
  std::size_t line_start_ = 0;

  bool at_end() const { return i_ >= s_.size(); }
  Pos pos() const { return Pos{line_, static_cast<int>(i_ - line_start_) + 1}; }
  [[noreturn]] void fail(const std::string& msg) const { throw ParseError(msg, pos()); }
  [[noreturn]] void fail_at(const std::string& msg, Pos where) const { throw ParseError(msg, where); }

  void skip_ws() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '\n') {
        ++i_;
        ++line_;
        line_start_ = i_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
      } else {
        break;
      }
    }
  }

  bool consume_word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  Value parse_value(int depth) {
    if (at_end()) fail("expected a JSON value, found end of input");
    Value v;
    v.pos = pos();
    const char c = s_[i_];
    switch (c) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"':
        v.kind = Kind::string;
        v.str = parse_string();
        return v;
      case 't':
      case 'f':
      case 'n':
        if (consume_word("true")) return with_pos(Value::make_bool(true), v.pos);
        if (consume_word("false")) return with_pos(Value::make_bool(false), v.pos);
        if (consume_word("null")) return v;
        fail("invalid literal: expected true, false or null");
      default: break;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    if (opt_.allow_nan) {
      if (consume_word("NaN")) return with_pos(Value::make_number(std::nan("")), v.pos);
      if (consume_word("Infinity")) return with_pos(Value::make_number(HUGE_VAL), v.pos);
    }
    if (c == '\'') fail("strings must use double quotes");
    fail("expected a JSON value, found " + describe_byte(c));
  }

  static Value with_pos(Value v, Pos p) {
    v.pos = p;
    return v;
  }

  Value parse_object(int depth) {
    if (depth > opt_.max_depth) fail("nesting deeper than " + std::to_string(opt_.max_depth) + " levels");
    Value v = Value::make_object();
    v.pos = pos();
    ++i_;  // '{'
    skip_ws();
    if (!at_end() && s_[i_] == '}') {
      ++i_;
      return v;
    }
    for (;;) {
      if (at_end()) fail("unterminated object: expected string key, found end of input");
      if (s_[i_] != '"') {
        if (s_[i_] == '}' && !v.members.empty()) fail("trailing comma before '}' is not allowed");
        fail("expected string key in object, found " + describe_byte(s_[i_]));
      }
      const Pos key_at = pos();
      std::string key = parse_string();
      for (std::size_t k = 0; k < v.members.size(); ++k) {
        if (v.members[k].first == key) {
          const Pos first = v.key_pos[k];
          fail_at("duplicate key " + quote(key) + " (first at line " + std::to_string(first.line) +
                      ", col " + std::to_string(first.col) + ")",
                  key_at);
        }
      }
      skip_ws();
      if (at_end() || s_[i_] != ':') fail("expected ':' after object key " + quote(key));
      ++i_;
      skip_ws();
      Value member = parse_value(depth);
      v.members.emplace_back(std::move(key), std::move(member));
      v.key_pos.push_back(key_at);
      skip_ws();
      if (at_end()) fail("unterminated object: expected ',' or '}', found end of input");
      if (s_[i_] == ',') {
        ++i_;
        skip_ws();
        continue;
      }
      if (s_[i_] == '}') {
        ++i_;
        return v;
      }
      fail("expected ',' or '}' after object member");
    }
  }

  Value parse_array(int depth) {
    if (depth > opt_.max_depth) fail("nesting deeper than " + std::to_string(opt_.max_depth) + " levels");
    Value v = Value::make_array();
    v.pos = pos();
    ++i_;  // '['
    skip_ws();
    if (!at_end() && s_[i_] == ']') {
      ++i_;
      return v;
    }
    for (;;) {
      if (!at_end() && s_[i_] == ']') fail("trailing comma before ']' is not allowed");
      v.items.push_back(parse_value(depth));
      skip_ws();
      if (at_end()) fail("unterminated array: expected ',' or ']', found end of input");
      if (s_[i_] == ',') {
        ++i_;
        skip_ws();
        continue;
      }
      if (s_[i_] == ']') {
        ++i_;
        return v;
      }
      fail("expected ',' or ']' after array element");
    }
  }

  unsigned parse_hex4() {
    if (s_.size() - i_ < 4) fail("invalid \\u escape: expected 4 hex digits");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_];
      unsigned d;
      if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
      else fail("invalid \\u escape: expected 4 hex digits");
      v = v * 16 + d;
      ++i_;
    }
    return v;
  }

  // Checks one UTF-8 sequence starting at i_ and copies it to out.
  void copy_utf8(std::string& out) {
    const auto b0 = static_cast<unsigned char>(s_[i_]);
    int len;
    std::uint32_t min;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      len = 2;
      min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      len = 3;
      min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      len = 4;
      min = 0x10000;
    } else {
      fail("invalid UTF-8 " + describe_byte(s_[i_]) + " in string");
    }
    if (s_.size() - i_ < static_cast<std::size_t>(len)) fail("truncated UTF-8 sequence in string");
    std::uint32_t cp = b0 & (0xff >> (len + 1));
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s_[i_ + static_cast<std::size_t>(k)]);
      if ((b & 0xc0) != 0x80) fail("invalid UTF-8 sequence in string");
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      fail("invalid UTF-8 sequence in string");
    out.append(s_.substr(i_, static_cast<std::size_t>(len)));
    i_ += static_cast<std::size_t>(len);
  }

  std::string parse_string() {
    const Pos start = pos();
    ++i_;  // '"'
    std::string out;
    for (;;) {
      if (at_end()) fail_at("unterminated string", start);
      const char c = s_[i_];
      const auto u = static_cast<unsigned char>(c);
      if (c == '"') {
        ++i_;
        return out;
      }
      if (u < 0x20) {
        if (c == '\n') fail("unterminated string (a line break inside a string must be written \\n)");
        char buf[64];
        std::snprintf(buf, sizeof buf, "control character U+%04X in string must be escaped", u);
        fail(buf);
      }
      if (u >= 0x80) {
        copy_utf8(out);
        continue;
      }
      if (c != '\\') {
        out += c;
        ++i_;
        continue;
      }
      ++i_;
      if (at_end()) fail_at("unterminated string", start);
      const char e = s_[i_];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const Pos esc = Pos{line_, static_cast<int>(i_ - line_start_)};  // at the backslash
          ++i_;
          std::uint32_t cp = parse_hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) fail_at("invalid \\u escape: unpaired low surrogate", esc);
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (s_.substr(i_, 2) != "\\u") fail_at("invalid \\u escape: unpaired high surrogate", esc);
            i_ += 2;
            const std::uint32_t lo = parse_hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail_at("invalid \\u escape: unpaired high surrogate", esc);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          append_utf8(out, cp);
          continue;
        }
        default:
          --i_;
          fail("invalid escape \\" + std::string(1, e) + " in string");
      }
      ++i_;
    }
  }

  Value parse_number() {
    Value v;
    v.kind = Kind::number;
    v.pos = pos();
    const std::size_t begin = i_;
    auto digit = [&] { return !at_end() && s_[i_] >= '0' && s_[i_] <= '9'; };
    if (s_[i_] == '-') {
      ++i_;
      if (opt_.allow_nan && consume_word("Infinity")) return with_pos(Value::make_number(-HUGE_VAL), v.pos);
    }
    if (!digit()) fail("invalid number: expected a digit after '-'");
    if (s_[i_] == '0') {
      ++i_;
      if (digit()) fail("invalid number: leading zeros are not allowed");
    } else {
      while (digit()) ++i_;
    }
    bool integral = true;
    if (!at_end() && s_[i_] == '.') {
      integral = false;
      ++i_;
      if (!digit()) fail("invalid number: expected a digit after '.'");
      while (digit()) ++i_;
    }
    if (!at_end() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integral = false;
      ++i_;
      if (!at_end() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digit()) fail("invalid number: expected a digit in the exponent");
      while (digit()) ++i_;
    }
    const char* first = s_.data() + begin;
    const char* last = s_.data() + i_;
    if (integral) {
      std::int64_t n = 0;
      const auto r = std::from_chars(first, last, n);
      if (r.ec == std::errc() && r.ptr == last) {
        v.is_integer = true;
        v.integer = n;
      }
    }
    const auto r = std::from_chars(first, last, v.num);
    if (r.ec == std::errc::result_out_of_range) {
      // from_chars reports underflow and overflow alike; only overflow is an error.
      const std::string literal(first, last);
      const double d = std::strtod(literal.c_str(), nullptr);
      if (std::isinf(d)) fail_at("number " + literal + " is out of range for a double", v.pos);
      v.num = d;
    } else if (r.ec != std::errc() || r.ptr != last) {
      fail_at("invalid number", v.pos);
    }
    return v;
  }
};

// ---------------------------------------------------------------------------
// Writer

void write_number(std::string& out, const Value& v) {
  if (v.is_integer) {
    out += std::to_string(v.integer);
  } else if (std::isnan(v.num)) {
    out += "NaN";
  } else if (std::isinf(v.num)) {
    out += v.num > 0 ? "Infinity" : "-Infinity";
  } else {
    out += python_repr(v.num);
  }
}

void newline(std::string& out, int indent, int depth) {
  out += '\n';
  out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(depth), ' ');
}

void write_value(std::string& out, const Value& v, int indent, int depth) {
  switch (v.kind) {
    case Kind::null: out += "null"; return;
    case Kind::boolean: out += v.b ? "true" : "false"; return;
    case Kind::number: write_number(out, v); return;
    case Kind::string: out += quote(v.str); return;
    case Kind::array: {
      if (v.items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t k = 0; k < v.items.size(); ++k) {
        if (k > 0) out += ',';
        if (indent >= 0) newline(out, indent, depth + 1);
        write_value(out, v.items[k], indent, depth + 1);
      }
      if (indent >= 0) newline(out, indent, depth);
      out += ']';
      return;
    }
    case Kind::object: {
      if (v.members.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      for (std::size_t k = 0; k < v.members.size(); ++k) {
        if (k > 0) out += ',';
        if (indent >= 0) newline(out, indent, depth + 1);
        out += quote(v.members[k].first);
        out += indent < 0 ? ":" : ": ";
        write_value(out, v.members[k].second, indent, depth + 1);
      }
      if (indent >= 0) newline(out, indent, depth);
      out += '}';
      return;
    }
  }
}

}  // namespace

Value parse(std::string_view text) { return parse(text, ParseOptions{}); }

Value parse(std::string_view text, const ParseOptions& options) {
  return Parser(text, options).parse_document();
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string write(const Value& v, int indent) {
  std::string out;
  write_value(out, v, indent, 0);
  return out;
}

}  // namespace ltrt::json
