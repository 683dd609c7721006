/// \file
/// trainer.detect_anomaly (torch.autograd's anomaly mode, which Lightning turns on for fit): the
/// CPU training step checks what each backward node computed, and stops at the first NaN with the
/// node that made it, as torch raises "Function '...Backward' returned nan values".
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "ltrt/error.hpp"

namespace ltrt {

/// Throws an Error naming the backward node (`node`) and the gradient (`name`) when one of the
/// gradient's `count` floats is NaN.
inline void check_gradient(const float* gradient, std::int64_t count, const char* node, const char* name) {
  for (std::int64_t i = 0; i < count; ++i)
    if (std::isnan(gradient[i]))
      throw Error(std::string("detect_anomaly: the backward of ") + node + " returned nan values in " + name +
                  " (element " + std::to_string(i) + ")");
}

}  // namespace ltrt
