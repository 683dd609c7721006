// Where an output of torch's bicubic interpolation (nn.Upsample's 'bicubic' mode, ATen's
// get_cubic_upsample_coefficients with A = -0.75) reads, along one dimension: four inputs around
// the source index, clamped to the edge (the border is repeated), and their weights, in float32
// as torch's CPU backward (UpSampleBicubic2d.cpp) writes them, without fused multiply-adds: a
// NumPy probe of that arithmetic matched PyPI torch 2.15's input gradients bit for bit and its
// forward (built with FMA contraction) within a rounding. The generated programs call it on both
// devices (the CPU's -march=native build may contract it: the same to a rounding).
#pragma once

#include <cmath>

#include "ltrt/host_device.hpp"

namespace ltrt {

struct CubicSource {
  int base;       // floor of the source index: the taps are base - 1 ... base + 2 before clamping
  int i[4];       // the taps, clamped to [0, in - 1]
  float w[4];     // their weights
};

// Keys' cubic convolution kernel, |x| <= 1 and 1 < |x| < 2, with torch's A = -0.75.
LTRT_HOST_DEVICE inline float cubic_near(float x) {
  constexpr float A = -0.75f;
  return ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
}
LTRT_HOST_DEVICE inline float cubic_far(float x) {
  constexpr float A = -0.75f;
  return ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
}

// Output o of `out` from `in` inputs; `ratio` is area_pixel_compute_scale's, as linear_source's.
// Unlike the linear modes, a source index below 0 is not clamped (torch's cubic=true).
LTRT_HOST_DEVICE inline CubicSource cubic_source(float ratio, int o, int in, bool align_corners) {
  const float src = align_corners ? ratio * static_cast<float>(o) : ratio * (static_cast<float>(o) + 0.5f) - 0.5f;
  const int floor_src = static_cast<int>(floorf(src));
  CubicSource s;
  s.base = floor_src < in - 1 ? floor_src : in - 1;  // torch's guard_index_and_lambda
  const float t = fminf(fmaxf(src - static_cast<float>(s.base), 0.0f), 1.0f);
  s.w[0] = cubic_far(t + 1.0f);
  s.w[1] = cubic_near(t);
  s.w[2] = cubic_near(1.0f - t);
  s.w[3] = cubic_far((1.0f - t) + 1.0f);
  for (int k = 0; k < 4; ++k) {
    const int at = s.base - 1 + k;
    s.i[k] = at < 0 ? 0 : at > in - 1 ? in - 1 : at;
  }
  return s;
}

// A plane's value at rows r and columns c (`width` columns): each row's taps summed in order, then
// the rows, a fused multiply-add after each first product, as torch's CPU forward.
LTRT_HOST_DEVICE inline float bicubic(const float* plane, int width, const CubicSource& r, const CubicSource& c) {
  float out = 0.0f;
  for (int k = 0; k < 4; ++k) {
    const float* row = plane + static_cast<long long>(r.i[k]) * width;
    float t = row[c.i[0]] * c.w[0];
    for (int j = 1; j < 4; ++j) t = fmaf(row[c.i[j]], c.w[j], t);
    out = k == 0 ? t * r.w[0] : fmaf(t, r.w[k], out);
  }
  return out;
}

}  // namespace ltrt
