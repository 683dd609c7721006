// What the oracle drivers (<name>_driver.cpp, run by <name>_oracle.py) share: the cases they read
// as JSON from stdin, and float32 values written as their bits, which JSON carries exactly.
#pragma once

#include <cstdint>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>

#include "ltrt/json.hpp"

namespace ltrt_test {

inline ltrt::json::Value read_stdin_json() {
  const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return ltrt::json::parse(text);
}

inline std::int64_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float bits_float(std::int64_t bits) {
  const auto u = static_cast<std::uint32_t>(bits);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace ltrt_test
