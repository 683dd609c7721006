// The GPU's tensor cores against ltrt/cuda/mma.cuh's fragment layouts, before the first kernel
// that relies on them (tests/cuda/mma_check.cu checks more, as a test; this is the program's own
// guard, so that a GPU that places fragments otherwise is refused instead of training wrongly).
#include <cstdint>
#include <string>

#include "ltrt/cuda/context.cuh"
#include "ltrt/cuda/mma.cuh"
#include "ltrt/error.hpp"

namespace ltrt::cuda {

namespace {

// Small integers: TF32 holds them exactly, and every product and sum of the 16 x 8 x 8 tile is an
// exact float32, whatever the order of the additions.
__host__ __device__ constexpr float a_value(int row, int col) { return static_cast<float>((row * 5 + col * 3) % 9 - 4); }
__host__ __device__ constexpr float b_value(int row, int col) { return static_cast<float>((row * 7 + col * 2) % 11 - 5); }
__host__ __device__ constexpr float c_value(int row, int col) { return static_cast<float>(row - 2 * col); }

// Fractions for the 3xTF32 product: each needs both of its TF32 parts.
__host__ __device__ constexpr float a_fraction(int row, int col) { return static_cast<float>(row * 7 + col * 3 + 1) / 13.0f; }
__host__ __device__ constexpr float b_fraction(int row, int col) { return static_cast<float>(row * 5 - col * 2 - 3) / 11.0f; }

__device__ float probe_d[kMmaM * kMmaN];      // d, row-major, as the lanes placed it
__device__ float probe_split[kMmaM * kMmaN];  // the fractions' product in 3xTF32, likewise

// One warp: d = a b + c with each lane's fragments placed by the mma_*_position helpers.
__global__ void tensor_core_probe_kernel() {
#if LTRT_HAS_MMA_TF32
  const int lane = static_cast<int>(threadIdx.x);
  std::uint32_t a[kMmaAPerLane], b[kMmaBPerLane];
  float c[kMmaCPerLane], d[kMmaCPerLane];
  for (int i = 0; i < kMmaAPerLane; ++i) {
    const MmaPosition p = mma_a_position(lane, i);
    a[i] = to_tf32(a_value(p.row, p.col));
  }
  for (int i = 0; i < kMmaBPerLane; ++i) {
    const MmaPosition p = mma_b_position(lane, i);
    b[i] = to_tf32(b_value(p.row, p.col));
  }
  for (int i = 0; i < kMmaCPerLane; ++i) {
    const MmaPosition p = mma_c_position(lane, i);
    c[i] = c_value(p.row, p.col);
  }
  mma_tf32_16x8x8(d, a, b, c);
  for (int i = 0; i < kMmaCPerLane; ++i) {
    const MmaPosition p = mma_c_position(lane, i);
    probe_d[p.row * kMmaN + p.col] = d[i];
  }
  // In 3xTF32 as the attention kernels multiply (which assumes that a TF32 register is a float32
  // with its low 13 bits zero).
  float a_part[kMmaAPerLane], b_part[kMmaBPerLane], e[kMmaCPerLane];
  for (int i = 0; i < kMmaAPerLane; ++i) {
    const MmaPosition p = mma_a_position(lane, i);
    a_part[i] = a_fraction(p.row, p.col);
  }
  for (int i = 0; i < kMmaBPerLane; ++i) {
    const MmaPosition p = mma_b_position(lane, i);
    b_part[i] = b_fraction(p.row, p.col);
  }
  const float zero[kMmaCPerLane] = {};
  mma_3xtf32_16x8x8(e, a_part, b_part, zero);
  for (int i = 0; i < kMmaCPerLane; ++i) {
    const MmaPosition p = mma_c_position(lane, i);
    probe_split[p.row * kMmaN + p.col] = e[i];
  }
#endif
}

}  // namespace

void check_tensor_cores() {
  static bool checked = false;  // one check a process: every tensor-core kernel's prepare asks
  if (checked) return;
  int device = 0;
  cudaDeviceProp prop{};
  LTRT_CUDA_CHECK(cudaGetDevice(&device));
  LTRT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  const std::string gpu = "cuda:" + std::to_string(device) + " (" + prop.name + ", compute capability " +
                          std::to_string(prop.major) + "." + std::to_string(prop.minor) + ")";
  if (prop.major < 8)
    throw Error(gpu + " has no TF32 tensor cores, which this program's attention kernels use: generate it with "
                      "ltgen --cuda-arch " + std::to_string(prop.major) + std::to_string(prop.minor) + "-real");
  tensor_core_probe_kernel<<<1, kMmaLanes>>>();
  LTRT_CUDA_CHECK_LAUNCH("tensor_core_probe_kernel");
  LTRT_CUDA_CHECK(cudaDeviceSynchronize());
  float d[kMmaM * kMmaN], split[kMmaM * kMmaN];
  LTRT_CUDA_CHECK(cudaMemcpyFromSymbol(d, probe_d, sizeof d));
  LTRT_CUDA_CHECK(cudaMemcpyFromSymbol(split, probe_split, sizeof split));
  for (int row = 0; row < kMmaM; ++row) {
    for (int col = 0; col < kMmaN; ++col) {
      float want = c_value(row, col);
      for (int k = 0; k < kMmaK; ++k) want += a_value(row, k) * b_value(k, col);
      const float got = d[row * kMmaN + col];
      if (got != want)
        throw Error(gpu + ": a tensor-core product came out different from what ltgen's kernels expect (row " +
                    std::to_string(row) + ", column " + std::to_string(col) + ": " + std::to_string(got) +
                    " instead of " + std::to_string(want) +
                    "), so their results would be wrong on this GPU; please report it with this message. Train on "
                    "the CPU meanwhile with CUDA_VISIBLE_DEVICES=\"\" (trainer.accelerator \"auto\")");
      // 3xTF32 keeps about float32's accuracy: within 1e-5 of the terms' magnitude, where one
      // TF32 product is off by about 1e-3.
      double want_split = 0, magnitude = 0;
      for (int k = 0; k < kMmaK; ++k) {
        const double term = static_cast<double>(a_fraction(row, k)) * b_fraction(k, col);
        want_split += term;
        magnitude += term < 0 ? -term : term;
      }
      const double error = split[row * kMmaN + col] - want_split;
      if ((error < 0 ? -error : error) > 1e-5 * magnitude)
        throw Error(gpu + ": a 3xTF32 tensor-core product came out less accurate than ltgen's kernels expect (row " +
                    std::to_string(row) + ", column " + std::to_string(col) + ": " +
                    std::to_string(split[row * kMmaN + col]) + " instead of " + std::to_string(want_split) +
                    "), so their results would be wrong on this GPU; please report it with this message. Train on "
                    "the CPU meanwhile with CUDA_VISIBLE_DEVICES=\"\" (trainer.accelerator \"auto\")");
    }
  }
  checked = true;
}

}  // namespace ltrt::cuda
