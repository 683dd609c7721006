// How an emulated mma element adds its accumulator and its exact products: by
// LTGEN_CUDA_EMULATOR_MMA (or set_tensor_core_sum), "nearest" (the default: one addition at a
// time, in ascending k, each rounded to nearest even) or "truncate" (what tensor cores were
// measured to do on V100, T4 and A100: the terms aligned to the largest one's exponent, each cut
// to float32's 24 bits there, summed, and the sum rounded toward zero; Fasi, Higham, Mikaitis and
// Pranesh, "Numerical behavior of NVIDIA tensor cores", PeerJ Computer Science 2021). Hopper's
// behaviour is not documented; kernels must be accurate enough under either.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cuda_runtime.h"

namespace ltgen_emu {

namespace {

enum class Sum { nearest, truncate };

Sum parse(const std::string& name) {
  if (name == "nearest") return Sum::nearest;
  if (name == "truncate") return Sum::truncate;
  fatal(("unknown tensor-core sum '" + name + "': LTGEN_CUDA_EMULATOR_MMA is nearest or truncate").c_str());
}

Sum& mode() {
  static Sum m = [] {
    const char* env = std::getenv("LTGEN_CUDA_EMULATOR_MMA");
    if (env == nullptr || *env == '\0') return Sum::nearest;
    // Said once, so that a test can tell that the program ran with the sum it asked for.
    std::fprintf(stderr, "ltgen CUDA emulator: tensor-core sum %s (LTGEN_CUDA_EMULATOR_MMA)\n", env);
    return parse(env);
  }();
  return m;
}

float truncated_sum(float c, const float* products, int n) {
  double terms[17];
  terms[0] = c;
  for (int k = 0; k < n; ++k) terms[k + 1] = products[k];
  int top = 0;
  bool any = false;
  for (int k = 0; k <= n; ++k) {
    if (!std::isfinite(terms[k])) {  // infinities and NaNs: as IEEE addition has them
      double s = 0.0;
      for (int j = 0; j <= n; ++j) s += terms[j];
      return static_cast<float>(s);
    }
    if (terms[k] != 0.0) {
      top = any ? std::max(top, std::ilogb(terms[k])) : std::ilogb(terms[k]);
      any = true;
    }
  }
  if (!any) return c + 0.0f;
  const double unit = std::ldexp(1.0, top - 23);  // float32's last bit at the largest term
  double sum = 0.0;  // exact: every cut term is a multiple of unit below 2^(top + 1)
  for (int k = 0; k <= n; ++k) sum += std::trunc(terms[k] / unit) * unit;
  float f = static_cast<float>(sum);  // to nearest, then toward zero where that went up
  if (std::fabs(static_cast<double>(f)) > std::fabs(sum)) f = std::nextafter(f, 0.0f);
  return f;
}

}  // namespace

void set_tensor_core_sum(const char* name) { mode() = parse(name); }

float tensor_core_sum(float c, const float* products, int n) {
  if (n > 16) fatal("tensor_core_sum: at most 16 products");
  if (mode() == Sum::truncate) return truncated_sum(c, products, n);
  float sum = c;
  for (int k = 0; k < n; ++k) sum += products[k];
  return sum;
}

}  // namespace ltgen_emu
