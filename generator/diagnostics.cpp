#include "diagnostics.hpp"

#include <algorithm>
#include <cctype>

namespace ltgen {

namespace {
std::string format(const std::string& file, ltrt::json::Pos pos, const std::string& path,
                   const std::string& message) {
  std::string out = file;
  if (pos.line > 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
  out += ": error: ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

}  // namespace

SpecError::SpecError(std::string file_, ltrt::json::Pos pos_, std::string json_path_,
                     const std::string& message_)
    : std::runtime_error(format(file_, pos_, json_path_, message_)),
      file(std::move(file_)),
      pos(pos_),
      json_path(std::move(json_path_)),
      message(message_) {}

SpecError::SpecError(Rendered, std::string file_, const std::string& text)
    : std::runtime_error(text), file(std::move(file_)), message(text) {}

SpecError SpecError::rendered(std::string file, const std::string& text) {
  return SpecError(Rendered{}, std::move(file), text);
}

}  // namespace ltgen
