// Python's text for numbers, so that files the runtime writes (metrics.csv,
// hparams.yaml, JSON metadata) match what Lightning writes byte for byte.
#pragma once

#include <string>

namespace ltrt {

// repr(float) / str(float) in Python 3: the shortest digits that round-trip,
// fixed notation for 1e-4 <= |x| < 1e16, else exponent notation.
// 0.1 -> "0.1", 1.0 -> "1.0", 1e-05 -> "1e-05", 1e16 -> "1e+16", "inf", "nan".
std::string python_repr(double x);

}  // namespace ltrt
