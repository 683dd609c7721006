// fexp_u20: the fast exp that torch's CPU flash attention (bfloat16 inputs) applies to its scores,
// reproduced bit for bit, so that a bf16-mixed program's attention rounds the same probabilities
// to bfloat16 as Lightning's. It is coarse (about 1e-4 relative: fexp_u20(0) is 0.99994659), so
// the float32 path keeps ltrt::exp_vec. Algorithm: torch's Vectorized<float>::fexp_u20
// (ATen/cpu/vec/vec512/vec512_float.h): 2^(x log2 e) built from its exponent bits, with a cubic
// correction of the fractional part.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "ltrt/host_device.hpp"

namespace ltrt {

// (Also in CUDA kernels: the GPU's bf16-mixed attention rounds the same probabilities.)
LTRT_HOST_DEVICE inline float fexp_u20(float x) {
  auto from_bits = [](std::uint32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
  };
  const float ln_flt_min = from_bits(0xc2aeac50u), ln_flt_max = from_bits(0x42b17218u);
  if (x < ln_flt_min) return 0.0f;
  if (x > ln_flt_max) return from_bits(0x7f800000u);
  constexpr float c0 = 0.00010703434948458272f, c1 = 0.30354260500649682f, c2 = -0.22433836478672356f,
                  c3 = -0.079204240219773236f;
  float t = x * from_bits(0x3fb8aa3bu);  // x log2(e)
  const float frac = t - std::floor(t);
  float r = std::fma(frac, c3, c2);
  r = std::fma(frac, r, c1);
  r = std::fma(frac, r, c0);
  t = t - r;
  const float biased = std::fma(8388608.0f, t, 1065353216.0f);  // 2^23 t + 127 * 2^23: the float's bits
  return from_bits(static_cast<std::uint32_t>(static_cast<std::int32_t>(biased)));
}

}  // namespace ltrt
