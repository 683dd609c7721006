// mma_check: ltrt/cuda/mma.cuh on a real GPU (sm_80 or newer), the proof that the fragment
// layouts and TF32 rounding that the CUDA emulator implements are the hardware's. It runs the
// checks of mma_checks.cuh (the same ones the emulator's test runs), prints one line a check and
// "mma_check: PASSED", or the first mismatching lane and element and exits 1. Without a GPU it
// says so and exits 77 (CTest's skip code in the gpu label).
//
//   nvcc -std=c++17 -arch=sm_90 -I runtime/include tests/cuda/mma_check.cu -o mma_check && ./mma_check
#include <cuda_runtime.h>

#include <cstdio>
#include <exception>

#include "mma_checks.cuh"

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("mma_check: no CUDA GPU; nothing checked\n");
    return 77;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::printf("mma_check: cudaGetDeviceProperties failed\n");
    return 1;
  }
  std::printf("mma_check: %s, compute capability %d.%d\n", prop.name, prop.major, prop.minor);
  if (prop.major < 8) {
    std::printf("mma_check: FAILED: TF32 mma needs compute capability 8.0 or newer\n");
    return 1;
  }
  bool passed = true;
  try {
    for (const mma_checks::MmaCheck& check : mma_checks::run_all()) {
      std::printf("%-16s %s: %s\n", check.name.c_str(), check.passed ? "ok" : "FAILED", check.detail.c_str());
      passed = passed && check.passed;
    }
  } catch (const std::exception& e) {
    std::printf("mma_check: FAILED: %s\n", e.what());
    return 1;
  }
  std::printf("mma_check: %s\n", passed ? "PASSED" : "FAILED");
  return passed ? 0 : 1;
}
