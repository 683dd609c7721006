// torch.optim.Adamax, the single-tensor (for-loop) implementation that runs by default on the
// CPU, applied to one flat float32 region.
#pragma once

#include <cstdint>

namespace ltrt {

struct AdamaxArgs {
  double lr;
  double beta1, beta2;  // beta1: this step's (a scheduler may cycle it)
  double eps;
  double weight_decay;
  bool maximize;
};

// One step over n elements; `step` counts this one (1 on the first).
//
//   g = maximize ? -grad : grad
//   g = g + weight_decay * param                        (weight_decay != 0)
//   exp_avg.lerp_(g, 1 - beta1)
//   exp_inf = max(exp_inf * beta2, |g| + eps)
//   clr = lr / (1 - beta1^step)                         (float64, as Python)
//   param = param - clr * exp_avg / exp_inf
void adamax_step(float* param, const float* grad, float* exp_avg, float* exp_inf, std::int64_t n, const AdamaxArgs& args,
                 std::int64_t step);

}  // namespace ltrt
