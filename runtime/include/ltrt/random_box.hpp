// The boxes torchvision's RandomResizedCrop and RandomErasing draw (their get_params), from torch's
// global generator. Each attempt draws
//   area  = H * W * torch.empty(1).uniform_(scale[0], scale[1]).item()
//   ratio = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item(),
//           log_ratio = torch.log(torch.tensor(ratio))
// and the box's sides int(round(sqrt(area * ratio))) and int(round(sqrt(area / ratio))) (Python's
// round: halves to even).
//
// PyPI's x86 torch computes float32 exp and log with MKL's vmsExp and vmsLn, closed source: about 1%
// of exp's results and 7% of log's are a float32 step from the correctly rounded value (probed:
// exp within 0.56 ulp, log within 0.98). Both are faithful (one of the two floats around the exact
// value), so BoxDraws follows every faithful rounding of the two logs and of the exp on the same
// random bits: where they all give the same sides (and the caller's test of them the same answer),
// the box is torch's whatever MKL rounded. Where they do not, the box is one rounding's (the
// correctly rounded one's) and the attempt is uncertain: torch's box may differ by a pixel there,
// and so its draws after it. On 224 x 224 images that is about one attempt in 50,000 (the boxes of
// sample_transforms_oracle count them).
#pragma once

#include <cstdint>
#include <functional>

#include "ltrt/torch_generator.hpp"

namespace ltrt {

// One attempt's sides: int(round(sqrt(area * ratio))) and int(round(sqrt(area / ratio))).
struct BoxSides {
  std::int64_t along_ratio, across_ratio;
  bool operator==(const BoxSides& o) const { return along_ratio == o.along_ratio && across_ratio == o.across_ratio; }
};

// A box of an image: its top and left corner and its size.
struct Box {
  std::int64_t top = 0, left = 0, height = 0, width = 0;
  bool found = false;  // an attempt's (else RandomResizedCrop's central crop, RandomErasing's none)
};

class BoxDraws {
 public:
  BoxDraws() = default;
  // scale and ratio as torchvision takes them (Python floats: min, max); ratio > 0.
  BoxDraws(const double scale[2], const double ratio[2]);

  // RandomResizedCrop.get_params on an image of height x width: the first attempt whose box fits
  // (width along the ratio, height across), its corner drawn with torch.randint; after 10 without,
  // the central crop at the ratio's bound the image's ratio passes (throws ltrt::Error where that
  // is empty: torch cannot resize it).
  Box resized_crop(TorchGenerator& gen, std::int64_t height, std::int64_t width);
  // RandomErasing.get_params: the first attempt whose box is smaller than the image on both sides
  // (height along the ratio, width across); `draw_value(h, w)`, where given, draws its value between
  // the sides and the corner (value="random"). After 10 without, found is false.
  Box erasing(TorchGenerator& gen, std::int64_t height, std::int64_t width,
              const std::function<void(std::int64_t, std::int64_t)>& draw_value);

  // The attempts so far whose outcome torch's own rounding may have made another (the first of the
  // process's warns on stderr).
  std::int64_t uncertain() const { return uncertain_; }

  // The most roundings an attempt follows (the logs' and the exp's, 3 each at most).
  static constexpr int kMaxSides = 27;
  // One attempt on an image of `area` pixels: draws the two uniforms and writes the distinct sides
  // that torch's faithful roundings give into `sides`, the correctly rounded one's first; returns
  // their count (1: the attempt is certain).
  int attempt(TorchGenerator& gen, std::int64_t area, BoxSides sides[kMaxSides]) const;

 private:
  // Whether the attempt's box (sides[0]) fits, counting it uncertain where another rounding's
  // answer or sides differ.
  bool fits(const BoxSides* sides, int n, const std::function<bool(const BoxSides&)>& test);

  float scale_lo_ = 0, scale_hi_ = 0;
  double ratio_[2] = {1, 1};
  // The faithful roundings of torch.log of each float32 ratio, the correctly rounded first.
  float log_lo_[3] = {}, log_hi_[3] = {};
  int log_lo_count_ = 0, log_hi_count_ = 0;
  bool same_ratio_ = false;  // ratio[0] == ratio[1] as float32: one log for both bounds
  std::int64_t uncertain_ = 0;
};

// The floats a faithful float32 function can return where the exact result is (near) `x`, a
// double good to a few of its own ulps: the correctly rounded float first, then its neighbours
// on either side of x; returns their count (1 where x is 0).
int faithful_floats(double x, float out[3]);

}  // namespace ltrt
