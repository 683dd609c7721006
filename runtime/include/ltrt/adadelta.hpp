// torch.optim.Adadelta, the single-tensor (for-loop) implementation that runs by default on the
// CPU, applied to one flat float32 region.
#pragma once

#include <cstdint>

namespace ltrt {

struct AdadeltaArgs {
  double lr;
  double rho;
  double eps;
  double weight_decay;
  bool maximize;
};

// One step over n elements:
//
//   g = maximize ? -grad : grad
//   g = g + weight_decay * param                       (weight_decay != 0)
//   square_avg = square_avg * rho + (1 - rho) * g * g
//   delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
//   acc_delta = acc_delta * rho + (1 - rho) * delta * delta
//   param = param - lr * delta
// in float32, each product as torch's tensor expression rounds it.
void adadelta_step(float* param, const float* grad, float* square_avg, float* acc_delta, std::int64_t n,
                   const AdadeltaArgs& args);

}  // namespace ltrt
