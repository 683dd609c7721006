// torch.optim.RMSprop (_single_tensor_rmsprop) over one flat region.
#include "ltrt/rmsprop.hpp"

#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

LTRT_KERNEL_CLONES void rmsprop_step(float* param, const float* grad, float* square_avg, float* momentum_buffer,
                                     float* grad_avg, std::int64_t n, const RmspropArgs& args) {
  const bool decay = args.weight_decay != 0.0;
  const bool use_momentum = args.momentum > 0.0 && momentum_buffer != nullptr;
  const float weight_decay = static_cast<float>(args.weight_decay);
  const float alpha = static_cast<float>(args.alpha);
  const float one_minus_alpha = static_cast<float>(1.0 - args.alpha);
  const float eps = static_cast<float>(args.eps);
  const float momentum = static_cast<float>(args.momentum);
  const float neg_lr = static_cast<float>(-args.lr);
  for (std::int64_t i = 0; i < n; ++i) {
    float g = args.maximize ? -grad[i] : grad[i];
    if (decay) g = std::fma(weight_decay, param[i], g);  // grad.add(param, alpha=weight_decay)
    float v = square_avg[i] * alpha;                       // square_avg.mul_(alpha)
    v = v + one_minus_alpha * g * g;                       // .addcmul_(grad, grad, value=1 - alpha)
    square_avg[i] = v;
    float avg;
    if (args.centered) {
      const float m = lerp(grad_avg[i], g, one_minus_alpha);  // grad_avg.lerp_(grad, 1 - alpha)
      grad_avg[i] = m;
      avg = std::sqrt(v + -1.0f * m * m);  // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    } else {
      avg = std::sqrt(v);  // square_avg.sqrt()
    }
    avg = avg + eps;  // .add_(eps)
    if (use_momentum) {
      const float buf = momentum_buffer[i] * momentum + g / avg;  // buf.mul_(momentum).addcdiv_(grad, avg)
      momentum_buffer[i] = buf;
      param[i] = std::fma(neg_lr, buf, param[i]);  // param.add_(buf, alpha=-lr)
    } else {
      param[i] = param[i] + neg_lr * g / avg;  // param.addcdiv_(grad, avg, value=-lr)
    }
  }
}

}  // namespace ltrt
