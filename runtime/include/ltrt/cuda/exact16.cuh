// The 16-bit storage of mixed precision's values on the GPU. A generated program keeps its
// tensors in float32 (bfloat16.hpp, float16.hpp); where such a tensor holds values that bfloat16
// or float16 represents exactly, its 16-bit copy holds the same values, so 16-bit tensor cores
// multiply them with nothing lost. The conversions here take no rounding step of their own: in
// the CUDA emulator a value the format does not hold exactly stops the run, so a rounding left
// out upstream shows there instead of being rounded away.
#pragma once

#include <cstdint>
#include <cstring>

#include <cuda_runtime.h>

namespace ltrt::cuda {

// The 16-bit formats of mixed precision: "bf16-mixed" and "16-mixed".
enum class Format16 : std::uint8_t { bf16, fp16 };

namespace exact16_detail {

__host__ __device__ inline std::uint32_t bits_of(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

__host__ __device__ inline float float_of(std::uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// In the emulator, a value that the format does not hold is fatal.
__host__ __device__ inline void check_exact(bool exact, const char* message) {
#if defined(LTGEN_CUDA_EMULATOR) && !defined(__CUDA_ARCH__)
  if (!exact) ltgen_emu::fatal(message);
#else
  (void)exact;
  (void)message;
#endif
}

}  // namespace exact16_detail

// The bfloat16 bits of x, a bfloat16 value: its high 16 bits. A NaN stays a (quiet) NaN.
__host__ __device__ inline std::uint16_t bf16_bits(float x) {
  using namespace exact16_detail;
  const std::uint32_t bits = bits_of(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  check_exact((bits & 0xffffu) == 0, "bf16_bits: a value that bfloat16 does not hold exactly (a rounding left out)");
  return static_cast<std::uint16_t>(bits >> 16);
}

// The float16 bits of x, a float16 value (infinities and subnormals too). A NaN stays a NaN.
__host__ __device__ inline std::uint16_t fp16_bits(float x) {
  using namespace exact16_detail;
  const std::uint32_t bits = bits_of(x);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);
  if (magnitude == 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (magnitude >= 0x38800000u) {  // 2^-14 and up: normal, 10 fraction bits, at most 65504
    check_exact((magnitude & 0x1fffu) == 0 && magnitude <= 0x477fe000u,
                "fp16_bits: a value that float16 does not hold exactly (a rounding left out)");
    return static_cast<std::uint16_t>(sign | ((magnitude - 0x38000000u) >> 13));  // exponent 127 -> 15
  }
  // Zero or a subnormal: a whole multiple of 2^-24, below 2^10 of them (the scaling is exact).
  const float steps = float_of(magnitude) * 16777216.0f;
  const std::uint32_t count = static_cast<std::uint32_t>(steps);
  check_exact(static_cast<float>(count) == steps, "fp16_bits: a value that float16 does not hold exactly (a rounding left out)");
  return static_cast<std::uint16_t>(sign | count);
}

__host__ __device__ inline std::uint16_t bits16(float x, Format16 format) {
  return format == Format16::bf16 ? bf16_bits(x) : fp16_bits(x);
}

// The value of bfloat16 bits: their float32 with 16 more zero bits.
__host__ __device__ inline float bf16_value(std::uint16_t bits) {
  return exact16_detail::float_of(static_cast<std::uint32_t>(bits) << 16);
}

// The value of float16 bits (subnormals, infinities and NaN too).
__host__ __device__ inline float fp16_value(std::uint16_t bits) {
  using namespace exact16_detail;
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu, fraction = bits & 0x3ffu;
  if (exponent == 0x1fu) return float_of(sign | 0x7f800000u | (fraction << 13));
  if (exponent != 0) return float_of(sign | ((exponent + 112u) << 23) | (fraction << 13));  // exponent 15 -> 127
  const float magnitude = static_cast<float>(fraction) * 5.9604644775390625e-8f;  // subnormal: fraction * 2^-24
  return float_of(sign | bits_of(magnitude));
}

}  // namespace ltrt::cuda
