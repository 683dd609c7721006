// torch.optim.RAdam, the single-tensor (for-loop) implementation that runs by default on the CPU,
// applied to one flat float32 region.
#pragma once

#include <cstdint>

namespace ltrt {

struct RadamArgs {
  double lr;
  double beta1, beta2;  // beta1: this step's (a scheduler may cycle it)
  double eps;
  double weight_decay;
  bool decoupled_weight_decay;
  bool maximize;
};

// The step's scalars, from Python floats as torch computes them: the bias corrections, and the
// variance rectification rect when rho_t > 5 (`rectified`; else the step is plain momentum).
struct RadamScalars {
  double bias_correction1, bias_correction2_sqrt, rect;
  bool rectified;
};
RadamScalars radam_scalars(double beta1, double beta2, std::int64_t step);

// One step over n elements; `step` counts this one (1 on the first).
//
//   g = maximize ? -grad : grad
//   decoupled: param = param * (1 - lr * weight_decay); else g = g + weight_decay * param
//   exp_avg.lerp_(g, 1 - beta1); exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
//   update = exp_avg / bc1 * lr                          (rho_t <= 5)
//   update = exp_avg / bc1 * lr * (sqrt(bc2) / (sqrt(exp_avg_sq) + eps)) * rect   (rho_t > 5)
//   param = param - update
// in float32, each product as torch's tensor expression rounds it.
void radam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                const RadamArgs& args, std::int64_t step);

}  // namespace ltrt
