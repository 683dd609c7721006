// Scalar activation functions and their derivatives, inlined into generated
// loops and CUDA kernels alike. Formulas follow PyTorch's CPU kernels; exp and erfc are ltrt's vectorisable
// ones (vector_math.hpp), so that the loops around them run SIMD-wide.
#pragma once

#include <algorithm>
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

// The ELU family (ELU, CELU, SELU), as torch's elu kernel: x > 0 ? pos x : neg (exp(input_scale x) - 1)
// with neg = alpha * scale, pos = scale; the gradient from the input (elu_backward, is_result=false).
LTRT_HOST_DEVICE inline float elu(float x, float neg, float pos, float input_scale) {
  return x <= 0.0f ? std::expm1(x * input_scale) * neg : x * pos;
}
LTRT_HOST_DEVICE inline float elu_grad(float x, float neg, float pos, float input_scale) {
  return x <= 0.0f ? input_scale * neg * std::exp(x * input_scale) : pos;
}
// inplace=True: torch's elu_backward from the result y (is_result=true).
LTRT_HOST_DEVICE inline float elu_grad_from_result(float y, float neg, float pos, float input_scale) {
  return y <= 0.0f ? input_scale * (y + neg) : pos;
}

// Softplus(beta, threshold): log(1 + exp(beta x)) / beta, x itself where beta x > threshold.
LTRT_HOST_DEVICE inline float softplus(float x, float beta, float threshold) {
  return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta;
}
LTRT_HOST_DEVICE inline float softplus_grad(float x, float beta, float threshold) {
  if (x * beta > threshold) return 1.0f;
  const float z = std::exp(x * beta);
  return z / (z + 1.0f);
}

// Mish: x tanh(softplus(x)); the gradient as torch's mish_backward.
LTRT_HOST_DEVICE inline float mish(float x) { return x * std::tanh(std::log1p(std::exp(x))); }
LTRT_HOST_DEVICE inline float mish_grad(float x) {
  const float s = 1.0f / (1.0f + std::exp(-x));
  const float t = std::tanh(std::log1p(std::exp(x)));
  return t + x * s * (1.0f - t * t);
}

// Hardswish: x relu6(x + 3) / 6; Hardsigmoid: relu6(x + 3) / 6 (torch's kernels and backwards;
// Hardswish's gradient at exactly -3 and 3 is torch 2.x's, 0 and 1: torch 1.13 gave -0.5 and 1.5).
LTRT_HOST_DEVICE inline float hardsigmoid(float x) { return std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f; }
LTRT_HOST_DEVICE inline float hardsigmoid_grad(float x) { return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f; }
LTRT_HOST_DEVICE inline float hardswish(float x) { return x * std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f; }
LTRT_HOST_DEVICE inline float hardswish_grad(float x) {
  return x <= -3.0f ? 0.0f : x < 3.0f ? x / 3.0f + 0.5f : 1.0f;
}

// Softsign: x / (1 + |x|).
LTRT_HOST_DEVICE inline float softsign(float x) { return x / (std::fabs(x) + 1.0f); }
LTRT_HOST_DEVICE inline float softsign_grad(float x) {
  const float d = std::fabs(x) + 1.0f;
  return 1.0f / (d * d);
}

// LogSigmoid: min(x, 0) - log(1 + exp(-|x|)); the gradient as torch's log_sigmoid_backward.
LTRT_HOST_DEVICE inline float log_sigmoid(float x) {
  return std::min(x, 0.0f) - std::log1p(std::exp(-std::fabs(x)));
}
LTRT_HOST_DEVICE inline float log_sigmoid_grad(float x) {
  const float z = std::exp(-std::fabs(x));
  return x < 0.0f ? 1.0f - z / (1.0f + z) : z / (1.0f + z);
}

}  // namespace ltrt
