// torch.amp.GradScaler's dynamic loss scaling, with the defaults Lightning's "16-mixed" plugin
// (MixedPrecision) creates it with: the loss is multiplied by `scale` before backward, so that
// small float16 gradients do not flush to zero; before the optimizer step the gradients are
// multiplied by 1 / scale (and checked: any infinity or NaN skips the step); then update().
#pragma once

#include <cmath>
#include <cstdint>

namespace ltrt {

struct GradScaler {
  static constexpr double kInitScale = 65536.0;  // 2^16
  static constexpr double kGrowthFactor = 2.0;
  static constexpr double kBackoffFactor = 0.5;
  static constexpr std::int64_t kGrowthInterval = 2000;

  float scale = static_cast<float>(kInitScale);  // torch keeps it in a float32 tensor
  std::int64_t growth_tracker = 0;                // steps without an infinity since the last change

  // _unscale_grads_'s inv_scale: scale.double().reciprocal().float().
  float inv_scale() const { return static_cast<float>(1.0 / static_cast<double>(scale)); }

  // torch._amp_update_scale_ after a step that found an infinity or NaN among the unscaled
  // gradients (the optimizer did not step) or did not.
  void update(bool found_inf) {
    if (found_inf) {
      scale = static_cast<float>(scale * kBackoffFactor);
      growth_tracker = 0;
      return;
    }
    const std::int64_t successful = growth_tracker + 1;
    if (successful == kGrowthInterval) {
      const float grown = static_cast<float>(scale * kGrowthFactor);
      if (std::isfinite(grown)) scale = grown;
      growth_tracker = 0;
    } else {
      growth_tracker = successful;
    }
  }
};

}  // namespace ltrt
