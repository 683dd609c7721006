// The averaged model's updates on the device, one thread an element, with ltrt/averaged_model.hpp's
// arithmetic: EMAWeightAveraging's (ema_value), StochasticWeightAveraging's running mean
// (swa_value, Lightning's own avg) and WeightAveraging's (torch's _foreach_lerp_ on the GPU).
#include "ltrt/averaged_model.hpp"
#include "ltrt/cuda/kernels.cuh"
#include "ltrt/lerp.hpp"

namespace ltrt::cuda {

namespace {

constexpr int kThreads = 256;  // TUNE: threads per block

template <typename T>
__global__ void ema_kernel(T* __restrict__ average, const T* __restrict__ model, std::int64_t n, float decay,
                           float one_minus_decay) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  average[i] = ema_value(average[i], model[i], decay, one_minus_decay);
}

__global__ void swa_kernel(float* __restrict__ average, const float* __restrict__ model, std::int64_t n, float count) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  average[i] = swa_value(average[i], model[i], count);
}

__global__ void lerp_kernel(float* __restrict__ average, const float* __restrict__ model, std::int64_t n, float weight) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  average[i] = lerp(average[i], model[i], weight);
}

template <typename T>
void launch_ema(const Context& ctx, T* average, const T* model, std::int64_t n, float decay, float one_minus_decay) {
  if (n == 0) return;
  ema_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, ctx.stream>>>(average, model, n, decay, one_minus_decay);
  LTRT_CUDA_CHECK_LAUNCH("ema_kernel");
}

}  // namespace

void ema_update(const Context& ctx, float* average, const float* model, std::int64_t n, float decay,
                float one_minus_decay) {
  launch_ema(ctx, average, model, n, decay, one_minus_decay);
}

void ema_update(const Context& ctx, std::int64_t* average, const std::int64_t* model, std::int64_t n, float decay,
                float one_minus_decay) {
  launch_ema(ctx, average, model, n, decay, one_minus_decay);
}

void swa_update(const Context& ctx, float* average, const float* model, std::int64_t n, std::int64_t n_averaged) {
  if (n == 0) return;
  const float count = static_cast<float>(n_averaged + 1);
  swa_kernel<<<blocks_for(n, kThreads), kThreads, 0, ctx.stream>>>(average, model, n, count);
  LTRT_CUDA_CHECK_LAUNCH("swa_kernel");
}

void lerp_update(const Context& ctx, float* average, const float* model, std::int64_t n, std::int64_t n_averaged) {
  if (n == 0) return;
  // 1 / (num_averaged + 1): a true division of the int64 count's tensor, in float32.
  const float weight = 1.0f / static_cast<float>(n_averaged + 1);
  lerp_kernel<<<blocks_for(n, kThreads), kThreads, 0, ctx.stream>>>(average, model, n, weight);
  LTRT_CUDA_CHECK_LAUNCH("lerp_kernel");
}

}  // namespace ltrt::cuda
