// torch.optim.NAdam, the single-tensor (for-loop) implementation that runs by default on the CPU,
// applied to one flat float32 region.
#pragma once

#include <cstdint>

namespace ltrt {

struct NadamArgs {
  double lr;
  double beta1, beta2;  // beta1: this step's (a scheduler may cycle it)
  double eps;
  double weight_decay;
  double momentum_decay;
  bool decoupled_weight_decay;
  bool maximize;
};

// A step's scalars, from Python floats as torch computes them. mu_product is torch's per-parameter
// state["mu_product"], a float32 0-dim tensor that each step multiplies by mu (in float32); the
// two addcdiv coefficients read it back as a Python float.
struct NadamScalars {
  double bias_correction2;  // 1 - beta2^step
  float mu_product;         // after this step's update
  double grad_value;        // -lr (1 - mu) / (1 - mu_product)
  double exp_avg_value;     // -lr mu_next / (1 - mu_product mu_next)
};
// `step` counts this one (1 on the first); `mu_product` is the state before it (1 at the start).
NadamScalars nadam_scalars(double lr, double beta1, double beta2, double momentum_decay, std::int64_t step,
                           float mu_product);

// One step over n elements with the step's scalars:
//
//   g = maximize ? -grad : grad
//   decoupled: param = param * (1 - lr * weight_decay); else g = g + weight_decay * param
//   exp_avg.lerp_(g, 1 - beta1); exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
//   denom = sqrt(exp_avg_sq / bias_correction2) + eps
//   param = param + grad_value * g / denom; param = param + exp_avg_value * exp_avg / denom
// in float32, each product as torch's tensor expression rounds it.
void nadam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                const NadamArgs& args, const NadamScalars& scalars);

}  // namespace ltrt
