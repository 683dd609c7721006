// fp16_check: ltrt::round_fp16 as nvcc compiles it for the device (its __CUDA_ARCH__ branch, which
// neither the host tests nor the CUDA emulator run) against the GPU's own float -> half -> float
// conversion (__float2half_rn, round to nearest even) and the host's round_fp16, over every sign
// and exponent with fractions stepped by a prime and their neighbours at float16's rounding
// boundaries. Prints "fp16_check: PASSED" or the first mismatch and exits 1; without a GPU it says
// so and exits 77 (CTest's skip code in the gpu label).
//
//   nvcc -std=c++17 -arch=sm_90 -I runtime/include tests/cuda/fp16_check.cu -o fp16_check && ./fp16_check
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "ltrt/float16.hpp"

namespace {

__global__ void round_kernel(const float* x, float* ours, float* hardware, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  ours[i] = ltrt::round_fp16(x[i]);
  hardware[i] = __half2float(__float2half_rn(x[i]));
}

std::uint32_t bits_of(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

bool same(float a, float b) { return bits_of(a) == bits_of(b) || (a != a && b != b); }  // any NaN matches a NaN

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("fp16_check: no CUDA GPU; nothing checked\n");
    return 77;
  }
  std::vector<float> x;
  for (std::uint32_t sign : {0u, 0x80000000u})
    for (std::uint32_t exponent = 0; exponent < 256; ++exponent)
      for (std::uint32_t fraction = 0; fraction < (1u << 23); fraction += 8191)
        for (std::uint32_t near : {0u, 0xFFFu, 0x1000u, 0x1001u}) {
          const std::uint32_t b = sign | exponent << 23 | ((fraction + near) & 0x7FFFFFu);
          float f;
          std::memcpy(&f, &b, sizeof f);
          x.push_back(f);
        }
  const int n = static_cast<int>(x.size());
  float *dx = nullptr, *dours = nullptr, *dhw = nullptr;
  if (cudaMalloc(&dx, n * sizeof(float)) != cudaSuccess || cudaMalloc(&dours, n * sizeof(float)) != cudaSuccess ||
      cudaMalloc(&dhw, n * sizeof(float)) != cudaSuccess) {
    std::printf("fp16_check: FAILED: cudaMalloc\n");
    return 1;
  }
  cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  round_kernel<<<(n + 255) / 256, 256>>>(dx, dours, dhw, n);
  std::vector<float> ours(n), hardware(n);
  cudaMemcpy(ours.data(), dours, n * sizeof(float), cudaMemcpyDeviceToHost);
  const cudaError_t status = cudaMemcpy(hardware.data(), dhw, n * sizeof(float), cudaMemcpyDeviceToHost);
  if (status != cudaSuccess) {
    std::printf("fp16_check: FAILED: %s\n", cudaGetErrorString(status));
    return 1;
  }
  for (int i = 0; i < n; ++i) {
    const float host = ltrt::round_fp16(x[i]);
    if (!same(ours[i], hardware[i]) || !same(ours[i], host)) {
      std::printf("fp16_check: FAILED at %08x: device round_fp16 %08x, __float2half_rn %08x, host round_fp16 %08x\n",
                  bits_of(x[i]), bits_of(ours[i]), bits_of(hardware[i]), bits_of(host));
      return 1;
    }
  }
  std::printf("fp16_check: %d values, device round_fp16 = __float2half_rn = host round_fp16\nfp16_check: PASSED\n", n);
  return 0;
}
