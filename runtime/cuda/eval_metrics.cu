// An evaluation batch's loss and accuracy added to running sums in device memory, so that a
// validation or test loop reads them back once, at its end (runtime/src/metrics.cpp's
// batch_accuracy and WeightedMean, on the device).
#include "ltrt/cuda/kernels.cuh"

namespace ltrt::cuda {

namespace {

constexpr int kThreads = 1024;  // one block; a power of two: the tree reduction halves it

__global__ void eval_metrics_kernel(EvalSums* __restrict__ sums, const float* __restrict__ loss,
                                    const float* __restrict__ out, const void* __restrict__ target, AccuracyShape shape,
                                    int n) {
  __shared__ unsigned long long correct[kThreads];
  __shared__ unsigned long long total[kThreads];
  unsigned long long mine_correct = 0, mine_total = 0;
  if (shape.accuracy) {
    const std::int64_t count = static_cast<std::int64_t>(n) * shape.per_row;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      if (shape.class_targets) {
        // torch.argmax: the first index of the largest logit; ignore_index rows do not count.
        const std::int64_t t = static_cast<const std::int64_t*>(target)[i];
        if (t == shape.ignore_index) continue;
        const float* row = out + i * shape.classes;
        std::int64_t best = 0;
        for (std::int64_t k = 1; k < shape.classes; ++k)
          if (row[k] > row[best]) best = k;
        mine_correct += best == t;
      } else {
        mine_correct += (out[i] > 0.0f) == (static_cast<const float*>(target)[i] > 0.5f);
      }
      ++mine_total;
    }
  }
  correct[threadIdx.x] = mine_correct;
  total[threadIdx.x] = mine_total;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) {
      correct[threadIdx.x] += correct[threadIdx.x + s];
      total[threadIdx.x] += total[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x != 0) return;
  // WeightedMean::add(value, n): value * n in float64, the loss a float widened.
  sums->loss += static_cast<double>(loss[0]) * n;
  if (shape.accuracy) {
    const double acc = total[0] ? static_cast<double>(correct[0]) / static_cast<double>(total[0]) : 0.0;
    sums->acc += acc * n;
  }
  sums->rows += n;
}

}  // namespace

void add_eval_metrics(const Context& ctx, EvalSums* sums, const float* loss, const float* out, const void* target,
                      const AccuracyShape& shape, int n) {
  eval_metrics_kernel<<<1, kThreads, 0, ctx.stream>>>(sums, loss, out, target, shape, n);
  LTRT_CUDA_CHECK_LAUNCH("eval_metrics_kernel");
}

}  // namespace ltrt::cuda
