// What the optimizers' CPU loops (sgd.cpp, adam.cpp, adamax.cpp, radam.cpp, nadam.cpp, rmsprop.cpp,
// adagrad.cpp, adadelta.cpp, rprop.cpp) share: multiversioning, and ATen's scalar lerp.
#pragma once

#include <cmath>

// Multiversioned kernels (GCC on x86-64 Linux): the runtime is compiled for baseline x86-64,
// where std::fma is a call into libm for every element and the loop stays scalar. The
// x86-64-v3/v4 clones inline it as vfmadd and vectorise the loop; the ifunc picks the best
// clone at load time. Results are the same bit for bit in every clone: std::fma rounds once
// wherever it runs, and the loops are elementwise (no reduction to reorder).
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define LTRT_KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LTRT_KERNEL_CLONES
#endif

namespace ltrt {

// ATen's lerp for a scalar weight (vectorized form: one fused multiply-add).
inline float lerp(float self, float end, float weight) {
  return std::fabs(weight) < 0.5f ? std::fma(weight, end - self, self) : std::fma(weight - 1.0f, end - self, end);
}

}  // namespace ltrt
