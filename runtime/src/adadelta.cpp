// torch.optim.Adadelta (_single_tensor_adadelta) over one flat region.
#include "ltrt/adadelta.hpp"

#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

LTRT_KERNEL_CLONES void adadelta_step(float* param, const float* grad, float* square_avg, float* acc_delta,
                                      std::int64_t n, const AdadeltaArgs& args) {
  const bool decay = args.weight_decay != 0.0;
  const float weight_decay = static_cast<float>(args.weight_decay);
  const float rho = static_cast<float>(args.rho);
  const float one_minus_rho = static_cast<float>(1.0 - args.rho);
  const float eps = static_cast<float>(args.eps);
  const float neg_lr = static_cast<float>(-args.lr);
  for (std::int64_t i = 0; i < n; ++i) {
    float g = args.maximize ? -grad[i] : grad[i];
    if (decay) g = std::fma(weight_decay, param[i], g);  // grad.add(param, alpha=weight_decay)
    float v = square_avg[i] * rho;                        // square_avg.mul_(rho)
    v = v + one_minus_rho * g * g;                        // .addcmul_(grad, grad, value=1 - rho)
    square_avg[i] = v;
    const float std_dev = std::sqrt(v + eps);                   // square_avg.add(eps).sqrt_()
    const float delta = std::sqrt(acc_delta[i] + eps) / std_dev * g;  // acc_delta.add(eps).sqrt_().div_(std).mul_(grad)
    float u = acc_delta[i] * rho;                               // acc_delta.mul_(rho)
    u = u + one_minus_rho * delta * delta;                      // .addcmul_(delta, delta, value=1 - rho)
    acc_delta[i] = u;
    param[i] = std::fma(neg_lr, delta, param[i]);  // param.add_(delta, alpha=-lr)
  }
}

}  // namespace ltrt
