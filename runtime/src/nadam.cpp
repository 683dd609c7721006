// torch.optim.NAdam (_single_tensor_nadam) over one flat region.
#include "ltrt/nadam.hpp"

#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

NadamScalars nadam_scalars(double lr, double beta1, double beta2, double momentum_decay, std::int64_t step,
                           float mu_product) {
  const double t = static_cast<double>(step);  // step_t.item(): a float
  // torch's momentum cache mu_t and mu_{t+1}
  const double mu = beta1 * (1.0 - 0.5 * std::pow(0.96, t * momentum_decay));
  const double mu_next = beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1.0) * momentum_decay));
  NadamScalars s;
  s.bias_correction2 = 1.0 - std::pow(beta2, t);
  s.mu_product = mu_product * static_cast<float>(mu);  // mu_product *= mu: a float32 tensor times a Python float
  const double product = s.mu_product;                  // _get_value(mu_product)
  s.grad_value = -lr * (1.0 - mu) / (1.0 - product);
  s.exp_avg_value = (-lr * mu_next) / (1.0 - product * mu_next);
  return s;
}

LTRT_KERNEL_CLONES void nadam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                                   const NadamArgs& args, const NadamScalars& sc) {
  const AdamMomentConstants mc{args.maximize, args.weight_decay != 0.0, args.decoupled_weight_decay,
                                static_cast<float>(args.weight_decay),
                                static_cast<float>(1.0 - args.lr * args.weight_decay),
                                static_cast<float>(1.0 - args.beta1), static_cast<float>(args.beta2),
                                static_cast<float>(1.0 - args.beta2)};
  const float bc2 = static_cast<float>(sc.bias_correction2);
  const float eps = static_cast<float>(args.eps);
  const float grad_value = static_cast<float>(sc.grad_value);
  const float exp_avg_value = static_cast<float>(sc.exp_avg_value);
  for (std::int64_t i = 0; i < n; ++i) {
    const AdamMoments a = adam_moments(param[i], grad[i], exp_avg[i], exp_avg_sq[i], mc);
    float p = a.p;
    const float g = a.g, m = a.m, v = a.v;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float denom = std::sqrt(v / bc2) + eps;  // exp_avg_sq.div(bias_correction2).sqrt(), then .add_(eps)
    p = p + grad_value * g / denom;                // param.addcdiv_(grad, denom, value=...)
    param[i] = p + exp_avg_value * m / denom;      // param.addcdiv_(exp_avg, denom, value=...)
  }
}

}  // namespace ltrt
