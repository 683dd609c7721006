// Checked reading of JSON spec sections.
#include "ltrt/config_reader.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace ltrt {

namespace {
std::string where(const std::string& path) { return path.empty() ? "(top level)" : path; }

const char* with_article(json::Kind k) {
  switch (k) {
    case json::Kind::null: return "null";
    case json::Kind::boolean: return "a boolean";
    case json::Kind::number: return "a number";
    case json::Kind::string: return "a string";
    case json::Kind::array: return "an array";
    case json::Kind::object: return "an object";
  }
  return "?";
}
}  // namespace

ConfigError::ConfigError(std::string path_, json::Pos pos_, std::string message_)
    : Error(where(path_) + ": " + message_), path(where(path_)), pos(pos_), message(std::move(message_)) {}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string n = nearest(word, candidates);
  return n.empty() ? "" : "; did you mean '" + n + "'?";
}

std::string describe(const json::Value& v) {
  if (v.kind == json::Kind::number) return "the number " + json::write(v);
  if (v.kind == json::Kind::string) return "the string " + json::quote(v.str);
  return with_article(v.kind);
}

std::int64_t read_integer(const json::Value& v, const std::string& path, std::int64_t min) {
  if (v.kind != json::Kind::number || !v.is_integer)
    throw ConfigError(path, v.pos, "expected an integer, got " + describe(v));
  if (v.integer < min)
    throw ConfigError(path, v.pos, "must be at least " + std::to_string(min) + ", got " + std::to_string(v.integer));
  return v.integer;
}

ConfigObject::ConfigObject(const json::Value& v, std::string path) : v_(v), path_(std::move(path)) {
  if (v.kind != json::Kind::object)
    throw ConfigError(path_, v.pos, std::string("expected an object, got ") + with_article(v.kind));
}

std::string ConfigObject::path_of(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

const json::Value* ConfigObject::get(const std::string& key) {
  known_.push_back(key);
  return v_.find(key);
}

const json::Value& ConfigObject::require(const std::string& key) {
  const json::Value* v = get(key);
  if (!v) fail_here("missing required key '" + key + "'");
  return *v;
}

void ConfigObject::fail(const std::string& key, const std::string& message) const {
  const json::Value* v = v_.find(key);
  throw ConfigError(path_of(key), v ? v->pos : v_.pos, message);
}

void ConfigObject::fail_here(const std::string& message) const { throw ConfigError(path_, v_.pos, message); }

std::int64_t ConfigObject::integer(const std::string& key, std::int64_t def, std::int64_t min) {
  const json::Value* v = get(key);
  if (!v || v->kind == json::Kind::null) return def;
  return read_integer(*v, path_of(key), min);
}

double ConfigObject::number(const std::string& key, double def, double min, double max) {
  const json::Value* v = get(key);
  if (!v || v->kind == json::Kind::null) return def;
  if (v->kind != json::Kind::number) fail(key, "expected a number, got " + describe(*v));
  if (!(v->num >= min && v->num <= max)) {
    std::ostringstream os;
    os << "must be between " << min << " and " << max << ", got " << json::write(*v);
    fail(key, os.str());
  }
  return v->num;
}

bool ConfigObject::boolean(const std::string& key, bool def) {
  const json::Value* v = get(key);
  if (!v || v->kind == json::Kind::null) return def;
  if (v->kind != json::Kind::boolean) fail(key, "expected true or false, got " + describe(*v));
  return v->b;
}

std::string ConfigObject::string(const std::string& key, const std::string& def,
                                 const std::vector<std::string>& choices, bool nullable) {
  const json::Value* v = get(key);
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "'" : ", '") + c + "'";
  if (!v || (v->kind == json::Kind::null && nullable)) return def;
  if (v->kind != json::Kind::string)
    fail(key, "expected " + (choices.empty() ? std::string("a string") : "one of " + list) + ", got " + describe(*v));
  if (!choices.empty() && std::find(choices.begin(), choices.end(), v->str) == choices.end())
    fail(key, "'" + v->str + "' is not one of " + list + did_you_mean(v->str, choices));
  return v->str;
}

void ConfigObject::not_yet(const std::string& key, const std::string& what) {
  known_.push_back(key);
  if (v_.find(key)) fail(key, what + " is not supported yet (see README, 'Not supported yet')");
}

void ConfigObject::finish() const {
  for (std::size_t i = 0; i < v_.members.size(); ++i) {
    const std::string& key = v_.members[i].first;
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    const json::Pos pos = i < v_.key_pos.size() ? v_.key_pos[i] : v_.pos;
    throw ConfigError(path_of(key), pos, "unknown key '" + key + "'" + did_you_mean(key, known_));
  }
}

}  // namespace ltrt
