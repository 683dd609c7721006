// blas_kernels_warning: OpenBLAS on a CPU newer than it knows (ltrt/blas.hpp).
#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "ltrt/blas.hpp"

namespace ltrt {

std::string blas_kernels_warning() {
  // Looked up, not linked: the program may link another BLAS, or ltrt's portable sgemm.
  using CoreName = char* (*)();
  const auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (core_name == nullptr || std::getenv("OPENBLAS_CORETYPE") != nullptr) return "";
  const std::string core = core_name();
  // Prescott: SSE3 without FMA, OpenBLAS's fallback for an x86-64 CPU it cannot place. Measured
  // on an Intel Xeon (family 6 model 207) with OpenBLAS 0.3.21: 40 steps of specs/gpt_char.json
  // took 14.8 s, and 4.6 s with its Cooperlake kernels.
  if (core != "Prescott") return "";
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const char* fits = __builtin_cpu_supports("avx512bf16") ? "Cooperlake"
                     : __builtin_cpu_supports("avx512f")  ? "SkylakeX"
                     : __builtin_cpu_supports("avx2")     ? "Haswell"
                                                          : nullptr;
  if (fits == nullptr) return "";  // Prescott's kernels are what this CPU can run
  return "OpenBLAS does not recognise this CPU and runs its generic Prescott kernels (SSE3, no FMA), several "
         "times slower than this CPU allows: set OPENBLAS_CORETYPE=" + std::string(fits) +
         " in the environment to run its kernels for this CPU";
#else
  return "";  // Prescott is an x86 name: nothing to say elsewhere
#endif
}

}  // namespace ltrt
