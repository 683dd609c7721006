// torch.optim.RMSprop and torch.optim.Adagrad, the single-tensor (for-loop) implementations that
// run by default on the CPU, applied to one flat float32 region.
#pragma once

#include <cstdint>

namespace ltrt {

struct RmspropArgs {
  double lr;
  double alpha;
  double eps;
  double weight_decay;
  double momentum;  // this step's (a scheduler may cycle it); 0: no momentum buffer is read
  bool centered;
  bool maximize;
};

// One step over n elements. momentum_buffer may be null unless the optimizer has a momentum,
// grad_avg unless centered.
//
//   g = maximize ? -grad : grad
//   g = g + weight_decay * param                        (weight_decay != 0)
//   square_avg = square_avg * alpha + (1 - alpha) * g * g
//   centered: grad_avg.lerp_(g, 1 - alpha); avg = sqrt(square_avg - grad_avg^2)
//   else:     avg = sqrt(square_avg)
//   avg = avg + eps
//   momentum > 0: buf = buf * momentum + g / avg; param = param - lr * buf
//   else:         param = param - lr * g / avg
//
// Float32 elementwise work with scalars rounded to float, as ATen's. Does not allocate.
void rmsprop_step(float* param, const float* grad, float* square_avg, float* momentum_buffer, float* grad_avg,
                  std::int64_t n, const RmspropArgs& args);

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
