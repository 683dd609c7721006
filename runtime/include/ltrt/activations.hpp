// Scalar activation functions and their derivatives, inlined into generated
// loops. Formulas follow PyTorch's CPU kernels.
#pragma once

#include <cmath>

namespace ltrt {

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
inline float silu_grad(float x) {
  const float s = sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}

// GELU(approximate='none'): 0.5 x (1 + erf(x / sqrt 2)).
inline float gelu_erf(float x, float inv_sqrt2) { return 0.5f * x * (1.0f + std::erf(x * inv_sqrt2)); }
inline float gelu_erf_grad(float x, float inv_sqrt2, float inv_sqrt_2pi) {
  const float cdf = 0.5f * (1.0f + std::erf(x * inv_sqrt2));
  const float pdf = inv_sqrt_2pi * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

// GELU(approximate='tanh'): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
inline float gelu_tanh(float x, float sqrt_2_over_pi, float cubic) {
  const float inner = sqrt_2_over_pi * (x + cubic * x * x * x);
  return 0.5f * x * (1.0f + std::tanh(inner));
}
inline float gelu_tanh_grad(float x, float sqrt_2_over_pi, float cubic) {
  const float x2 = x * x;
  const float inner = sqrt_2_over_pi * (x + cubic * x2 * x);
  const float t = std::tanh(inner);
  const float left = 0.5f * (1.0f + t);
  const float right = 0.5f * x * (1.0f - t * t) * sqrt_2_over_pi * (1.0f + 3.0f * cubic * x2);
  return left + right;
}

}  // namespace ltrt
