// ATen's lerp(self, end, weight) for a float32 weight (ATen/native/Lerp.h): self + weight * (end -
// self) for |weight| < 0.5, else end - (end - self) * (1 - weight), each one fused multiply-add.
// The CPU's vectorised kernel calls vec::fmadd, and nvcc contracts the CUDA kernel's expression
// into an fma; one function serves the optimizers (exp_avg.lerp_) and WeightAveraging's running
// mean on the GPU (torch._foreach_lerp_) on both devices.
#pragma once

#include <cmath>

#include "ltrt/host_device.hpp"

namespace ltrt {

LTRT_HOST_DEVICE inline float lerp(float self, float end, float weight) {
  return fabsf(weight) < 0.5f ? fmaf(weight, end - self, self) : fmaf(weight - 1.0f, end - self, end);
}

}  // namespace ltrt
