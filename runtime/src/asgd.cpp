// torch.optim.ASGD (_single_tensor_asgd) over one flat region.
#include "ltrt/asgd.hpp"

#include <algorithm>
#include <cmath>

#include "optimizer_kernels.hpp"

namespace ltrt {

AsgdScalars asgd_scalars(double lr, double lambd, double alpha, double t0, std::int64_t step, float eta) {
  if (step == 1) eta = static_cast<float>(lr);  // state["eta"] = torch.as_tensor(group["lr"]) (float32)
  const double e = eta;                         // eta.item()
  const double t = static_cast<double>(step);   // step_t.item(): a float
  AsgdScalars s;
  s.decay = static_cast<float>(1.0 - lambd * e);
  s.neg_eta = static_cast<float>(-e);
  // mu as the previous step left it: 1 / max(1, (step - 1) - t0), 1 before the first step.
  s.mu = step == 1 ? 1.0f : static_cast<float>(1.0 / std::max(1.0, (t - 1.0) - t0));
  s.average = s.mu != 1.0f;
  s.next_eta = static_cast<float>(lr / std::pow(1.0 + lambd * lr * t, alpha));  // Python's **: C's pow
  return s;
}

LTRT_KERNEL_CLONES void asgd_step(float* param, const float* grad, float* ax, std::int64_t n, double weight_decay,
                                  bool maximize, const AsgdScalars& s) {
  const bool decay = weight_decay != 0.0;
  const float wd = static_cast<float>(weight_decay);
  for (std::int64_t i = 0; i < n; ++i) {
    float g = maximize ? -grad[i] : grad[i];
    if (decay) g = std::fma(wd, param[i], g);  // grad.add(param, alpha=weight_decay)
    float p = param[i] * s.decay;              // param.mul_(1 - lambd * eta)
    p = std::fma(s.neg_eta, g, p);             // param.add_(grad, alpha=-eta)
    param[i] = p;
    ax[i] = s.average ? ax[i] + (p - ax[i]) * s.mu : p;  // ax.add_(param.sub(ax).mul_(mu)), or ax.copy_(param)
  }
}

}  // namespace ltrt
