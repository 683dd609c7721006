#include "diagnostics.hpp"

#include <algorithm>
#include <cctype>

namespace ltgen {

namespace {
// A value quoted from the spec may hold control characters (a "\n" in a type's name): escaped, so
// that every message stays on one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (u < 0x20 || u == 0x7f) {
      const char* hex = "0123456789abcdef";
      out += std::string("\\x") + hex[u >> 4] + hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

std::string format(const std::string& file, ltrt::json::Pos pos, const std::string& path,
                   const std::string& message) {
  std::string out = file;
  if (pos.line > 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
  out += ": error: ";
  if (!path.empty()) out += one_line(path) + ": ";
  return out + one_line(message);
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
