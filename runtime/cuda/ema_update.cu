// EMAWeightAveraging's update on the device: one thread an element, ema_value's arithmetic.
#include "ltrt/averaged_model.hpp"
#include "ltrt/cuda/kernels.cuh"

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

template <typename T>
void launch(const Context& ctx, T* average, const T* model, std::int64_t n, float decay, float one_minus_decay) {
  if (n == 0) return;
  ema_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, ctx.stream>>>(average, model, n, decay, one_minus_decay);
  LTRT_CUDA_CHECK_LAUNCH("ema_kernel");
}

}  // namespace

void ema_update(const Context& ctx, float* average, const float* model, std::int64_t n, float decay,
                float one_minus_decay) {
  launch(ctx, average, model, n, decay, one_minus_decay);
}

void ema_update(const Context& ctx, std::int64_t* average, const std::int64_t* model, std::int64_t n, float decay,
                float one_minus_decay) {
  launch(ctx, average, model, n, decay, one_minus_decay);
}

}  // namespace ltrt::cuda
