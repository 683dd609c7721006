// Where an output of torch's linear interpolation (nn.Upsample's 'linear' and 'bilinear' modes,
// ATen/native/UpSample.h's compute_source_index_and_lambda) reads, along one dimension: inputs i0
// and i1 with weights l0 and l1, in float32 as ATen's CPU kernels compute them: its compiler
// contracts ratio * (o + 0.5) - 0.5 into one fused multiply-add (PyPI torch 2.15's backward
// gives exactly these weights). The generated programs call it on both devices.
#pragma once

#include <cmath>

#include "ltrt/host_device.hpp"

namespace ltrt {

struct LinearSource {
  int i0, i1;    // the two inputs (the same one at the last)
  float l0, l1;  // their weights, l0 = 1 - l1
};

// Output o of `out` from `in` inputs; `ratio` is area_pixel_compute_scale's: (in - 1) / (out - 1)
// with align_corners, else 1 / scale_factor (or in / out for a size), each a float32.
LTRT_HOST_DEVICE inline LinearSource linear_source(float ratio, int o, int in, int out, bool align_corners) {
  if (out == in) return {o, o, 1.0f, 0.0f};  // torch copies: no arithmetic
  float src = align_corners ? ratio * static_cast<float>(o) : fmaf(ratio, static_cast<float>(o) + 0.5f, -0.5f);
  if (!align_corners && src < 0.0f) src = 0.0f;
  const int floor_src = static_cast<int>(floorf(src));
  const int i0 = floor_src < in - 1 ? floor_src : in - 1;
  const float l1 = fminf(fmaxf(src - static_cast<float>(i0), 0.0f), 1.0f);
  return {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.0f - l1, l1};
}

}  // namespace ltrt
