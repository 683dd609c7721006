// cosine_similarity (torchmetrics' cosine_similarity and CosineSimilarity) of (rows, columns)
// float32 predictions against targets of that shape: each row's (x . y) / (|x| |y|), then their
// sum or mean. torchmetrics computes it with torch.sum, torch.norm and a division on the CPU, so
// each step here keeps ATen's order of operations (correlation_oracle checks the bits): the dot
// product as torch.sum of the rounded products (ltrt/cascade_sum.hpp), the norms as ATen's
// last-dimension norm kernel, the reduction as torch.sum (and a division for the mean). The CUDA
// backend runs the same functions in one thread.
#pragma once

#include <cmath>
#include <cstdint>

#include "ltrt/cascade_sum.hpp"
#include "ltrt/host_device.hpp"
#include "ltrt/model.hpp"

namespace ltrt {

// x.norm(dim=-1) of one contiguous float32 row of n values on the CPU: ATen's norm kernel for p=2
// over the last dimension (ReduceOpsKernel.cpp, with Vectorized<float> of 8 lanes, as PyPI's x86
// torch dispatches it). Each block of 8 values adds its squares into 8 lanes (a rounded product,
// then a sum: no fused multiply-add), the lanes are added in order, then the tail of fewer than 8
// as GCC compiles its scalar loop: the first 4 * floor(tail / 4) squares rounded and added, the
// rest with fmaf. Then the float's square root. A row of one value is its abs, as torch gives it
// there (no square is formed, so none overflows or underflows).
LTRT_HOST_DEVICE inline float torch_row_norm(const float* x, std::int64_t n) {
  if (n == 1) return fabsf(x[0]);
  constexpr std::int64_t kLanes = 8;
  float lanes[kLanes] = {};
  std::int64_t d = 0;
  for (; d + kLanes <= n; d += kLanes)
    for (std::int64_t l = 0; l < kLanes; ++l) {
      const float square = x[d + l] * x[d + l];
      lanes[l] += square;
    }
  float sum = lanes[0];
  for (std::int64_t l = 1; l < kLanes; ++l) sum += lanes[l];
  const std::int64_t rounded_end = d + 4 * ((n - d) / 4);
  for (; d < rounded_end; ++d) {
    const float square = x[d] * x[d];
    sum += square;
  }
  for (; d < n; ++d) sum = fmaf(x[d], x[d], sum);
  return sqrtf(sum);
}

// One row's cosine similarity: torch.sum of the products x * y, over the product of the norms.
LTRT_HOST_DEVICE inline float row_cosine_similarity(const float* x, const float* y, std::int64_t columns) {
  const float dot = torch_sum(
      [x, y](std::int64_t i) {
        const float product = x[i] * y[i];
        return product;
      },
      columns);
  const float norms = torch_row_norm(x, columns) * torch_row_norm(y, columns);
  return dot / norms;
}

// cosine_similarity of `rows` rows of `columns` predictions x against targets y (row-major), reduced
// as `reduction`: torch.sum of the rows' similarities, or torch.mean (that sum over rows, as
// ATen's CPU mean divides it).
LTRT_HOST_DEVICE inline float cosine_similarity_value(const float* x, const float* y, std::int64_t rows,
                                                      std::int64_t columns, MetricReduction reduction) {
  const float sum =
      torch_sum([=](std::int64_t r) { return row_cosine_similarity(x + r * columns, y + r * columns, columns); }, rows);
  return reduction == MetricReduction::mean ? sum / static_cast<float>(rows) : sum;
}

}  // namespace ltrt
