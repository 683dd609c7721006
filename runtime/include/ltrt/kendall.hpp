// kendall_rank_corrcoef (torchmetrics' KendallRankCorrCoef) of one output per sample against its
// float target. Kendall's tau reads counts of pairs only, which torchmetrics keeps in int64 tensors:
// the concordant and discordant pairs, the pairs of tied predictions and of tied targets, and the
// distinct values. Counts do not depend on the order of the values, so the CPU counts them by
// sorting (O(n log n)) and the GPU by comparing every pair, a thread a value, and both get the
// same integers; the value is then torchmetrics' few float32 operations on them
// (_calculate_tau), bit for bit (correlation_oracle checks it).
#pragma once

#include <cmath>
#include <cstdint>

#include "ltrt/host_device.hpp"
#include "ltrt/model.hpp"

namespace ltrt {

// What _get_metric_metadata and _calculate_tau count. A NaN orders nothing and equals nothing:
// a pair with a NaN is neither concordant nor discordant, and each NaN is a distinct value
// (torch's dense ranks and unique leave them so); -0.0 ties with 0.0.
struct KendallCounts {
  std::int64_t n = 0;           // the values
  std::int64_t concordant = 0;  // pairs whose predictions and targets are both strictly in the same order
  std::int64_t discordant = 0;  // ... both strictly in opposite orders
  std::int64_t ties_x = 0;      // pairs of equal predictions
  std::int64_t ties_y = 0;      // pairs of equal targets
  std::int64_t unique_x = 0;    // distinct predictions (variant c)
  std::int64_t unique_y = 0;    // distinct targets
  LTRT_HOST_DEVICE void add(const KendallCounts& o) {
    n += o.n;
    concordant += o.concordant;
    discordant += o.discordant;
    ties_x += o.ties_x;
    ties_y += o.ties_y;
    unique_x += o.unique_x;
    unique_y += o.unique_y;
  }
};

// Value i's share of the counts of x[0, n) against y[0, n): the pairs (i, j) with j after i, and
// whether i is the first of its value. Summed over every i they are the counts (the GPU's way, a
// thread a value, O(n) each).
LTRT_HOST_DEVICE inline KendallCounts kendall_share(const float* x, const float* y, std::int64_t n, std::int64_t i) {
  KendallCounts c;
  c.n = 1;
  bool first_x = true, first_y = true;
  for (std::int64_t j = 0; j < i; ++j) {
    first_x = first_x && !(x[j] == x[i]);
    first_y = first_y && !(y[j] == y[i]);
  }
  c.unique_x = first_x;
  c.unique_y = first_y;
  for (std::int64_t j = i + 1; j < n; ++j) {
    c.concordant += (x[i] < x[j] && y[i] < y[j]) || (x[i] > x[j] && y[i] > y[j]);
    c.discordant += (x[i] < x[j] && y[i] > y[j]) || (x[i] > x[j] && y[i] < y[j]);
    c.ties_x += x[i] == x[j];
    c.ties_y += y[i] == y[j];
  }
  return c;
}

// The counts of n predictions x against targets y, by sorting (the CPU's way).
KendallCounts kendall_counts(const float* x, const float* y, std::int64_t n);

// _calculate_tau over the counts, clamped to [-1, 1] (NaN stays NaN), in torchmetrics' arithmetic:
//   a: (C - D) / (C + D), the int64 tensors divided in float32;
//   b: (C - D) / sqrt((T - ties_x) (T - ties_y)), T = n (n - 1) // 2, the product in int64 (it
//      wraps past 2^63, as torch's does from about 78000 values), its square root in float32;
//   c: 2 (C - D) / ((m - 1) / m * n^2), m the fewer distinct values, as float32.
// NaN where nothing can be ordered (one value, every prediction or every target equal).
LTRT_HOST_DEVICE inline float kendall_tau(const KendallCounts& c, KendallVariant variant) {
  const std::int64_t gap = c.concordant - c.discordant;
  float tau;
  if (variant == KendallVariant::a) {
    tau = static_cast<float>(gap) / static_cast<float>(c.concordant + c.discordant);
  } else if (variant == KendallVariant::b) {
    const std::int64_t total = c.n * (c.n - 1) / 2;
    const std::uint64_t product = static_cast<std::uint64_t>(total - c.ties_x) * static_cast<std::uint64_t>(total - c.ties_y);
    tau = static_cast<float>(gap) / sqrtf(static_cast<float>(static_cast<std::int64_t>(product)));
  } else {
    const float ux = static_cast<float>(c.unique_x), uy = static_cast<float>(c.unique_y);
    const float m = ux < uy ? ux : uy;  // torch.minimum
    tau = static_cast<float>(2 * gap) / ((m - 1.0f) / m * static_cast<float>(c.n * c.n));
  }
  return tau < -1.0f ? -1.0f : tau > 1.0f ? 1.0f : tau;  // torch.clamp; NaN stays NaN
}

// kendall_rank_corrcoef of n predictions x against targets y (n at least 1).
float kendall_value(const float* x, const float* y, std::int64_t n, KendallVariant variant);

}  // namespace ltrt
