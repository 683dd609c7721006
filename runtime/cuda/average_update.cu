// The averaged model's updates on the device, one thread an element, with ltrt/averaged_model.hpp's
// arithmetic: EMAWeightAveraging's (ema_value), StochasticWeightAveraging's running mean
// (swa_value, Lightning's own avg) and WeightAveraging's (torch's _foreach_lerp_ on the GPU).
#include "ltrt/averaged_model.hpp"
#include "ltrt/cuda/kernels.cuh"
#include "ltrt/lerp.hpp"

namespace ltrt::cuda {

namespace {

constexpr int kThreads = 256;  // TUNE: threads per block

// Each rule's new average from the old one and the model's value.
struct Ema {
  float decay, one_minus_decay;
  template <typename T>
  __device__ T operator()(T average, T model) const {
    return ema_value(average, model, decay, one_minus_decay);
  }
};
struct RunningMean {  // Lightning's avg: a true division by the count
  float count;
  __device__ float operator()(float average, float model) const { return swa_value(average, model, count); }
};
struct Lerp {  // torch._foreach_lerp_ with the weight 1 / (n + 1)
  float weight;
  __device__ float operator()(float average, float model) const { return lerp(average, model, weight); }
};

template <typename T, typename Rule>
__global__ void average_kernel(T* __restrict__ average, const T* __restrict__ model, std::int64_t n, Rule rule) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  average[i] = rule(average[i], model[i]);
}

template <typename T, typename Rule>
void launch(const Context& ctx, T* average, const T* model, std::int64_t n, Rule rule) {
  if (n == 0) return;
  average_kernel<T, Rule><<<blocks_for(n, kThreads), kThreads, 0, ctx.stream>>>(average, model, n, rule);
  LTRT_CUDA_CHECK_LAUNCH("average_kernel");
}

}  // namespace

void ema_update(const Context& ctx, float* average, const float* model, std::int64_t n, float decay,
                float one_minus_decay) {
  launch(ctx, average, model, n, Ema{decay, one_minus_decay});
}

void ema_update(const Context& ctx, std::int64_t* average, const std::int64_t* model, std::int64_t n, float decay,
                float one_minus_decay) {
  launch(ctx, average, model, n, Ema{decay, one_minus_decay});
}

void swa_update(const Context& ctx, float* average, const float* model, std::int64_t n, std::int64_t n_averaged) {
  launch(ctx, average, model, n, RunningMean{static_cast<float>(n_averaged + 1)});
}

void lerp_update(const Context& ctx, float* average, const float* model, std::int64_t n, std::int64_t n_averaged) {
  // 1 / (num_averaged + 1): a true division of the int64 count's tensor, in float32.
  launch(ctx, average, model, n, Lerp{1.0f / static_cast<float>(n_averaged + 1)});
}

}  // namespace ltrt::cuda
