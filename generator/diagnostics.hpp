/// \file
/// User-facing errors: one message naming the place (file:line:col and the JSON
/// path), what is wrong, and for a misspelt name the nearest valid one.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <ltrt/json.hpp>

namespace ltgen {

struct SpecError : std::runtime_error {
  SpecError(std::string file, ltrt::json::Pos pos, std::string json_path, const std::string& message);
  std::string file;
  ltrt::json::Pos pos;
  std::string json_path;
  std::string message;
};

/// "did you mean 'Linear'?" when some candidate is close to `word`, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
/// The closest candidate within a small edit distance, or "".
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace ltgen
