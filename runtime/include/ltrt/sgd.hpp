// torch.optim.SGD, the single-tensor (for-loop) implementation that runs by
// default on CPU, applied to one flat float32 region.
#pragma once

#include <cstdint>

namespace ltrt {

struct SgdArgs {
  double lr;
  double momentum;
  double dampening;
  double weight_decay;
  bool nesterov;
  bool maximize;
};

// One step over n elements. momentum_buffer may be null when momentum == 0.
// first_step: the momentum buffer does not exist yet (torch's `buf is None`):
// it becomes a copy of the (decayed) gradient, without dampening.
//
//   g = maximize ? -grad : grad
//   g = g + weight_decay * param                        (weight_decay != 0)
//   buf = first_step ? g : buf * momentum + (1 - dampening) * g
//   g = nesterov ? g + momentum * buf : buf             (momentum != 0)
//   param = param - lr * g
//
// Scalars are rounded to float as ATen does; `a + alpha * b` is a fused
// multiply-add like ATen's vectorized add kernel. Does not allocate.
void sgd_step(float* param, const float* grad, float* momentum_buffer, std::int64_t n, const SgdArgs& args,
              bool first_step);

}  // namespace ltrt
