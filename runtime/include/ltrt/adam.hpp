// torch.optim.Adam and torch.optim.AdamW, the single-tensor (for-loop)
// implementations that run by default on CPU, applied to one flat region.
#pragma once

#include <cstdint>

namespace ltrt {

struct AdamArgs {
  double lr;
  double beta1, beta2;
  double eps;
  double weight_decay;
  bool amsgrad;
  bool maximize;
  bool decoupled_weight_decay;  // true: AdamW
};

// One step over n elements. `step` is the step count after this step's
// increment (1 on the first step). max_exp_avg_sq may be null unless amsgrad.
//
//   g = maximize ? -grad : grad
//   AdamW: param = param * (1 - lr * weight_decay)
//   Adam:  g = g + weight_decay * param                  (weight_decay != 0)
//   exp_avg.lerp_(g, 1 - beta1)
//   exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
//   bc1 = 1 - beta1^step, bc2 = 1 - beta2^step           (float64, as Python)
//   v = amsgrad ? (max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)) : exp_avg_sq
//   denom = sqrt(v) / sqrt(bc2) + eps
//   param = param + (-lr / bc1) * exp_avg / denom       (addcdiv_)
//
// Elementwise work is float32 with scalars rounded to float, as ATen does.
// Does not allocate.
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
               std::int64_t n, const AdamArgs& args, std::int64_t step);

}  // namespace ltrt
