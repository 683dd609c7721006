/// \file
/// Formats generated C++ with clang's libFormat, in the project's style (.clang-format at the
/// root of ltgen's home), so that generated/ reads like hand-written code.
#pragma once

#include <string>

namespace ltgen {

/// `code` formatted; `file_name` tells libFormat the language (.cpp, .hpp). The style is read from
/// ltgen's own .clang-format only, never from the output directory, so the result depends on the
/// code alone. Throws std::runtime_error when the style file is missing or invalid.
std::string format_source(const std::string& code, const std::string& file_name);

}  // namespace ltgen
