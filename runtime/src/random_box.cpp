// torchvision's box draws, following every faithful rounding of torch's MKL log and exp.
#include "ltrt/random_box.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "ltrt/error.hpp"

namespace ltrt {

int faithful_floats(double x, float out[3]) {
  const auto nearest = static_cast<float>(x);
  out[0] = nearest;
  if (x == 0.0) return 1;
  // glibc's exp and log are within a double ulp or so of the exact value: widen by a few of them
  // so that an exact value just past a float32 counts the floats on both sides of it.
  const double margin = std::fabs(x) * 0x1p-48;
  const float inf = std::numeric_limits<float>::infinity();
  float below = static_cast<float>(x - margin);
  if (static_cast<double>(below) > x - margin) below = std::nextafter(below, -inf);
  float above = static_cast<float>(x + margin);
  if (static_cast<double>(above) < x + margin) above = std::nextafter(above, inf);
  int n = 1;
  for (float f = below; f <= above && n < 3; f = std::nextafter(f, inf))
    if (f != nearest) out[n++] = f;
  return n;
}

namespace {
// torch.log of a float32 ratio: its faithful roundings (log 1 is 0 exactly).
int log_roundings(float ratio, float out[3]) {
  if (ratio == 1.0f) {
    out[0] = 0.0f;
    return 1;
  }
  return faithful_floats(std::log(static_cast<double>(ratio)), out);
}
}  // namespace

BoxDraws::BoxDraws(const double scale[2], const double ratio[2])
    : scale_lo_(static_cast<float>(scale[0])), scale_hi_(static_cast<float>(scale[1])), ratio_{ratio[0], ratio[1]} {
  const auto lo = static_cast<float>(ratio[0]), hi = static_cast<float>(ratio[1]);  // torch.tensor(ratio)
  log_lo_count_ = log_roundings(lo, log_lo_);
  log_hi_count_ = log_roundings(hi, log_hi_);
  same_ratio_ = lo == hi;
}

int BoxDraws::attempt(TorchGenerator& gen, std::int64_t area, BoxSides sides[kMaxSides]) const {
  const float scale = TorchGenerator::uniform_value(gen.random(), scale_lo_, scale_hi_);
  const std::uint32_t bits = gen.random();  // the log ratio's uniform_
  const double target = static_cast<double>(area) * static_cast<double>(scale);
  int n = 0;
  const auto add = [&](const BoxSides& s) {
    for (int k = 0; k < n; ++k)
      if (sides[k] == s) return;
    sides[n++] = s;
  };
  // (Python's ints have no bound: a side past 2^62, which fits no image, is kept at 2^62.)
  const auto side = [](double x) { return static_cast<std::int64_t>(std::min(std::nearbyint(x), 0x1p62)); };
  for (int a = 0; a < log_lo_count_; ++a)
    for (int b = 0; b < (same_ratio_ ? 1 : log_hi_count_); ++b) {
      const float lo = log_lo_[a], hi = same_ratio_ ? lo : log_hi_[b];
      if (lo > hi) {  // torch's uniform_ would raise: a box that fits nothing, to count the attempt uncertain
        add({INT64_MAX, INT64_MAX});
        continue;
      }
      const float u = TorchGenerator::uniform_value(bits, lo, hi);
      float e[3];
      const int m = u == 0.0f ? (e[0] = 1.0f, 1) : faithful_floats(std::exp(static_cast<double>(u)), e);
      for (int k = 0; k < m; ++k) {
        const auto r = static_cast<double>(e[k]);
        add({side(std::sqrt(target * r)), side(std::sqrt(target / r))});
      }
    }
  return n;
}

bool BoxDraws::fits(const BoxSides* sides, int n, const std::function<bool(const BoxSides&)>& test) {
  int fitting = 0;
  for (int k = 0; k < n; ++k) fitting += test(sides[k]) ? 1 : 0;
  if (fitting > 0 && n > 1) {  // torch's rounding may have made another box here, or none
    static bool warned = false;
    if (!warned)
      std::fprintf(stderr,
                   "UserWarning: a RandomResizedCrop or RandomErasing box was drawn where torch's float32 exp "
                   "and log (MKL's, which ltgen follows only where their rounding cannot matter) may round to "
                   "another side: that sample's box may be a pixel off torchvision's, and the random numbers "
                   "after it may differ\n");
    warned = true;
    ++uncertain_;
  }
  return test(sides[0]);
}

Box BoxDraws::resized_crop(TorchGenerator& gen, std::int64_t height, std::int64_t width) {
  Box box;
  BoxSides sides[kMaxSides];
  const auto inside = [&](const BoxSides& b) {
    return 0 < b.along_ratio && b.along_ratio <= width && 0 < b.across_ratio && b.across_ratio <= height;
  };
  for (int k = 0; k < 10; ++k) {
    const int n = attempt(gen, height * width, sides);
    if (!fits(sides, n, inside)) continue;
    box.width = sides[0].along_ratio;
    box.height = sides[0].across_ratio;
    gen.randint(&box.top, 1, height - box.height + 1);
    gen.randint(&box.left, 1, width - box.width + 1);
    box.found = true;
    return box;
  }
  // The central crop: the whole image, or its ratio brought to the bound it passes.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  const double lo = std::min(ratio_[0], ratio_[1]), hi = std::max(ratio_[0], ratio_[1]);
  box.height = height;
  box.width = width;
  if (in_ratio < lo) box.height = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(width) / lo));
  if (in_ratio > hi) box.width = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(height) * hi));
  if (box.height < 1 || box.width < 1)
    throw Error("RandomResizedCrop: the central crop of an image of " + std::to_string(height) + " x " +
                std::to_string(width) + " at the ratio's bound is " + std::to_string(box.height) + " x " +
                std::to_string(box.width) + ", empty: torch cannot resize it (widen the ratio)");
  box.top = (height - box.height) / 2;
  box.left = (width - box.width) / 2;
  return box;
}

Box BoxDraws::erasing(TorchGenerator& gen, std::int64_t height, std::int64_t width,
                      const std::function<void(std::int64_t, std::int64_t)>& draw_value) {
  Box box;
  BoxSides sides[kMaxSides];
  const auto inside = [&](const BoxSides& b) { return b.along_ratio < height && b.across_ratio < width; };
  for (int k = 0; k < 10; ++k) {
    const int n = attempt(gen, height * width, sides);
    if (!fits(sides, n, inside)) continue;
    box.height = sides[0].along_ratio;
    box.width = sides[0].across_ratio;
    if (draw_value) draw_value(box.height, box.width);
    gen.randint(&box.top, 1, height - box.height + 1);
    gen.randint(&box.left, 1, width - box.width + 1);
    box.found = true;
    return box;
  }
  return box;
}

}  // namespace ltrt
