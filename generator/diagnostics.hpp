/// \file
/// User-facing errors: one message naming the place (file:line:col and the JSON
/// path), what is wrong, and for a misspelt name the nearest valid one.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <ltrt/config_reader.hpp>
#include <ltrt/json.hpp>

namespace ltgen {

struct SpecError : std::runtime_error {
  SpecError(std::string file, ltrt::json::Pos pos, std::string json_path, const std::string& message);
  std::string file;
  ltrt::json::Pos pos;
  std::string json_path;
  std::string message;

  /// An error another tool has already rendered with its places (clang's diagnostics of a hooks
  /// file): printed as it is.
  static SpecError rendered(std::string file, const std::string& text);

 private:
  struct Rendered {};
  SpecError(Rendered, std::string file, const std::string& text);
};

using ltrt::did_you_mean;  // "; did you mean 'Linear'?"
using ltrt::nearest;

}  // namespace ltgen
