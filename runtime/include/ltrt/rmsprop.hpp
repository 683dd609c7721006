// torch.optim.RMSprop, the single-tensor (for-loop) implementation that runs by default on the
// CPU, applied to one flat float32 region.
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

}  // namespace ltrt
