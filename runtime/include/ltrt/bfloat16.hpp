// bfloat16 rounding for mixed precision ("bf16-mixed"). A generated program keeps every tensor in
// float32; one that torch holds in bfloat16 holds float32 values that bfloat16 represents exactly,
// rounded where torch's kernel stores its bfloat16 result. Float32 sums of bfloat16 products are
// exact products, so this is torch's arithmetic, not an approximation of it.
#pragma once

#include <cstdint>
#include <cstring>

#include "ltrt/host_device.hpp"

namespace ltrt {

// c10::BFloat16's float -> bfloat16 -> float: round to nearest, ties to even; any NaN becomes the
// quiet NaN 0x7FC0; values past bfloat16's largest round to infinity.
LTRT_HOST_DEVICE inline float round_bf16(float x) {
  if (x != x) return x;  // NaN: torch stores 0x7FC0, which reads back as a NaN all the same
  std::uint32_t bits;
#ifdef __CUDA_ARCH__
  bits = __float_as_uint(x);
#else
  std::memcpy(&bits, &x, sizeof bits);
#endif
  bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
#endif
}

}  // namespace ltrt
