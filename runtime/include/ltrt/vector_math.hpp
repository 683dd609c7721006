// exp, expm1, tanh and erfc for float that compilers vectorise: branch-free, no calls. libm's
// expf, tanhf and erff are calls that keep every loop around them scalar; with these, an
// activation's loop over a batch runs 16 lanes wide on AVX-512. Accuracy (checked against double precision in
// tests/runtime/vector_math_test.cpp): exp within 2 ulp, expm1 within 2 ulp, tanh within
// 1.5 ulp, erfc within 4e-7 relative.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "ltrt/host_device.hpp"

namespace ltrt {

namespace detail {
LTRT_HOST_DEVICE inline float float_from_bits(std::int32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
LTRT_HOST_DEVICE inline float select(bool c, float a, float b) { return c ? a : b; }

// x = n ln2 + r with n an integer and |r| <= ln2 / 2; ln2 in two parts, so n ln2 is exact.
struct Ln2Reduced {
  float n, r;
};
LTRT_HOST_DEVICE inline Ln2Reduced reduce_ln2(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;      // 11 significant bits: n * kLn2Hi is exact
  constexpr float kLn2Lo = 1.42860682030941723e-6f;  // ln2 - kLn2Hi
  constexpr float kRound = 12582912.0f;             // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * kLog2e + kRound) - kRound;
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  return {n, r};
}
}  // namespace detail

// e^x: x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so n ln2 is exact), e^r by its
// Taylor series to r^7 (truncation below 6e-9 relative), 2^n from exponent bits, split in two
// factors so that n = -126 ... 128 stays in range. Below -87.34 it returns 0 (no subnormals),
// above 88.73 infinity; NaN stays NaN.
LTRT_HOST_DEVICE inline float exp_vec(float x) {
  const auto [n, r] = detail::reduce_ln2(x < -87.34f ? -87.34f : (x > 88.73f ? 88.73f : x));
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const auto ni = static_cast<std::int32_t>(n);
  const std::int32_t half = ni >> 1;
  const float scale1 = detail::float_from_bits((half + 127) << 23);
  const float scale2 = detail::float_from_bits((ni - half + 127) << 23);
  const float y = p * scale1 * scale2;
  return detail::select(x < -87.34f, 0.0f, detail::select(x > 88.73f, std::numeric_limits<float>::infinity(), y));
}

// e^x - 1 without exp_vec's cancellation near 0: x = n ln2 + r as in exp_vec, e^r - 1 by its
// Taylor series to r^8 (truncation below 2e-10 relative), then 2^n (e^r - 1) + (2^n - 1), where
// 2^n - 1 is exact up to n = 24 (beyond, its rounding is far below the result's ulp). For
// |x| <= 88 (tanh_vec's calls stay within 20).
LTRT_HOST_DEVICE inline float expm1_vec(float x) {
  const auto [n, r] = detail::reduce_ln2(x < -88.0f ? -88.0f : (x > 88.0f ? 88.0f : x));
  float p = 1.0f / 40320.0f;
  p = p * r + 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r * r + r;
  const float s = detail::float_from_bits((static_cast<std::int32_t>(n) + 127) << 23);
  return p * s + (s - 1.0f);
}

// tanh(x), within 1.5 ulp, with or without FMA contraction (-march=native, as generated programs
// build, gives 1.498 over every float too; libm's tanhf is a call that keeps the recurrent cells'
// loops scalar). Below |x| = 0.625 an odd polynomial x + x^3 P(x^2) (a least-squares fit reweighted
// towards minimax: 4.4e-9 relative in exact arithmetic); above, e / (e + 2) with e = e^(2|x|) - 1.
// tanh(10) rounds to 1, so |x| is clamped there; the sign is x's (tanh(-0) is -0, NaN stays NaN).
LTRT_HOST_DEVICE inline float tanh_vec(float x) {
  const float a = std::fabs(x);
  const float e = expm1_vec(2.0f * (a > 10.0f ? 10.0f : a));
  const float large = e / (e + 2.0f);
  const float u = a * a;
  float p = -0.005705088842660189f;
  p = p * u + 0.02063918672502041f;
  p = p * u - 0.053739748895168304f;
  p = p * u + 0.13331443071365356f;
  p = p * u - 0.3333328068256378f;
  const float small = a + a * u * p;
  return std::copysign(detail::select(a < 0.625f, small, large), x);
}

// erfc(x), by Numerical Recipes' Chebyshev fit erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2),
// z = |x| (fractional error below 1.2e-7 in exact arithmetic), and erfc(-z) = 2 - erfc(z).
LTRT_HOST_DEVICE inline float erfc_vec(float x) {
  const float a = x < 0 ? -x : x;
  const float z = a > 10.0f ? 10.0f : a;  // erfc(10) = 2e-45: 0 in float; keeps z * z finite (NaN stays NaN)
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  // The exponent -z^2 + P(t) summed without losing its low bits (z^2 up to ~80 would
  // otherwise cost up to 4e-6 relative): the rounding error of z * z (an FMA gives it exactly)
  // and of the sum (TwoSum) go into a first-order correction e^(s + c) = e^s (1 + c).
  const float zz = z * z;
  const float zz_err = std::fma(z, z, -zz);
  const float s = p - zz;
  const float v = s - p;
  const float sum_err = (p - (s - v)) + (-zz - v);
  const float e = t * exp_vec(s) * (1.0f + (sum_err - zz_err));
  return detail::select(x < 0, 2.0f - e, e);
}

}  // namespace ltrt
