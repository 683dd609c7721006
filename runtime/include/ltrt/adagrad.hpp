// torch.optim.Adagrad, the single-tensor (for-loop) implementation that runs by default on the
// CPU, applied to one flat float32 region.
#pragma once

#include <cstdint>

namespace ltrt {

struct AdagradArgs {
  double lr;
  double lr_decay;
  double weight_decay;
  double initial_accumulator_value;
  double eps;
  bool maximize;
};

// One step over n elements; `step` counts this one (1 on the first). state_sum starts at
// initial_accumulator_value (torch's full_like): on the first step the slot's content is not read.
//
//   g = maximize ? -grad : grad
//   g = g + weight_decay * param                        (weight_decay != 0)
//   clr = lr / (1 + (step - 1) * lr_decay)              (float64, as Python)
//   state_sum = state_sum + g * g
//   param = param - clr * g / (sqrt(state_sum) + eps)
void adagrad_step(float* param, const float* grad, float* state_sum, std::int64_t n, const AdagradArgs& args,
                  std::int64_t step);

}  // namespace ltrt
