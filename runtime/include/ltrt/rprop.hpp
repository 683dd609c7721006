// torch.optim.Rprop, the single-tensor (for-loop) implementation that runs by default on the CPU,
// applied to one flat float32 region.
#pragma once

#include <cstdint>

#include "ltrt/host_device.hpp"

namespace ltrt {

struct RpropArgs {
  double lr;                        // fills step_size on the first step only (torch's state init)
  double etaminus, etaplus;         // etas
  double step_size_min, step_size_max;  // step_sizes
  bool maximize;
};

// One step over n elements; `first_step`: step_size starts at lr (torch's full_like at its first
// step), prev at 0.
//
//   g = maximize ? -grad : grad
//   s = sign(g * prev) (0 for NaN, as torch.sign), then etaplus where s > 0, etaminus where s < 0,
//   1 where s == 0
//   step_size = clamp(step_size * s, step_size_min, step_size_max)
//   g = 0 where s == etaminus
//   param = param - sign(g) * step_size; prev = g
void rprop_step(float* param, const float* grad, float* prev, float* step_size, std::int64_t n, const RpropArgs& args,
                bool first_step);

// torch.sign for a float: 1, -1, or 0 for zeros and NaN.
LTRT_HOST_DEVICE inline float torch_sign(float x) { return static_cast<float>((0.0f < x) - (x < 0.0f)); }

}  // namespace ltrt
