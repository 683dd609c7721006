// torch.optim.ASGD, the single-tensor (for-loop) implementation that runs by default on the CPU,
// applied to one flat float32 region.
#pragma once

#include <cstdint>

namespace ltrt {

// A step's scalars. torch keeps eta and mu as float32 0-dim tensors per parameter (the same in a
// parameter group): eta starts as the group's lr at the first step, mu as 1, and each step ends by
// setting them from that step's lr and count, for the next step to use. So a scheduler's lr
// reaches eta one step late, and eta is state a checkpoint keeps (Optimizer::group_states).
struct AsgdScalars {
  float decay;     // 1 - lambd * eta, rounded to float as param.mul_ rounds a Python float
  float neg_eta;   // -eta: param.add_(grad, alpha=-eta)
  float mu;        // this step's averaging weight
  bool average;    // mu != 1: ax moves towards param by mu; else ax = param (torch's mu.item() != 1)
  float next_eta;  // eta after this step: float32(lr / (1 + lambd * lr * step)^alpha)
};
// `step` counts this one (1 on the first); `eta` is the state before it (unused on the first step,
// where it is the group's lr).
AsgdScalars asgd_scalars(double lr, double lambd, double alpha, double t0, std::int64_t step, float eta);

// One step over n elements:
//
//   g = maximize ? -grad : grad
//   g = g + weight_decay * param                        (weight_decay != 0)
//   param = param * decay; param = param - eta * g
//   ax = ax + (param - ax) * mu                         (average; else ax = param)
void asgd_step(float* param, const float* grad, float* ax, std::int64_t n, double weight_decay, bool maximize,
               const AsgdScalars& scalars);

}  // namespace ltrt
