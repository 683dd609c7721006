/// \file
/// ltgen's version, written into every generated file.
#pragma once

namespace ltgen {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace ltgen
