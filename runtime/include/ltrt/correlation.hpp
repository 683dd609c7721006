// pearson_corrcoef, concordance_corrcoef and spearman_corrcoef (torchmetrics' PearsonCorrCoef,
// ConcordanceCorrCoef and SpearmanCorrCoef) of one output per sample against its float target. torchmetrics keeps running moments, not sums:
// each batch's update merges the batch's means and centered sums into the state (a Welford step),
// and DDP's ranks' states merge in rank order (_final_aggregation). Everything is float32 in
// torchmetrics' order of operations, its sums in torch.sum's (ltrt/cascade_sum.hpp), so a batch's
// value and an epoch's equal torchmetrics' bit for bit (correlation_oracle checks them); the CUDA
// backend runs the same functions in one thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ltrt/cascade_sum.hpp"
#include "ltrt/host_device.hpp"

namespace ltrt {

// The state of _pearson_corrcoef_update, for one output: x the predictions, y the targets; var_x,
// var_y and corr_xy are sums of squares and products about the means (not yet over n - 1), and
// max_abs_dev_x/y the largest distance of a value from the running mean when it was added (the
// scale compute divides by). n_total is a float, as torchmetrics' state is.
struct PearsonMoments {
  float mean_x = 0.0f, mean_y = 0.0f;
  float max_abs_dev_x = 0.0f, max_abs_dev_y = 0.0f;
  float var_x = 0.0f, var_y = 0.0f, corr_xy = 0.0f;
  float n_total = 0.0f;
  LTRT_HOST_DEVICE bool empty() const { return n_total == 0.0f; }
};

namespace correlation_detail {
// torch.maximum and torch.max: NaN wins.
LTRT_HOST_DEVICE inline float nan_max(float a, float b) { return a != a || b != b ? NAN : (a > b ? a : b); }
LTRT_HOST_DEVICE inline float abs_of(float x) { return x < 0.0f ? -x : x; }
}  // namespace correlation_detail

// _pearson_corrcoef_update of `m` with n (at least 1) predictions x[i] and targets y[i].
LTRT_HOST_DEVICE inline void pearson_update(PearsonMoments& m, const float* x, const float* y, std::int64_t n) {
  using correlation_detail::abs_of;
  using correlation_detail::nan_max;
  const float num_obs = static_cast<float>(n);
  const float batch_mean_x = torch_sum([x](std::int64_t i) { return x[i]; }, n) / num_obs;  // sum, then div_
  const float batch_mean_y = torch_sum([y](std::int64_t i) { return y[i]; }, n) / num_obs;
  const float delta_x = batch_mean_x - m.mean_x, delta_y = batch_mean_y - m.mean_y;
  const float n_total = m.n_total + num_obs;
  const float mean_x = m.mean_x + delta_x * num_obs / n_total;
  const float mean_y = m.mean_y + delta_y * num_obs / n_total;
  if (n == 1) {
    const float delta2_x = batch_mean_x - mean_x, delta2_y = batch_mean_y - mean_y;
    m.var_x = m.var_x + delta2_x * delta_x;
    m.var_y = m.var_y + delta2_y * delta_y;
    m.corr_xy = m.corr_xy + delta_x * delta2_y;
  } else {
    const float batch_var_x = torch_sum([=](std::int64_t i) { const float c = x[i] - batch_mean_x; return c * c; }, n);
    const float batch_var_y = torch_sum([=](std::int64_t i) { const float c = y[i] - batch_mean_y; return c * c; }, n);
    const float batch_cov_xy =
        torch_sum([=](std::int64_t i) { return (x[i] - batch_mean_x) * (y[i] - batch_mean_y); }, n);
    const float correction = m.n_total * num_obs / n_total;
    m.var_x = (m.var_x + batch_var_x) + delta_x * delta_x * correction;
    m.var_y = (m.var_y + batch_var_y) + delta_y * delta_y * correction;
    m.corr_xy = (m.corr_xy + batch_cov_xy) + delta_x * delta_y * correction;
  }
  float dev_x = abs_of(x[0] - mean_x), dev_y = abs_of(y[0] - mean_y);
  for (std::int64_t i = 1; i < n; ++i) {
    dev_x = nan_max(dev_x, abs_of(x[i] - mean_x));
    dev_y = nan_max(dev_y, abs_of(y[i] - mean_y));
  }
  m.max_abs_dev_x = nan_max(m.max_abs_dev_x, dev_x);
  m.max_abs_dev_y = nan_max(m.max_abs_dev_y, dev_y);
  m.mean_x = mean_x;
  m.mean_y = mean_y;
  m.n_total = n_total;
}

// One step of _final_aggregation: `a` (the ranks before) merged with `b` (the next rank's state).
// Two empty states give n_total 1e-10 (its eps), as torchmetrics' torch.where does.
LTRT_HOST_DEVICE inline PearsonMoments pearson_merge(const PearsonMoments& a, const PearsonMoments& b) {
  PearsonMoments m;
  m.n_total = a.n_total != 0.0f || b.n_total != 0.0f ? a.n_total + b.n_total : 1e-10f;
  m.mean_x = (a.n_total * a.mean_x + b.n_total * b.mean_x) / m.n_total;
  m.mean_y = (a.n_total * a.mean_y + b.n_total * b.mean_y) / m.n_total;
  const float n12_b = a.n_total * b.n_total / m.n_total;
  const float delta_x = b.mean_x - a.mean_x, delta_y = b.mean_y - a.mean_y;
  m.var_x = (a.var_x + b.var_x) + n12_b * (delta_x * delta_x);
  m.var_y = (a.var_y + b.var_y) + n12_b * (delta_y * delta_y);
  m.corr_xy = (a.corr_xy + b.corr_xy) + n12_b * delta_x * delta_y;
  m.max_abs_dev_x = correlation_detail::nan_max(a.max_abs_dev_x, b.max_abs_dev_x);
  m.max_abs_dev_y = correlation_detail::nan_max(a.max_abs_dev_y, b.max_abs_dev_y);
  return m;
}

// _pearson_corrcoef_compute of `m`: the variances and covariance over n - 1, scaled by the largest
// deviations (torch.pow(d, -2) is 1 / (d * d)), then corr / sqrt(var_x * var_y) clamped to [-1, 1];
// NaN where a scaled variance is below sqrt(float32's eps) or any of the three is not finite (a
// batch of one row, constant predictions), where torchmetrics warns (`near_zero` is set then).
LTRT_HOST_DEVICE inline float pearson_value(const PearsonMoments& m, bool* near_zero = nullptr) {
  const float nb1 = m.n_total - 1.0f;
  const float var_x = m.var_x / nb1 * (1.0f / (m.max_abs_dev_x * m.max_abs_dev_x));
  const float var_y = m.var_y / nb1 * (1.0f / (m.max_abs_dev_y * m.max_abs_dev_y));
  const float corr_xy = m.corr_xy / nb1 / (m.max_abs_dev_x * m.max_abs_dev_y);
  const float bound = 3.4526698e-04f;  // math.sqrt(torch.finfo(float32).eps), compared in float32
  const bool finite = var_x - var_x == 0.0f && var_y - var_y == 0.0f && corr_xy - corr_xy == 0.0f;
  if (!finite || var_x < bound || var_y < bound) {
    if (near_zero) *near_zero = true;
    return NAN;
  }
  const float r = corr_xy / sqrtf(var_x * var_y);
  return r < -1.0f ? -1.0f : r > 1.0f ? 1.0f : r;  // torch.clamp; NaN stays NaN
}

// _concordance_corrcoef_compute: 2 pearson sigma_x sigma_y / (sigma_x^2 + sigma_y^2 + (mean_x -
// mean_y)^2), the variances over n - 1, unscaled.
LTRT_HOST_DEVICE inline float concordance_value(const PearsonMoments& m, bool* near_zero = nullptr) {
  const float pearson = pearson_value(m, near_zero);
  const float nb1 = m.n_total - 1.0f;
  const float var_x = m.var_x / nb1, var_y = m.var_y / nb1;
  const float mean_gap = m.mean_x - m.mean_y;
  return 2.0f * pearson * sqrtf(var_x) * sqrtf(var_y) / ((var_x + var_y) + mean_gap * mean_gap);
}

// spearman_corrcoef (torchmetrics' SpearmanCorrCoef): the Pearson correlation of the values'
// ranks, as _spearman_corrcoef_compute takes it over a batch, or over an epoch's values (its Metric
// object keeps them all, every DDP rank's in rank order). A value's rank is _rank_data's: its place
// in ascending order from 1, tied values sharing their ranks' mean (the int32 sum over the count,
// in float32); NaN sorts after every number, each NaN apart, in index order, as torch's stable
// argsort and unique leave them; -0.0 ties with 0.0.

// Whether value a at index i sorts before value b at index j.
LTRT_HOST_DEVICE inline bool sorts_before(float a, std::int64_t i, float b, std::int64_t j) {
  if (a != a) return b != b && i < j;
  return b != b || a < b;
}
// The mean rank of `equal` tied values after `below` smaller ones: ranks below + 1 ... below + equal.
LTRT_HOST_DEVICE inline float tie_rank(std::int64_t below, std::int64_t equal) {
  const std::int64_t sum = equal * (2 * below + 1 + equal) / 2;
  return static_cast<float>(sum) / static_cast<float>(equal);
}
// Value i's rank among x[0, n), by counting (the GPU's, a thread a value).
LTRT_HOST_DEVICE inline float rank_of(const float* x, std::int64_t n, std::int64_t i) {
  std::int64_t below = 0, equal = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    if (x[i] == x[i] && x[j] == x[i]) ++equal;
    else if (sorts_before(x[j], j, x[i], i)) ++below;
  }
  return tie_rank(below, equal == 0 ? 1 : equal);  // a NaN is its own group
}
// Every value's rank, by sorting (the CPU's).
void rank_values(const float* x, std::int64_t n, float* ranks);
// _spearman_corrcoef_compute over ranks: the ranks' deviations from their means (torch.sum over
// n), the covariance and standard deviations as means, cov / (std_x std_y + 1e-6), clamped.
LTRT_HOST_DEVICE inline float spearman_of_ranks(const float* rx, const float* ry, std::int64_t n) {
  const float count = static_cast<float>(n);
  const float mean_x = torch_sum([rx](std::int64_t i) { return rx[i]; }, n) / count;
  const float mean_y = torch_sum([ry](std::int64_t i) { return ry[i]; }, n) / count;
  const float cov = torch_sum([=](std::int64_t i) { return (rx[i] - mean_x) * (ry[i] - mean_y); }, n) / count;
  const float std_x = sqrtf(torch_sum([=](std::int64_t i) { const float d = rx[i] - mean_x; return d * d; }, n) / count);
  const float std_y = sqrtf(torch_sum([=](std::int64_t i) { const float d = ry[i] - mean_y; return d * d; }, n) / count);
  const float r = cov / (std_x * std_y + 1e-6f);
  return r < -1.0f ? -1.0f : r > 1.0f ? 1.0f : r;  // torch.clamp; NaN stays NaN
}
// spearman_corrcoef of n predictions x against targets y (n at least 1).
float spearman_value(const float* x, const float* y, std::int64_t n);

// A spearman_corrcoef, kendall_rank_corrcoef or cosine_similarity Metric object's state: every
// prediction and target of the epoch, in order (row-major where a row has several).
struct EpochValues {
  std::vector<float> preds, targets;
  void add(const float* x, const float* y, std::int64_t n) {
    preds.insert(preds.end(), x, x + n);
    targets.insert(targets.end(), y, y + n);
  }
  bool empty() const { return preds.empty(); }
};

}  // namespace ltrt
