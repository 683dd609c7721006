// Python's repr(float), built on std::to_chars' shortest round-trip digits.
#include "ltrt/python_repr.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace ltrt {

std::string python_repr(double x) {
  if (std::isnan(x)) return "nan";  // Python drops the sign of a NaN
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";

  // Scientific form gives the shortest digits and the exponent in one go:
  // "-1.2345e-05" -> sign "-", digits "12345", exponent -5.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);
  std::string out;
  std::size_t i = 0;
  if (sci[i] == '-') {
    out += '-';
    ++i;
  }
  std::string digits;
  for (; i < sci.size() && sci[i] != 'e'; ++i)
    if (sci[i] != '.') digits += sci[i];
  const int exponent = std::atoi(sci.c_str() + i + 1);

  // decpt: where the decimal point goes, counted from the first digit
  // (CPython's format_float_short uses the same rule for repr).
  const int decpt = exponent + 1;
  const int n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (n > 1) out += '.' + digits.substr(1);
    const int e = decpt - 1;
    out += e < 0 ? "e-" : "e+";
    const std::string e_digits = std::to_string(std::abs(e));
    if (e_digits.size() < 2) out += '0';
    out += e_digits;
  } else if (decpt <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
  } else if (decpt >= n) {
    out += digits + std::string(static_cast<std::size_t>(decpt - n), '0') + ".0";
  } else {
    out += digits.substr(0, static_cast<std::size_t>(decpt)) + '.' +
           digits.substr(static_cast<std::size_t>(decpt));
  }
  return out;
}

}  // namespace ltrt
