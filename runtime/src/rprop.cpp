// torch.optim.Rprop (_single_tensor_rprop) over one flat region.
#include "ltrt/rprop.hpp"

#include <algorithm>

#include "optimizer_kernels.hpp"

namespace ltrt {

LTRT_KERNEL_CLONES void rprop_step(float* param, const float* grad, float* prev, float* step_size, std::int64_t n,
                                   const RpropArgs& args, bool first_step) {
  const float lr = static_cast<float>(args.lr);
  const float etaminus = static_cast<float>(args.etaminus), etaplus = static_cast<float>(args.etaplus);
  const float lo = static_cast<float>(args.step_size_min), hi = static_cast<float>(args.step_size_max);
  for (std::int64_t i = 0; i < n; ++i) {
    float g = args.maximize ? -grad[i] : grad[i];
    const float before = first_step ? 0.0f : prev[i];
    float s = torch_sign(g * before);  // grad.mul(prev).sign()
    s = s > 0.0f ? etaplus : s;        // sign[sign.gt(0)] = etaplus
    s = s < 0.0f ? etaminus : s;       // sign[sign.lt(0)] = etaminus
    s = s == 0.0f ? 1.0f : s;          // sign[sign.eq(0)] = 1
    float step = (first_step ? lr : step_size[i]) * s;  // step_size.mul_(sign)
    step = step != step ? step : std::min(std::max(step, lo), hi);  // .clamp_(min, max); NaN stays
    step_size[i] = step;
    if (s == etaminus) g = 0.0f;                         // grad[sign.eq(etaminus)] = 0
    param[i] = param[i] + -1.0f * torch_sign(g) * step;  // param.addcmul_(grad.sign(), step_size, value=-1)
    prev[i] = g;                                         // prev.copy_(grad)
  }
}

}  // namespace ltrt
