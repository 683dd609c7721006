// Gradient clipping on the device, over the flat gradient region: torch.nn.utils'
// clip_grad_norm_ (total 2-norm, float64 sums) and clip_grad_value_, as the CPU trainer does.
#include <cmath>

#include "ltrt/cuda/kernels.cuh"

namespace ltrt::cuda {

namespace {

constexpr int kThreads = 256;  // a power of two: the tree reductions halve it

// Each block sums the squares of a grid-stride share into partial[blockIdx.x].
__global__ void sum_squares_kernel(double* __restrict__ partial, const float* __restrict__ grad, std::int64_t n) {
  __shared__ double shared[kThreads];
  double sum = 0.0;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    sum += static_cast<double>(grad[i]) * grad[i];
  shared[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

// One block: the total norm from the partial sums, then the clip coefficient.
__global__ void clip_coefficient_kernel(float* __restrict__ coef, const double* __restrict__ partial, float max_norm) {
  __shared__ double shared[kClipBlocks];
  shared[threadIdx.x] = partial[threadIdx.x];
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const float total_norm = static_cast<float>(sqrt(shared[0]));
    *coef = max_norm / (total_norm + 1e-6f);
  }
}

__global__ void scale_kernel(float* __restrict__ grad, const float* __restrict__ coef, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const float c = *coef;
  if (i < n && c < 1.0f) grad[i] *= c;
}

__global__ void clamp_kernel(float* __restrict__ grad, float v, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) grad[i] = fminf(fmaxf(grad[i], -v), v);
}

}  // namespace

void clip_gradients(const Context& ctx, float* grad, std::int64_t n, float clip_val, bool by_value, void* scratch) {
  if (n == 0) return;
  const unsigned blocks = blocks_for(n, kThreads);
  if (by_value) {
    clamp_kernel<<<blocks, kThreads, 0, ctx.stream>>>(grad, clip_val, n);
    LTRT_CUDA_CHECK_LAUNCH("clamp_kernel");
    return;
  }
  double* partial = static_cast<double*>(scratch);
  float* coef = reinterpret_cast<float*>(partial + kClipBlocks);
  sum_squares_kernel<<<kClipBlocks, kThreads, 0, ctx.stream>>>(partial, grad, n);
  LTRT_CUDA_CHECK_LAUNCH("sum_squares_kernel");
  clip_coefficient_kernel<<<1, kClipBlocks, 0, ctx.stream>>>(coef, partial, clip_val);
  LTRT_CUDA_CHECK_LAUNCH("clip_coefficient_kernel");
  scale_kernel<<<blocks, kThreads, 0, ctx.stream>>>(grad, coef, n);
  LTRT_CUDA_CHECK_LAUNCH("scale_kernel");
}

}  // namespace ltrt::cuda
