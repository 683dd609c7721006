// torch.optim.Adamax (_single_tensor_adamax) over one flat region.
#include "ltrt/adamax.hpp"

#include <algorithm>
#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

LTRT_KERNEL_CLONES void adamax_step(float* param, const float* grad, float* exp_avg, float* exp_inf, std::int64_t n,
                                    const AdamaxArgs& args, std::int64_t step) {
  const double clr = args.lr / (1.0 - std::pow(args.beta1, static_cast<double>(step)));  // Python floats
  const bool decay = args.weight_decay != 0.0;
  const float weight_decay = static_cast<float>(args.weight_decay);
  const float lerp_weight = static_cast<float>(1.0 - args.beta1);
  const float beta2 = static_cast<float>(args.beta2);
  const float eps = static_cast<float>(args.eps);
  const float neg_clr = static_cast<float>(-clr);
  for (std::int64_t i = 0; i < n; ++i) {
    float g = args.maximize ? -grad[i] : grad[i];
    if (decay) g = std::fma(weight_decay, param[i], g);  // grad.add(param, alpha=weight_decay)
    const float m = lerp(exp_avg[i], g, lerp_weight);     // exp_avg.lerp_(grad, 1 - beta1)
    exp_avg[i] = m;
    // torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)
    const float a = exp_inf[i] * beta2, b = std::fabs(g) + eps;
    const float u = std::isnan(a) || std::isnan(b) ? a + b : std::max(a, b);  // torch.maximum keeps a NaN
    exp_inf[i] = u;
    param[i] = param[i] + neg_clr * m / u;  // param.addcdiv_(exp_avg, exp_inf, value=-clr)
  }
}

}  // namespace ltrt
