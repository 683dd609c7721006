// GradScaler.unscale_ on the device ("16-mixed"): the flat gradient region times 1 / scale, and a
// flag for the step that an infinity or NaN was found (then the optimizer kernels skip it).
#include <cmath>

#include "ltrt/cuda/kernels.cuh"

namespace ltrt::cuda {

namespace {

constexpr int kThreads = 256;

// torch's _amp_foreach_non_finite_check_and_unscale_ CPU and CUDA kernels: the check reads the
// gradient before it is scaled, and every element is scaled (an infinity stays one, a NaN a NaN).
__global__ void unscale_kernel(float* __restrict__ grad, std::int64_t n, StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = grad[i];
  if (!std::isfinite(g)) s->found_inf = 1;
  const float inv_scale = s->inv_scale;
  grad[i] = inv_scale == 1.0f ? g : g * inv_scale;
}

}  // namespace

void unscale_gradients(const Context& ctx, float* grad, std::int64_t n, StepScalars* scalars) {
  if (n == 0) return;
  unscale_kernel<<<blocks_for(n, kThreads), kThreads, 0, ctx.stream>>>(grad, n, scalars);
  LTRT_CUDA_CHECK_LAUNCH("unscale_kernel");
}

}  // namespace ltrt::cuda
