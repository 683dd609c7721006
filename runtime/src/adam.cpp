// torch.optim.Adam / AdamW (_single_tensor_adam) over one flat region.
#include "ltrt/adam.hpp"

#include <algorithm>
#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

LTRT_KERNEL_CLONES void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
               std::int64_t n, const AdamArgs& args, std::int64_t step) {
  // Python-side scalars, computed in float64 as torch.optim does.
  const double s = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(args.beta1, s);
  const double bias_correction2 = 1.0 - std::pow(args.beta2, s);
  const double step_size = args.lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);

  // ...rounded to float where they meet float32 tensors.
  const AdamMomentConstants mc{args.maximize, args.weight_decay != 0.0, args.decoupled_weight_decay,
                                static_cast<float>(args.weight_decay),
                                static_cast<float>(1.0 - args.lr * args.weight_decay),
                                static_cast<float>(1.0 - args.beta1), static_cast<float>(args.beta2),
                                static_cast<float>(1.0 - args.beta2)};
  const float bc2_sqrt = static_cast<float>(bias_correction2_sqrt);
  const float eps = static_cast<float>(args.eps);
  const float neg_step_size = static_cast<float>(-step_size);

  for (std::int64_t i = 0; i < n; ++i) {
    const AdamMoments a = adam_moments(param[i], grad[i], exp_avg[i], exp_avg_sq[i], mc);
    const float p = a.p, m = a.m;
    float v = a.v;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    if (args.amsgrad) {
      v = std::max(max_exp_avg_sq[i], v);  // torch.maximum(max_exp_avg_sq, exp_avg_sq, out=...)
      max_exp_avg_sq[i] = v;
    }
    const float denom = std::sqrt(v) / bc2_sqrt + eps;  // (v.sqrt() / bc2_sqrt).add_(eps)
    param[i] = p + neg_step_size * m / denom;             // param.addcdiv_(exp_avg, denom, value=-step_size)
  }
}

}  // namespace ltrt
