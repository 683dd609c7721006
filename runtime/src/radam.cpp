// torch.optim.RAdam (_single_tensor_radam) over one flat region.
#include "ltrt/radam.hpp"

#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

RadamScalars radam_scalars(double beta1, double beta2, std::int64_t step) {
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(beta1, t);
  const double bias_correction2 = 1.0 - std::pow(beta2, t);
  const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * std::pow(beta2, t) / bias_correction2;
  RadamScalars s{bias_correction1, std::pow(bias_correction2, 0.5), 0.0, rho_t > 5.0};
  if (s.rectified)
    s.rect = std::pow((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t), 0.5);
  return s;
}

LTRT_KERNEL_CLONES void radam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                                   const RadamArgs& args, std::int64_t step) {
  const RadamScalars sc = radam_scalars(args.beta1, args.beta2, step);
  const AdamMomentConstants mc{args.maximize, args.weight_decay != 0.0, args.decoupled_weight_decay,
                                static_cast<float>(args.weight_decay),
                                static_cast<float>(1.0 - args.lr * args.weight_decay),
                                static_cast<float>(1.0 - args.beta1), static_cast<float>(args.beta2),
                                static_cast<float>(1.0 - args.beta2)};
  const float eps = static_cast<float>(args.eps);
  const float lr = static_cast<float>(args.lr);
  const float bc1 = static_cast<float>(sc.bias_correction1);
  const float bc2_sqrt = static_cast<float>(sc.bias_correction2_sqrt);
  const float rect = static_cast<float>(sc.rect);
  for (std::int64_t i = 0; i < n; ++i) {
    const AdamMoments a = adam_moments(param[i], grad[i], exp_avg[i], exp_avg_sq[i], mc);
    const float p = a.p;
    const float m = a.m, v = a.v;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    float update = m / bc1 * lr;  // bias_corrected_exp_avg * lr
    if (sc.rectified) {
      // * _compute_adaptive_lr(): bc2**0.5 / (sqrt(v) + eps), a Python float over a tensor (its reciprocal
      // times the float), then * _compute_rect()
      update = update * (1.0f / (std::sqrt(v) + eps) * bc2_sqrt);
      update = update * rect;
    }
    param[i] = p - update;  // param.add_(update, alpha=-1.0)
  }
}

}  // namespace ltrt
