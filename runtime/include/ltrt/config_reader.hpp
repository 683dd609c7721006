// Reading checked values out of a JSON spec: typed accessors that remember
// which keys were asked for, so that every other key is reported as unknown
// with the nearest valid name. Used by ltgen (spec errors with file:line:col)
// and by generated programs (the spec's trainer section with command-line
// overrides), so that both apply the same rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ltrt/error.hpp"
#include "ltrt/json.hpp"

namespace ltrt {

// A mistake in a spec: where (JSON path and position) and what.
struct ConfigError : Error {
  ConfigError(std::string path, json::Pos pos, std::string message);
  std::string path;     // "trainer.max_epochs"; "(top level)" for the root
  json::Pos pos;        // 0:0 when unknown (a command-line override)
  std::string message;  // what is wrong, and the fix where one helps
};

// Levenshtein distance, ignoring case.
std::size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word` within a small edit distance, or "".
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);
// "; did you mean 'x'?" when some candidate is close, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// "an object", "the number 1.5", "the string \"x\"": for messages.
std::string describe(const json::Value& v);

class ConfigObject {
 public:
  // Throws ConfigError unless v is an object. path "" is the root.
  ConfigObject(const json::Value& v, std::string path);

  const json::Value* get(const std::string& key);  // nullptr if absent; marks the key known
  const json::Value& require(const std::string& key);
  std::int64_t integer(const std::string& key, std::int64_t def, std::int64_t min);
  double number(const std::string& key, double def, double min, double max);
  bool boolean(const std::string& key, bool def);
  // null is `def` (Python's None for an Optional argument) unless `nullable` is false.
  std::string string(const std::string& key, const std::string& def, const std::vector<std::string>& choices = {},
                     bool nullable = true);
  // A key that Lightning or torch has but ltgen does not implement yet.
  void not_yet(const std::string& key, const std::string& what);
  // Reports the first key nobody asked for.
  void finish() const;

  std::string path_of(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  [[noreturn]] void fail_here(const std::string& message) const;
  const json::Value& value() const { return v_; }

 private:
  const json::Value& v_;
  std::string path_;
  std::vector<std::string> known_;
};

// Reads an integer value (not a float literal) at least `min`.
std::int64_t read_integer(const json::Value& v, const std::string& path, std::int64_t min);

}  // namespace ltrt
