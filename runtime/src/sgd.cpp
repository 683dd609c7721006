// torch.optim.SGD (_single_tensor_sgd) over one flat region.
#include "ltrt/sgd.hpp"

#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

LTRT_KERNEL_CLONES void sgd_step(float* param, const float* grad, float* momentum_buffer, std::int64_t n, const SgdArgs& args,
              bool first_step) {
  const float weight_decay = static_cast<float>(args.weight_decay);
  const float momentum = static_cast<float>(args.momentum);
  const float one_minus_dampening = static_cast<float>(1.0 - args.dampening);
  const float neg_lr = static_cast<float>(-args.lr);
  const bool decay = args.weight_decay != 0.0;
  const bool use_momentum = args.momentum != 0.0 && momentum_buffer != nullptr;

  for (std::int64_t i = 0; i < n; ++i) {
    float g = args.maximize ? -grad[i] : grad[i];
    if (decay) g = std::fma(weight_decay, param[i], g);  // grad.add(param, alpha=weight_decay)
    if (use_momentum) {
      float buf;
      if (first_step) {
        buf = g;  // torch.clone(grad).detach()
      } else {
        buf = momentum_buffer[i] * momentum;        // buf.mul_(momentum)
        buf = std::fma(one_minus_dampening, g, buf);  // .add_(grad, alpha=1 - dampening)
      }
      momentum_buffer[i] = buf;
      g = args.nesterov ? std::fma(momentum, buf, g) : buf;  // grad.add(buf, alpha=momentum)
    }
    param[i] = std::fma(neg_lr, g, param[i]);  // param.add_(grad, alpha=-lr)
  }
}

}  // namespace ltrt
