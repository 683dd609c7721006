#include "format_source.hpp"

#include <clang/Format/Format.h>
#include <clang/Tooling/Core/Replacement.h>
#include <llvm/Support/Error.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "emit_project.hpp"

namespace ltgen {

namespace {

// The project's .clang-format, read once.
const clang::format::FormatStyle& project_style() {
  static const clang::format::FormatStyle style = [] {
    const std::string path = ltgen_home() + "/.clang-format";
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot read the style of generated code");
    std::stringstream ss;
    ss << in.rdbuf();
    clang::format::FormatStyle s = clang::format::getNoStyle();
    s.Language = clang::format::FormatStyle::LK_Cpp;
    if (const std::error_code ec = clang::format::parseConfiguration(ss.str(), &s))
      throw std::runtime_error(path + ": invalid style: " + ec.message());
    return s;
  }();
  return style;
}

}  // namespace

std::string format_source(const std::string& code, const std::string& file_name) {
  const clang::tooling::Replacements replacements = clang::format::reformat(
      project_style(), code, {clang::tooling::Range(0, static_cast<unsigned>(code.size()))}, file_name);
  llvm::Expected<std::string> formatted = clang::tooling::applyAllReplacements(code, replacements);
  if (!formatted) throw std::runtime_error(file_name + ": formatting failed: " + llvm::toString(formatted.takeError()));
  return *formatted;
}

}  // namespace ltgen
