// A YAML emitter for JSON values that follows PyYAML's yaml.dump output.
#include "ltrt/hparams_yaml.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/python_repr.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>

namespace ltrt {

namespace {

using json::Kind;
using json::Value;

// PyYAML's implicit resolvers (YAML 1.1): a plain scalar matching one of
// these would load as a bool, number, null, timestamp, ... so a string that
// matches must be quoted.
bool resolves_to_non_string(const std::string& s) {
  static const std::regex kPatterns[] = {
      std::regex("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"),
      std::regex("[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
                 "|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)"),
      std::regex("[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
                 "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"),
      std::regex("<<|=|~|null|Null|NULL"),
      std::regex("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
                 "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \\t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9]"
                 "(?:\\.[0-9]*)?(?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?"),
  };
  for (const auto& re : kPatterns)
    if (std::regex_match(s, re)) return true;
  return false;
}

// PyYAML's analyze_scalar, reduced to what decides plain vs quoted in block context.
bool plain_allowed(const std::string& s) {
  if (s.empty()) return false;
  if (s.front() == ' ' || s.back() == ' ') return false;
  if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) return false;
  if (std::string_view("#,[]{}&*!|>'\"%@`").find(s[0]) != std::string_view::npos) return false;
  const auto followed_by_space = [&](std::size_t k) { return k + 1 == s.size() || s[k + 1] == ' '; };
  if ((s[0] == '?' || s[0] == ':' || s[0] == '-') && followed_by_space(0)) return false;
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (s[k] == ':' && followed_by_space(k)) return false;
    if (s[k] == '#' && k > 0 && s[k - 1] == ' ') return false;
  }
  return !resolves_to_non_string(s);
}

// Decodes one UTF-8 sequence at s[k] (advancing k); invalid bytes decode as themselves.
std::uint32_t next_code_point(const std::string& s, std::size_t& k) {
  const auto b0 = static_cast<unsigned char>(s[k++]);
  int extra = b0 >= 0xf0 ? 3 : b0 >= 0xe0 ? 2 : b0 >= 0xc0 ? 1 : 0;
  std::uint32_t cp = extra == 3 ? (b0 & 0x07u) : extra == 2 ? (b0 & 0x0fu) : extra == 1 ? (b0 & 0x1fu) : b0;
  if (b0 >= 0x80 && extra == 0) return b0;
  for (; extra > 0; --extra) {
    if (k >= s.size() || (static_cast<unsigned char>(s[k]) & 0xc0) != 0x80) return b0;
    cp = (cp << 6) | (static_cast<unsigned char>(s[k++]) & 0x3fu);
  }
  return cp;
}

// yaml.dump without allow_unicode escapes everything outside printable ASCII.
std::string double_quoted(const std::string& s) {
  std::string out = "\"";
  for (std::size_t k = 0; k < s.size();) {
    const std::uint32_t cp = next_code_point(s, k);
    char buf[16];
    switch (cp) {
      case 0: out += "\\0"; continue;
      case 0x07: out += "\\a"; continue;
      case 0x08: out += "\\b"; continue;
      case 0x09: out += "\\t"; continue;
      case 0x0a: out += "\\n"; continue;
      case 0x0b: out += "\\v"; continue;
      case 0x0c: out += "\\f"; continue;
      case 0x0d: out += "\\r"; continue;
      case 0x1b: out += "\\e"; continue;
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case 0x85: out += "\\N"; continue;
      case 0xa0: out += "\\_"; continue;
      case 0x2028: out += "\\L"; continue;
      case 0x2029: out += "\\P"; continue;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7f) {
      out += static_cast<char>(cp);
      continue;
    }
    if (cp <= 0xff) std::snprintf(buf, sizeof buf, "\\x%02X", cp);
    else if (cp <= 0xffff) std::snprintf(buf, sizeof buf, "\\u%04X", cp);
    else std::snprintf(buf, sizeof buf, "\\U%08X", cp);
    out += buf;
  }
  return out + "\"";
}

std::string string_scalar(const std::string& s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return double_quoted(s);
  }
  if (plain_allowed(s)) return s;
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// PyYAML's represent_float: repr(), lowercased, with ".0" added before a bare
// exponent ("1e-05" -> "1.0e-05") so that it reads back as a float.
std::string float_scalar(double x) {
  if (std::isnan(x)) return ".nan";
  if (std::isinf(x)) return x > 0 ? ".inf" : "-.inf";
  std::string r = python_repr(x);
  if (r.find('.') == std::string::npos) {
    const std::size_t e = r.find('e');
    if (e != std::string::npos) r.insert(e, ".0");
  }
  return r;
}

std::string scalar(const Value& v) {
  switch (v.kind) {
    case Kind::null: return "null";
    case Kind::boolean: return v.b ? "true" : "false";
    case Kind::number: return v.is_integer ? std::to_string(v.integer) : float_scalar(v.num);
    case Kind::string: return string_scalar(v.str);
    case Kind::array: return "[]";    // only reached when empty
    case Kind::object: return "{}";   // only reached when empty
  }
  return "null";
}

bool is_block(const Value& v) {
  return (v.is_object() && !v.members.empty()) || (v.is_array() && !v.items.empty());
}

void write_sequence(std::string& out, const Value& v, int indent, bool inline_first);

// inline_first: the first line continues a "- " already written.
void write_mapping(std::string& out, const Value& v, int indent, bool inline_first) {
  std::vector<const std::pair<std::string, Value>*> members;
  for (const auto& m : v.members) members.push_back(&m);
  std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  bool first = true;
  for (const auto* m : members) {
    if (!(first && inline_first)) out.append(static_cast<std::size_t>(indent), ' ');
    first = false;
    out += string_scalar(m->first) + ":";
    const Value& child = m->second;
    if (child.is_object() && is_block(child)) {
      out += '\n';
      write_mapping(out, child, indent + 2, false);
    } else if (child.is_array() && is_block(child)) {
      out += '\n';
      write_sequence(out, child, indent, false);  // PyYAML does not indent a list under its key
    } else {
      out += ' ' + scalar(child) + '\n';
    }
  }
}

void write_sequence(std::string& out, const Value& v, int indent, bool inline_first) {
  bool first = true;
  for (const Value& item : v.items) {
    if (!(first && inline_first)) out.append(static_cast<std::size_t>(indent), ' ');
    first = false;
    out += "- ";
    if (item.is_object() && is_block(item)) write_mapping(out, item, indent + 2, true);
    else if (item.is_array() && is_block(item)) write_sequence(out, item, indent + 2, true);
    else out += scalar(item) + '\n';
  }
}

}  // namespace

std::string hparams_yaml(const json::Value& hparams) {
  if (!hparams.is_object())
    throw Error(std::string("hparams.yaml: hparams must be an object, not a ") + json::kind_name(hparams.kind));
  if (hparams.members.empty()) return "{}\n";
  std::string out;
  write_mapping(out, hparams, 0, false);
  return out;
}

void write_hparams_yaml(const std::string& path, const json::Value& hparams) {
  write_file_atomic(path, hparams_yaml(hparams));
}

}  // namespace ltrt
