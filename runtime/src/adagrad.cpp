// torch.optim.Adagrad (_single_tensor_adagrad) over one flat region.
#include "ltrt/adagrad.hpp"

#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

LTRT_KERNEL_CLONES void adagrad_step(float* param, const float* grad, float* state_sum, std::int64_t n,
                                     const AdagradArgs& args, std::int64_t step) {
  const double clr = args.lr / (1.0 + static_cast<double>(step - 1) * args.lr_decay);  // Python floats
  const bool decay = args.weight_decay != 0.0;
  const bool first = step == 1;
  const float weight_decay = static_cast<float>(args.weight_decay);
  const float initial = static_cast<float>(args.initial_accumulator_value);
  const float eps = static_cast<float>(args.eps);
  const float neg_clr = static_cast<float>(-clr);
  for (std::int64_t i = 0; i < n; ++i) {
    float g = args.maximize ? -grad[i] : grad[i];
    if (decay) g = std::fma(weight_decay, param[i], g);   // grad.add(param, alpha=weight_decay)
    const float s = (first ? initial : state_sum[i]) + 1.0f * g * g;  // state_sum.addcmul_(grad, grad, value=1)
    state_sum[i] = s;
    const float std_dev = std::sqrt(s) + eps;            // state_sum.sqrt().add_(eps)
    param[i] = param[i] + neg_clr * g / std_dev;          // param.addcdiv_(grad, std, value=-clr)
  }
}

}  // namespace ltrt
