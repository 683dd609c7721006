// What the optimizers' CPU loops (sgd.cpp, adam.cpp, adamax.cpp, radam.cpp, nadam.cpp, rmsprop.cpp,
// adagrad.cpp, adadelta.cpp, rprop.cpp) share: multiversioning, and ATen's scalar lerp (ltrt/lerp.hpp).
#pragma once

#include <cmath>

#include "kernel_clones.hpp"  // LTRT_KERNEL_CLONES
#include "ltrt/lerp.hpp"

namespace ltrt {

// What Adam, AdamW, RAdam and NAdam do first for one element, with their step's float32 constants:
// the weight decay (coupled into the gradient, or decoupled onto the parameter), then both
// moments (exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)).
struct AdamMomentConstants {
  bool maximize, decay, decoupled;
  float weight_decay, decoupled_scale, lerp_weight, beta2, one_minus_beta2;
};
struct AdamMoments {
  float g, p, m, v;  // the gradient the moments used, the (decayed) parameter, the new moments
};
inline AdamMoments adam_moments(float param, float grad, float exp_avg, float exp_avg_sq, const AdamMomentConstants& c) {
  AdamMoments r{c.maximize ? -grad : grad, param, 0.0f, 0.0f};
  if (c.decay) {
    if (c.decoupled) r.p = r.p * c.decoupled_scale;  // param.mul_(1 - lr * weight_decay)
    else r.g = std::fma(c.weight_decay, r.p, r.g);   // grad.add(param, alpha=weight_decay)
  }
  r.m = lerp(exp_avg, r.g, c.lerp_weight);  // exp_avg.lerp_(grad, 1 - beta1)
  r.v = exp_avg_sq * c.beta2;               // exp_avg_sq.mul_(beta2)
  r.v = r.v + c.one_minus_beta2 * r.g * r.g;  // .addcmul_(grad, grad, value=1 - beta2)
  return r;
}

}  // namespace ltrt
