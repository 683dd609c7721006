// Which input an output of torch's nearest-neighbour upsampling copies, along one dimension
// (nn.Upsample's 'nearest' and 'nearest-exact' modes, ATen/native/UpSample.h's nearest_idx and
// nearest_exact_idx): floor(o * scale), or floor((o + 0.5) * scale), clamped to the last input, in
// float32 with torch's `scale` (compute_scales_value: 1 / scale_factor, or in / out for a size).
// The generated programs call it on both devices.
#pragma once

#include <cmath>

#include "ltrt/host_device.hpp"

namespace ltrt {

LTRT_HOST_DEVICE inline int nearest_source(float scale, int o, int in, bool exact) {
  const float src = exact ? (static_cast<float>(o) + 0.5f) * scale : static_cast<float>(o) * scale;
  const int i = static_cast<int>(floorf(src));
  return i < in - 1 ? i : in - 1;
}

// The outputs [first, end) that copy input i (none when first == end: a downsampling skips it).
// The sources grow with the output, so the walk starts a little before i / scale.
struct NearestReaders {
  int first, end;
};
LTRT_HOST_DEVICE inline NearestReaders nearest_readers(float scale, int i, int in, int out, bool exact) {
  int o = static_cast<int>(static_cast<float>(i) / scale) - 2;
  if (o < 0) o = 0;
  while (o < out && nearest_source(scale, o, in, exact) < i) ++o;
  const int first = o;
  while (o < out && nearest_source(scale, o, in, exact) == i) ++o;
  return {first, o};
}

}  // namespace ltrt
