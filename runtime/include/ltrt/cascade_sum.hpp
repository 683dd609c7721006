// torch.sum(x, dim=0) of a contiguous float32 (n,) or (n, columns) tensor on the CPU, in ATen's
// order (aten/src/ATen/native/cpu/SumKernel.cpp, cascade_sum on one thread, Vectorized<float> of 8
// lanes as PyPI's torch 2.15 sums on x86), float32 throughout: the sums a torchmetrics state starts
// from, bit for bit (cascade_sum_oracle checks it against torch.sum). Two orders make it up:
//   cascade: a running sum that every 2^p additions (p = max(4, ceil(log2 n) / 4)) moves into the
//            next of four levels, so that only sums of similar size meet;
//   ilp:     four interleaved cascades (elements 4i + k), the remainder added to the first, then
//            the four added in order.
// Which one a column gets depends on the shape, as the kernel's loops give it. Not followed: torch
// on several threads first splits a single column of more than 32768 rows into a chunk a thread.
#pragma once

#include <cstdint>

#include "ltrt/host_device.hpp"

namespace ltrt {

namespace cascade_detail {

// ATen's CeilLog2 (1 for x <= 2).
LTRT_HOST_DEVICE inline std::int64_t ceil_log2(std::int64_t x) {
  if (x <= 2) return 1;
  std::int64_t bits = 0;
  for (std::uint64_t v = static_cast<std::uint64_t>(x - 1); v; v >>= 1) ++bits;
  return bits;
}

// multi_row_sum for one of its rows: element i is at(i), i < size.
template <class At>
LTRT_HOST_DEVICE float cascade(At at, std::int64_t size) {
  constexpr int kLevels = 4;
  const std::int64_t power = ceil_log2(size) / kLevels > 4 ? ceil_log2(size) / kLevels : 4;
  const std::int64_t step = std::int64_t{1} << power;
  const std::int64_t mask = step - 1;
  float acc[kLevels] = {0.0f, 0.0f, 0.0f, 0.0f};
  std::int64_t i = 0;
  while (i + step <= size) {
    for (std::int64_t j = 0; j < step; ++j, ++i) acc[0] += at(i);
    for (int j = 1; j < kLevels; ++j) {
      acc[j] += acc[j - 1];
      acc[j - 1] = 0.0f;
      if ((i & (mask << (j * power))) != 0) break;
    }
  }
  for (; i < size; ++i) acc[0] += at(i);
  for (int j = 1; j < kLevels; ++j) acc[0] += acc[j];
  return acc[0];
}

// row_sum: four interleaved cascades, then the remainder and the four in order.
template <class At>
LTRT_HOST_DEVICE float ilp(At at, std::int64_t size) {
  constexpr std::int64_t kIlp = 4;
  const std::int64_t rows = size / kIlp;
  float partial[kIlp];
  for (std::int64_t k = 0; k < kIlp; ++k) partial[k] = cascade([&](std::int64_t i) { return at(i * kIlp + k); }, rows);
  for (std::int64_t i = rows * kIlp; i < size; ++i) partial[0] += at(i);
  for (std::int64_t k = 1; k < kIlp; ++k) partial[0] += partial[k];
  return partial[0];
}

constexpr std::int64_t kLanes = 8;  // Vectorized<float>::size() of the kernel torch runs

}  // namespace cascade_detail

// torch.sum of a contiguous float32 (n,) tensor whose element i is at(i), each read once.
template <class At>
LTRT_HOST_DEVICE float torch_sum(At at, std::int64_t n) {
  using cascade_detail::ilp;
  using cascade_detail::kLanes;
  if (n < kLanes) return ilp(at, n);  // scalar_inner_sum
  // vectorized_inner_sum: each lane's elements (8v + l) as one row_sum, the tail of fewer than 8
  // summed on its own, then the lanes added to it in order.
  const std::int64_t vectors = n / kLanes;
  float lanes[kLanes];
  for (std::int64_t l = 0; l < kLanes; ++l) lanes[l] = ilp([&](std::int64_t v) { return at(v * kLanes + l); }, vectors);
  float total = 0.0f;
  for (std::int64_t i = vectors * kLanes; i < n; ++i) total += at(i);
  for (std::int64_t l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// torch.sum(x, dim=0)[c] of one column c of an (n, columns) tensor whose element (i, c) is
// at(i, c), in the order torch_column_sums sums that column.
template <class At>
LTRT_HOST_DEVICE float torch_column_sum(At at, std::int64_t n, std::int64_t columns, std::int64_t c) {
  using cascade_detail::cascade;
  using cascade_detail::ilp;
  using cascade_detail::kLanes;
  auto column = [&](std::int64_t i) { return at(i, c); };
  if (columns == 1) return torch_sum(column, n);
  // vectorized_outer_sum (8 columns or more): blocks of four vectors by multi_row_sum (cascade), then
  // single vectors and the rest by row_sum (ilp); scalar_outer_sum: groups of four columns by
  // multi_row_sum, the rest by row_sum.
  const std::int64_t cascaded = columns >= kLanes ? 4 * kLanes * (columns / (4 * kLanes)) : 4 * (columns / 4);
  return c < cascaded ? cascade(column, n) : ilp(column, n);
}

// out[c] = torch.sum(x, dim=0)[c] for x contiguous (n, columns); columns 1 is also the (n,) case.
inline void torch_column_sums(const float* x, std::int64_t n, std::int64_t columns, float* out) {
  for (std::int64_t c = 0; c < columns; ++c)
    out[c] = torch_column_sum([x, columns](std::int64_t i, std::int64_t col) { return x[i * columns + col]; }, n,
                              columns, c);
}

}  // namespace ltrt
