// Scalar activation functions and their derivatives, inlined into generated
// loops and CUDA kernels alike. Formulas follow PyTorch's CPU kernels; exp and erfc are ltrt's vectorisable
// ones (vector_math.hpp), so that the loops around them run SIMD-wide.
#pragma once

#include <cmath>

#include "ltrt/host_device.hpp"
#include "ltrt/vector_math.hpp"

namespace ltrt {

LTRT_HOST_DEVICE inline float sigmoid(float x) { return 1.0f / (1.0f + exp_vec(-x)); }

LTRT_HOST_DEVICE inline float silu(float x) { return x / (1.0f + exp_vec(-x)); }
LTRT_HOST_DEVICE inline float silu_grad(float x) {
  const float s = sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}

// GELU(approximate='none'): 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2), the second
// form accurate where 1 + erf cancels (x << 0).
LTRT_HOST_DEVICE inline float gelu_erf(float x, float inv_sqrt2) { return 0.5f * x * erfc_vec(-x * inv_sqrt2); }
LTRT_HOST_DEVICE inline float gelu_erf_grad(float x, float inv_sqrt2) {
  constexpr float kInvSqrt2Pi = 0.3989422804014327f;
  const float cdf = 0.5f * erfc_vec(-x * inv_sqrt2);
  const float pdf = kInvSqrt2Pi * exp_vec(-0.5f * x * x);
  return cdf + x * pdf;
}

// GELU(approximate='tanh'): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3); with
// 1 + tanh(u) = 2 sigmoid(2u) and 1 - tanh(u)^2 = 4 s (1 - s), s = sigmoid(2u).
LTRT_HOST_DEVICE inline float gelu_tanh(float x, float sqrt_2_over_pi, float cubic) {
  const float x2 = x * x;
  const float inner = sqrt_2_over_pi * (x + cubic * x2 * x);  // as in the gradient, to the last bit
  return x * sigmoid(2.0f * inner);
}
LTRT_HOST_DEVICE inline float gelu_tanh_grad(float x, float sqrt_2_over_pi, float cubic) {
  const float x2 = x * x;
  const float inner = sqrt_2_over_pi * (x + cubic * x2 * x);
  const float e = exp_vec(-2.0f * inner);
  const float s = 1.0f / (1.0f + e);
  const float one_minus_s = e * s;  // not 1 - s, which cancels where s is near 1
  const float right = 2.0f * x * s * one_minus_s * sqrt_2_over_pi * (1.0f + 3.0f * cubic * x2);
  return s + right;
}

}  // namespace ltrt
