// float16 rounding for "16-mixed" on the GPU. As with bfloat16 (bfloat16.hpp), a generated program
// keeps every tensor in float32; one that torch holds in float16 holds float32 values that float16
// represents exactly, rounded where torch's kernel stores its float16 result.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "ltrt/host_device.hpp"

namespace ltrt {

// c10::Half's float -> float16 -> float: round to nearest, ties to even; values from 65520 on
// (float16's largest, 65504, plus half its last step) become infinity, NaN stays NaN, and below
// 2^-14 the steps are float16's subnormals' (2^-24).
LTRT_HOST_DEVICE inline float round_fp16(float x) {
  std::uint32_t bits;
#ifdef __CUDA_ARCH__
  bits = __float_as_uint(x);
#else
  std::memcpy(&bits, &x, sizeof bits);
#endif
  const std::uint32_t sign = bits & 0x80000000u;
  std::uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return x;              // NaN
  if (magnitude >= 0x477FF000u) {                      // 65520 and up, infinity too
    magnitude = 0x7F800000u;
  } else if (magnitude >= 0x38800000u) {               // float16's normal range: 10 fraction bits
    magnitude = (magnitude + 0xFFFu + ((magnitude >> 13) & 1u)) & ~0x1FFFu;
  } else {                                              // subnormal: a multiple of 2^-24
    float m;
#ifdef __CUDA_ARCH__
    m = __uint_as_float(magnitude);
    m = rintf(m * 16777216.0f) * 5.9604644775390625e-8f;  // exact scalings; rint ties to even
#else
    std::memcpy(&m, &magnitude, sizeof m);
    m = std::nearbyint(m * 16777216.0f) * 5.9604644775390625e-8f;
#endif
#ifdef __CUDA_ARCH__
    magnitude = __float_as_uint(m);
#else
    std::memcpy(&magnitude, &m, sizeof magnitude);
#endif
  }
  bits = sign | magnitude;
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
#endif
}

}  // namespace ltrt
