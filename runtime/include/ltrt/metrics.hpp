// Metrics over the model's output (model.metrics: accuracy, the errors, the stat-score metrics,
// AUROC, average precision, r2, the explained variance, the correlations and the cosine similarity), and the batch-size weighted mean that Lightning's
// self.log(..., on_epoch=True) reduces a metric with.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ltrt/cascade_sum.hpp"
#include "ltrt/correlation.hpp"
#include "ltrt/cosine_similarity.hpp"
#include "ltrt/host_device.hpp"
#include "ltrt/kendall.hpp"
#include "ltrt/model.hpp"

namespace ltrt {

// torch.argmax's order of a row's logits: logit `a` at a later index takes the lead from `b`
// when it is larger, or NaN where `b` is not (torch counts NaN as the largest). On a tie, NaNs
// included, the first index keeps it, so -0.0 and 0.0 tie too.
LTRT_HOST_DEVICE inline bool argmax_prefers(float a, float b) { return a != a ? b == b : a > b; }
// torch.argmax of a row of `classes` logits, in that order.
LTRT_HOST_DEVICE inline std::int64_t row_argmax(const float* row, std::int64_t classes) {
  std::int64_t best = 0;
  for (std::int64_t c = 1; c < classes; ++c)
    if (argmax_prefers(row[c], row[best])) best = c;
  return best;
}

// Accuracy of the first n rows of the metric_output buffer against the target
// buffer: argmax for class targets (rows whose target is ignore_index do not
// count), logit > 0 against target > 0.5 for BCEWithLogitsLoss's float targets.
struct AccuracyCount {
  std::int64_t correct = 0;
  std::int64_t total = 0;
  double value() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

// How accuracy reads the metric_output buffer, for count_accuracy here and the CUDA backend's kernel.
struct AccuracyShape {
  bool class_targets;       // int64 class indices (argmax); else float targets of a binary logit
  std::int64_t per_row;     // positions a sample has (sequence targets), or its logits (binary)
  std::int64_t classes;     // logits a position has (class targets)
  std::int64_t ignore_index;
};

// Accuracy over the first n rows of `out` and `target` (int64 classes or float targets, as
// `shape` says), for the CPU program and as the CUDA backend's reference. With class targets and
// top_k > 1, a position is a hit when its target is among its top_k largest logits (torchmetrics'
// top_k: its target's rank below top_k, top_k_rank).
AccuracyCount count_accuracy(const AccuracyShape& shape, const float* out, const void* target, std::int64_t n,
                             std::int64_t top_k = 1);

// The mean absolute, squared, absolute percentage, squared log, symmetric absolute percentage or
// log-cosh error of `count` predictions against float targets, as torch's l1_loss and mse_loss
// (reduction "mean") and torchmetrics' MAPE, MSLE, SMAPE and LogCoshError: each element's
// metric_error in float32, summed in float64 (in order here; the CUDA kernel's tree agrees to
// rounding), over count.
struct ErrorSum {
  double sum = 0;
  std::int64_t count = 0;
  double value() const { return count ? sum / static_cast<double>(count) : 0.0; }
};
// The metrics that compare each output element with its float target: mean_absolute_error,
// mean_squared_error, mean_absolute_percentage_error, mean_squared_log_error,
// symmetric_mean_absolute_percentage_error and log_cosh_error.
LTRT_HOST_DEVICE inline bool compares_elements(MetricKind kind) {
  return kind == MetricKind::mean_absolute_error || kind == MetricKind::mean_squared_error ||
         kind == MetricKind::mean_absolute_percentage_error || kind == MetricKind::mean_squared_log_error ||
         kind == MetricKind::symmetric_mean_absolute_percentage_error || kind == MetricKind::log_cosh_error;
}
// One element's error in float32, as torchmetrics computes it: |out - target|, (out - target)^2,
// MAPE's |out - target| / max(|target|, 1.17e-6) (the epsilon scikit-learn's MAPE takes), MSLE's
// (log1p(out) - log1p(target))^2 (NaN below -1, as torch's), or SMAPE's 2 |out - target| /
// max(|target| + |out|, 1.17e-6) (torchmetrics doubles the sum, which is the same), or
// LogCoshError's log((exp(d) + exp(-d)) / 2).
LTRT_HOST_DEVICE inline float metric_error(float out, float target, MetricKind kind) {
  const float d = out - target;
  const float a = d < 0.0f ? -d : d;
  if (kind == MetricKind::mean_squared_error) return d * d;
  if (kind == MetricKind::log_cosh_error) {
    // As torchmetrics writes it, in float32: exp overflows from |d| = 88.72 on (inf, as torch's),
    // and below |d| of about 3e-4 the sum rounds to 2 (0). torch's CPU exp and log are MKL's, which
    // round about 1% of values one step apart from these.
    return logf((expf(d) + expf(-d)) / 2.0f);
  }
  if (kind == MetricKind::mean_squared_log_error) {
    // log1p in double rounded once: correctly rounded but for ties, where glibc's log1pf misses
    // about 8% of floats (torch's own about 1%), which the difference of two close logs magnifies.
    const float log_d = static_cast<float>(log1p(static_cast<double>(out))) -
                        static_cast<float>(log1p(static_cast<double>(target)));
    return log_d * log_d;
  }
  if (kind == MetricKind::symmetric_mean_absolute_percentage_error) {
    const float scale = (target < 0.0f ? -target : target) + (out < 0.0f ? -out : out);
    return 2.0f * (a / (scale < 1.17e-06f ? 1.17e-06f : scale));  // NaN stays NaN
  }
  if (kind == MetricKind::mean_absolute_percentage_error) {
    const float t = target < 0.0f ? -target : target;
    return a / (t < 1.17e-06f ? 1.17e-06f : t);  // torch.clamp(target.abs(), min=epsilon); NaN stays NaN
  }
  return a;
}
ErrorSum sum_errors(const float* out, const float* target, std::int64_t count, MetricKind kind);

// r2_score (torchmetrics' r2_score and R2Score) of predictions against float targets of `columns`
// outputs a row ((N,) or (N, columns)) needs, per column, its targets' sum, their squares' sum and
// the residuals' squares' sum (rss), and the rows (relative_squared_error reads the same);
// explained_variance the residuals' sum too. A
// batch's sums are torch.sum(..., dim=0)'s, in its float32 order (ltrt/cascade_sum.hpp; the GPU
// sums in float64 and rounds once); a Metric object adds its batches' in float32, as R2Score's and
// ExplainedVariance's states are, and DDP's ranks' too.
constexpr std::int64_t kMaxR2Columns = 65536;  // output columns the CUDA backend sums a batch of
struct R2Sums {
  // 4 x columns: the targets', their squares', the residuals' (target - out) squares', the residuals';
  // then two over every element (torch's full .sum(), weighted_mean_absolute_percentage_error's):
  // |out - target| and |target|
  std::vector<float> sums;
  std::int64_t rows = 0;
  void add(const float* out, const float* target, std::int64_t n, std::int64_t columns);  // n rows
  void add(const R2Sums& other);
  bool empty() const { return rows == 0; }
};
// torch.isclose(x, 0, atol=1e-4): 0, or finite and at most float32's 1e-4.
LTRT_HOST_DEVICE inline bool r2_near_zero(float x) {
  const float a = x < 0.0f ? -x : x;
  return x == 0.0f || (a - a == 0.0f && a <= 1e-4f);
}
// One column's r2 in float32, as _r2_score_compute: tss = squares - sum * (sum / rows); a column
// whose rss is near zero scores 1, else one whose tss is scores 0, else 1 - rss / tss. `tss` gets
// the column's tss.
LTRT_HOST_DEVICE inline float r2_column(float sum, float squares, float rss, std::int64_t rows, float* tss) {
  const float mean = sum / static_cast<float>(rows);
  const float product = sum * mean;
  *tss = squares - product;
  if (r2_near_zero(rss)) return 1.0f;
  if (r2_near_zero(*tss)) return 0.0f;
  return 1.0f - rss / *tss;
}
LTRT_HOST_DEVICE inline float adjust_r2(float r2, std::int64_t rows, std::int64_t adjusted) {
  if (adjusted == 0 || adjusted >= rows - 1) return r2;
  const float scaled = (1.0f - r2) * static_cast<float>(rows - 1);
  return 1.0f - scaled / static_cast<float>(rows - adjusted - 1);
}
// torchmetrics' warning where `adjusted` leaves r2 as it is, on stderr once (Python shows a warning
// once), over `rows` rows.
void warn_adjusted_r2_fallback(std::int64_t rows, std::int64_t adjusted);
// r2 of R2Sums' layout over `rows` rows (at least 2: torchmetrics refuses fewer): the columns'
// mean (uniform_average: torch.mean, their torch.sum over the count), or with variance_weighted
// torch.sum(tss / torch.sum(tss) * r2), in float32 and torch's order of sums.
// With `adjusted` k regressors (below rows - 1), the adjusted r2: 1 - (1 - r2) * (rows - 1) / (rows -
// k - 1) in float32; from rows - 1 up torchmetrics falls back to r2 (adjusted_r2_fallback warns).
LTRT_HOST_DEVICE inline float r2_value(const float* sums, std::int64_t columns, std::int64_t rows,
                                       MetricAverage average, std::int64_t adjusted = 0) {
  auto column = [=](std::int64_t c, float* tss) {
    return r2_column(sums[c], sums[columns + c], sums[2 * columns + c], rows, tss);
  };
  auto r2 = [=](std::int64_t c) {
    float tss;
    return column(c, &tss);
  };
  if (average == MetricAverage::variance_weighted) {
    auto tss = [=](std::int64_t c) {
      float t;
      column(c, &t);
      return t;
    };
    const float tss_sum = torch_sum(tss, columns);
    const float weighted = torch_sum([=](std::int64_t c) { return tss(c) / tss_sum * r2(c); }, columns);
    return adjust_r2(weighted, rows, adjusted);
  }
  return adjust_r2(torch_sum(r2, columns) / static_cast<float>(columns), rows, adjusted);
}
// explained_variance of R2Sums' layout over `rows` rows, as torchmetrics' _explained_variance_compute
// in float32: per column, with the means over rows, 1 - (rss / rows - mean(residual)^2) / (squares
// / rows - mean(target)^2), 1 where the numerator is 0, else 0 where the denominator is; the
// columns' torch.mean (uniform_average), or variance_weighted torch.sum(den / torch.sum(den) * score).
LTRT_HOST_DEVICE inline float explained_variance_value(const float* sums, std::int64_t columns, std::int64_t rows,
                                                       MetricAverage average) {
  const float n = static_cast<float>(rows);
  auto denominator = [=](std::int64_t c) {
    const float target_avg = sums[c] / n;
    return sums[columns + c] / n - target_avg * target_avg;
  };
  auto score = [=](std::int64_t c) {
    const float diff_avg = sums[3 * columns + c] / n;
    const float numerator = sums[2 * columns + c] / n - diff_avg * diff_avg;
    const float den = denominator(c);
    if (numerator == 0.0f) return 1.0f;
    return den != 0.0f ? 1.0f - numerator / den : 0.0f;
  };
  if (average == MetricAverage::variance_weighted) {
    const float den_sum = torch_sum(denominator, columns);
    return torch_sum([=](std::int64_t c) { return denominator(c) / den_sum * score(c); }, columns);
  }
  return torch_sum(score, columns) / static_cast<float>(columns);
}
// relative_squared_error of R2Sums' layout over `rows` rows, as torchmetrics'
// _relative_squared_error_compute in float32: per column rss / max(squares - sum * sum / rows, eps)
// (float32's eps; NaN stays NaN), with `root` its square root (squared=False), then the columns'
// torch.mean.
LTRT_HOST_DEVICE inline float relative_squared_error_value(const float* sums, std::int64_t columns, std::int64_t rows,
                                                           bool root) {
  auto rse = [=](std::int64_t c) {
    const float tss = sums[columns + c] - sums[c] * sums[c] / static_cast<float>(rows);
    const float eps = 1.1920929e-07f;  // torch.finfo(float32).eps
    const float value = sums[2 * columns + c] / (tss < eps ? eps : tss);  // torch.clamp(min=eps)
    return root ? sqrtf(value) : value;
  };
  return torch_sum(rse, columns) / static_cast<float>(columns);
}
// weighted_mean_absolute_percentage_error of R2Sums' layout, as torchmetrics'
// _weighted_mean_absolute_percentage_error_compute: sum |out - target| / max(sum |target|, 1.17e-6)
// in float32 (NaN stays NaN).
LTRT_HOST_DEVICE inline float weighted_mape_value(const float* sums, std::int64_t columns) {
  const float scale = sums[4 * columns + 1];
  const float eps = 1.17e-06f;  // torchmetrics' epsilon, a float32 when clamp takes it
  return sums[4 * columns] / (scale < eps ? eps : scale);
}
// critical_success_index's counts (torchmetrics' CriticalSuccessIndex): of the elements whose
// prediction or target is at or above the threshold (compared in float32, as torch rounds the
// threshold to the tensors' dtype; NaN is below), those where both are (hits), the target alone
// (misses) and the prediction alone (false alarms).
struct SuccessCounts {
  std::int64_t hits = 0, misses = 0, false_alarms = 0;
  void add(const float* out, const float* target, std::int64_t count, float threshold);
  void add(const SuccessCounts& o) {
    hits += o.hits;
    misses += o.misses;
    false_alarms += o.false_alarms;
  }
};
// _critical_success_index_compute: hits / (hits + misses + false alarms) in float32, 0 where no
// element is an event (_safe_divide's zero_division).
LTRT_HOST_DEVICE inline float critical_success_index_value(std::int64_t hits, std::int64_t misses,
                                                           std::int64_t false_alarms) {
  const std::int64_t all = hits + misses + false_alarms;
  return all == 0 ? 0.0f : static_cast<float>(hits) / static_cast<float>(all);
}

// The metrics over R2Sums: r2_score, explained_variance, relative_squared_error and
// weighted_mean_absolute_percentage_error.
LTRT_HOST_DEVICE inline bool sums_columns(MetricKind kind) {
  return kind == MetricKind::r2_score || kind == MetricKind::explained_variance ||
         kind == MetricKind::relative_squared_error || kind == MetricKind::weighted_mean_absolute_percentage_error;
}
// Metric `kind`'s value of R2Sums' layout over `rows` rows (r2_score's at least 2: r2_score refuses
// fewer first), with its average, adjusted and root.
LTRT_HOST_DEVICE inline float column_sums_value(MetricKind kind, const float* sums, std::int64_t columns,
                                                std::int64_t rows, MetricAverage average, std::int64_t adjusted,
                                                bool root) {
  return kind == MetricKind::r2_score             ? r2_value(sums, columns, rows, average, adjusted)
         : kind == MetricKind::explained_variance ? explained_variance_value(sums, columns, rows, average)
         : kind == MetricKind::relative_squared_error ? relative_squared_error_value(sums, columns, rows, root)
                                                      : weighted_mape_value(sums, columns);
}
// r2 of `sums`, refusing fewer than two rows with torchmetrics' reason; `what` names them.
// With `adjusted`, the adjusted r2, warning once (on stderr) where torchmetrics falls back to r2.
double r2_score(const R2Sums& sums, std::int64_t columns, MetricAverage average, const std::string& what,
                std::int64_t adjusted = 0);
struct MetricsShape;
// A batch of n rows for a model with an r2_score (functional or Metric object, whose forward scores
// the batch): refused below two rows, as torchmetrics raises inside the step.
void refuse_r2_single_row(const MetricsShape& shape, std::int64_t n);

// precision, recall, f1_score, fbeta_score, specificity, negative_predictive_value, hamming_distance,
// jaccard_index, matthews_corrcoef and cohen_kappa of one batch, as torchmetrics' functional ones
// (zero_division 0) compute them from its stat scores, which
// read the buffers as accuracy does: per class, its true positives, the positions predicted as it and
// those whose target it is (tp + fp, tp + fn); the positions counted give the true negatives.
// Multiclass: the argmax's class, positions whose target is ignore_index left out. Binary
// (BCEWithLogitsLoss): one class, the positive one; a prediction is sigmoid(logit) > 0.5, or
// logit > 0.5 when every logit of the batch lies in [0, 1] (torchmetrics takes those for
// probabilities), against target > 0.5. jaccard_index, matthews_corrcoef and cohen_kappa (unweighted)
// are torchmetrics' reductions of a confusion matrix, which need only its diagonal and its row and
// column sums.
constexpr std::int64_t kMaxScoreClasses = 65536;  // classes the CUDA backend has counters for
LTRT_HOST_DEVICE inline bool binary_prediction(float logit, bool probabilities) {
  return probabilities ? logit > 0.5f : 1.0f / (1.0f + expf(-logit)) > 0.5f;
}
// How a metric scores and averages stat scores (score_rule makes one).
struct ScoreRule {
  MetricKind kind;        // precision, recall, f1_score, fbeta_score, specificity, negative_predictive_value,
                          // hamming_distance or jaccard_index
  MetricAverage average;  // micro, macro or weighted
  bool binary;            // one class, the positive one, of binary logits (hamming_distance's tn count)
  bool targets_only;      // the macro average leaves out classes without targets (the top_k of precision,
                          // recall and negative_predictive_value)
  float one_plus_beta2;   // fbeta_score's 1 + beta^2 and beta^2 as torch takes Python floats: in float32
  float beta2;            // (F1's 2 and 1)
  std::int64_t ignored_class;  // jaccard_index: the class ignore_index names, in no average (else -1)
};
// Metric `kind`'s rule; `top_k` its stat scores' (the weights of the macro average of precision,
// recall and negative_predictive_value leave out the classes without targets above 1, as
// torchmetrics' _adjust_weights_safe_divide with its top_k; F1's and the others' reduce is called
// without it), `beta` fbeta_score's, over `classes` classes whose targets equal to `ignore_index`
// were left out, or binary logits.
ScoreRule score_rule(MetricKind kind, MetricAverage average, std::int64_t top_k, double beta,
                     std::int64_t ignore_index, std::int64_t classes, bool binary);
// A class's score in float32, as torchmetrics' _safe_divide (0 where the denominator is): precision
// tp / (tp + fp), recall tp / (tp + fn), F-beta (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp),
// specificity tn / (tn + fp), negative predictive value tn / (tn + fn), Hamming distance 1 - tp / (tp
// + fn) (binary 1 - (tp + tn) / all), jaccard tp / (tp + fp + fn) (its confusion matrix's diagonal
// over its row and column sums less the diagonal). `positions` are those the counts are of (tn is what
// the other three leave of them); micro's sums are over every class, so their positions too.
LTRT_HOST_DEVICE inline float class_score(const ScoreRule& r, std::int64_t tp, std::int64_t predicted,
                                          std::int64_t actual, std::int64_t positions) {
  float num, den;
  switch (r.kind) {
    case MetricKind::f1_score:
    case MetricKind::fbeta_score:
      num = r.one_plus_beta2 * static_cast<float>(tp);
      den = (num + r.beta2 * static_cast<float>(actual - tp)) + static_cast<float>(predicted - tp);
      break;
    case MetricKind::specificity: {
      const std::int64_t tn = positions - predicted - actual + tp;
      num = static_cast<float>(tn);
      den = static_cast<float>(tn + (predicted - tp));
      break;
    }
    case MetricKind::negative_predictive_value:  // tn / (tn + fn)
      num = static_cast<float>(positions - predicted - actual + tp);
      den = static_cast<float>(positions - predicted);
      break;
    case MetricKind::hamming_distance: {  // 1 - _safe_divide(...), in float32
      const std::int64_t right = r.binary ? positions - (predicted - tp) - (actual - tp) : tp;
      const std::int64_t all = r.binary ? positions : actual;
      return 1.0f - (all != 0 ? static_cast<float>(right) / static_cast<float>(all) : 0.0f);
    }
    case MetricKind::jaccard_index:  // confmat.float(): diag / (sum(0) + sum(1) - diag); binary tp / (fp + fn + tp)
      num = static_cast<float>(tp);
      den = r.binary ? (static_cast<float>(predicted - tp) + static_cast<float>(actual - tp)) + num
                     : (static_cast<float>(predicted) + static_cast<float>(actual)) - num;
      break;
    default:  // precision, recall (and accuracy's averages, recall's)
      num = static_cast<float>(tp);
      den = static_cast<float>(r.kind == MetricKind::precision ? predicted : actual);
  }
  return den != 0.0f ? num / den : 0.0f;
}
// A class's weight in a macro average (1, or 0 for a class with no tp, fp or fn in the batch, or
// with `targets_only` without targets; jaccard's ignored class 0) or a weighted one (its targets,
// tp + fn), as torchmetrics' _adjust_weights_safe_divide and _jaccard_index_reduce.
LTRT_HOST_DEVICE inline std::int64_t class_weight(const ScoreRule& r, std::int64_t c, std::int64_t tp,
                                                  std::int64_t predicted, std::int64_t actual) {
  if (r.average == MetricAverage::weighted) return actual;
  if (c == r.ignored_class) return 0;
  return (r.targets_only ? actual : predicted + actual - tp) > 0 ? 1 : 0;
}
// Its term of the average, w * score / (the weights' sum) in float32; the average is the terms' sum.
// Without weights, 0 (_safe_divide's), or jaccard's NaN (it divides as it is).
LTRT_HOST_DEVICE inline float class_term(const ScoreRule& r, float score, std::int64_t weight, std::int64_t weights) {
  if (weights == 0) return r.kind == MetricKind::jaccard_index ? NAN : 0.0f;
  return static_cast<float>(weight) * score / static_cast<float>(weights);
}
// The macro or weighted average: the classes' terms summed as torch.sum sums them, over `weights`,
// the classes' weights' sum.
template <typename Count>
LTRT_HOST_DEVICE inline float average_of_terms(const ScoreRule& r, const Count* tp, const Count* predicted,
                                               const Count* actual, std::int64_t classes, std::int64_t positions,
                                               std::int64_t weights) {
  return torch_sum(
      [&](std::int64_t c) {
        const auto t = static_cast<std::int64_t>(tp[c]), p = static_cast<std::int64_t>(predicted[c]),
                   a = static_cast<std::int64_t>(actual[c]);
        return class_term(r, class_score(r, t, p, a, positions), class_weight(r, c, t, p, a), weights);
      },
      classes);
}
// The micro average of the classes' summed counts t, p and a over `positions` positions each (so
// every class's positions in all); jaccard's union leaves out its ignored class's (torchmetrics
// subtracts that class's denominator), read from the per-class counts.
template <typename Count>
LTRT_HOST_DEVICE inline float micro_score(const ScoreRule& r, const Count* tp, const Count* predicted,
                                          const Count* actual, std::int64_t classes, std::int64_t positions,
                                          std::int64_t t, std::int64_t p, std::int64_t a) {
  const std::int64_t i = r.ignored_class;
  if (r.kind != MetricKind::jaccard_index || i < 0) return class_score(r, t, p, a, positions * classes);
  const auto ignored_union = static_cast<std::int64_t>(predicted[i] + actual[i] - tp[i]);
  const std::int64_t union_ = p + a - t - ignored_union;
  return union_ != 0 ? static_cast<float>(t) / static_cast<float>(union_) : 0.0f;
}
// The float32 values torchmetrics' confusion-matrix reductions read of confmat.float(), over a
// multiclass model's counts: its row sums (targets), column sums (predictions), trace, total and
// the total off the diagonal, each its count rounded once (torch's float sums of the entries agree
// while those stay below 2^24), and for two classes the entries themselves.
template <typename Count>
struct CountsMatrix {
  const Count* tp;         // the diagonal
  const Count* predicted;  // the column sums
  const Count* actual;     // the row sums
  std::int64_t classes, positions;
  LTRT_HOST_DEVICE std::int64_t trace_count() const {
    std::int64_t trace = 0;
    for (std::int64_t c = 0; c < classes; ++c) trace += static_cast<std::int64_t>(tp[c]);
    return trace;
  }
  LTRT_HOST_DEVICE float row(std::int64_t c) const { return static_cast<float>(actual[c]); }
  LTRT_HOST_DEVICE float column(std::int64_t c) const { return static_cast<float>(predicted[c]); }
  LTRT_HOST_DEVICE float trace() const { return static_cast<float>(trace_count()); }
  LTRT_HOST_DEVICE float total() const { return static_cast<float>(positions); }
  LTRT_HOST_DEVICE float off_diagonal() const { return static_cast<float>(positions - trace_count()); }
  LTRT_HOST_DEVICE std::int64_t entry(int target, int prediction) const {  // two classes only
    const auto t = static_cast<std::int64_t>(tp[target]);
    return target == prediction ? t : static_cast<std::int64_t>(actual[target]) - t;
  }
};
// ... of binary logits' counts: the matrix [[tn, fp], [fn, tp]], its four entries rounded to
// float32 first and summed as torch sums them.
struct BinaryMatrix {
  std::int64_t counts[2][2];  // [target][prediction]
  static constexpr std::int64_t classes = 2;
  LTRT_HOST_DEVICE BinaryMatrix(std::int64_t tp, std::int64_t predicted, std::int64_t actual, std::int64_t positions)
      : counts{{positions - predicted - actual + tp, predicted - tp}, {actual - tp, tp}} {}
  LTRT_HOST_DEVICE float at(int target, int prediction) const {
    return static_cast<float>(counts[target][prediction]);
  }
  LTRT_HOST_DEVICE float row(std::int64_t c) const { return at(static_cast<int>(c), 0) + at(static_cast<int>(c), 1); }
  LTRT_HOST_DEVICE float column(std::int64_t c) const {
    return at(0, static_cast<int>(c)) + at(1, static_cast<int>(c));
  }
  LTRT_HOST_DEVICE float trace() const { return at(0, 0) + at(1, 1); }
  LTRT_HOST_DEVICE float total() const {  // confmat.sum()
    return torch_sum([this](std::int64_t i) { return at(static_cast<int>(i / 2), static_cast<int>(i % 2)); }, 4);
  }
  LTRT_HOST_DEVICE float off_diagonal() const {  // torch.sum(w * confmat), w 0 on the diagonal
    return torch_sum([this](std::int64_t i) { return i == 0 || i == 3 ? 0.0f : at(static_cast<int>(i / 2), static_cast<int>(i % 2)); }, 4);
  }
  LTRT_HOST_DEVICE std::int64_t entry(int target, int prediction) const { return counts[target][prediction]; }
};
// matthews_corrcoef of a confusion matrix `m` (CountsMatrix or BinaryMatrix), in float32 as
// torchmetrics' _matthews_corrcoef_reduce: (c s - sum t_k p_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum
// t_k^2)), its Python sums in order; 0 where that denominator is, but for a 2 x 2 matrix (binary,
// or two classes) 1 when all are right, -1 when all are wrong, and its eps forms.
template <typename Matrix>
LTRT_HOST_DEVICE inline float matthews_corrcoef_of(const Matrix& m) {
  std::int64_t tn = 0, fp = 0, fn = 0, tp = 0;  // the int64 entries of a 2 x 2 matrix
  if (m.classes == 2) {
    tn = m.entry(0, 0), fp = m.entry(0, 1), fn = m.entry(1, 0), tp = m.entry(1, 1);
    if (tp + tn != 0 && fp + fn == 0) return 1.0f;
    if (tp + tn == 0 && fp + fn != 0) return -1.0f;
  }
  float sum_tp = 0.0f, sum_pp = 0.0f, sum_tt = 0.0f;  // sum(tk * pk), sum(pk * pk), sum(tk * tk)
  for (std::int64_t c = 0; c < m.classes; ++c) {
    const float t = m.row(c), p = m.column(c);
    const float tk_pk = t * p, pk_pk = p * p, tk_tk = t * t;
    sum_tp += tk_pk;
    sum_pp += pk_pk;
    sum_tt += tk_tk;
  }
  const float s = m.total(), ss = s * s, cs = m.trace() * s;
  float numerator = cs - sum_tp;
  const float cov_ypyp = ss - sum_pp, cov_ytyt = ss - sum_tt;
  float denom = cov_ypyp * cov_ytyt;
  if (denom == 0.0f && m.classes == 2) {  // the int64 entries, and float32's eps
    const float eps = 1.1920928955078125e-07f, root_eps = 3.4526698e-04f;  // torch.finfo(float32).eps, its sqrt
    if (fn == 0 && tn == 0) numerator = root_eps * static_cast<float>(tp - fp);
    else if (fp == 0 && tn == 0) numerator = root_eps * static_cast<float>(tp - fn);
    else if (tp == 0 && fn == 0) numerator = root_eps * static_cast<float>(tn - fp);
    else if (tp == 0 && fp == 0) numerator = root_eps * static_cast<float>(tn - fn);
    else if (tp == 0) numerator = static_cast<float>(tn - fp * fn);
    else if (tn == 0) numerator = static_cast<float>(tp - fp * fn);
    else if (fp == 0 || fn == 0) numerator = static_cast<float>(tp * tn);
    else return 0.0f;
    const float a = static_cast<float>(tp + fp) + eps, b = static_cast<float>(tp + fn) + eps,
                c = static_cast<float>(tn + fp) + eps, d = static_cast<float>(tn + fn) + eps;
    const float ab = a * b, abc = ab * c;
    denom = abc * d;
  } else if (denom == 0.0f) {
    return 0.0f;
  }
  return numerator / sqrtf(denom);
}
// cohen_kappa (unweighted) of the same matrix, in float32 as torchmetrics' _cohen_kappa_reduce: 1 -
// sum(w * confmat) / sum(w * expected), w 0 on the diagonal and 1 off it, expected the outer product
// of the row and column sums over the column sums' sum, the C x C matrix summed in torch.sum's
// order (NaN without positions, as torch's 0 / 0).
template <typename Matrix>
LTRT_HOST_DEVICE inline float cohen_kappa_of(const Matrix& m) {
  const std::int64_t classes = m.classes;
  const float columns = torch_sum([&](std::int64_t c) { return m.column(c); }, classes);  // sum0.sum()
  const float expected = torch_sum(
      [&](std::int64_t i) {
        const std::int64_t row = i / classes, column = i % classes;
        const float outer = m.row(row) * m.column(column);
        return (row == column ? 0.0f : 1.0f) * (outer / columns);
      },
      classes * classes);
  return 1.0f - m.off_diagonal() / expected;
}
// cohen_kappa sums the C x C matrix in one thread on the GPU: at most this many classes.
constexpr std::int64_t kMaxKappaClasses = 1024;
// cohen_kappa with linear or quadratic weights over class targets, of the whole confusion matrix
// `counts` (C x C, [target][prediction], row-major, C at most kMaxKappaClasses), in float32 as
// torchmetrics' _cohen_kappa_reduce: the counts rounded to float32, their row sums (torch.sum over
// dim 1) and column sums (over dim 0, torch_column_sum's order), expected the outer product of the
// two over the column sums' sum, then 1 - sum(w * confmat) / sum(w * expected) with w |i - j| or
// (i - j)^2, both C x C sums in torch.sum's order (NaN without positions, as torch's 0 / 0).
// Binary logits' 2 x 2 matrix weighs its two off-diagonal cells 1 either way: the unweighted kappa.
template <typename Count>
LTRT_HOST_DEVICE inline float weighted_cohen_kappa(const Count* counts, std::int64_t classes, KappaWeights weights) {
  auto at = [=](std::int64_t r, std::int64_t c) { return static_cast<float>(counts[r * classes + c]); };
  auto weight = [=](std::int64_t i) {
    const float d = static_cast<float>(i % classes) - static_cast<float>(i / classes);  // w - w.T
    return weights == KappaWeights::quadratic ? d * d : (d < 0.0f ? -d : d);
  };
  float row_sums[kMaxKappaClasses], column_sums[kMaxKappaClasses];  // sum1, sum0
  for (std::int64_t r = 0; r < classes; ++r) row_sums[r] = torch_sum([=](std::int64_t c) { return at(r, c); }, classes);
  for (std::int64_t c = 0; c < classes; ++c) column_sums[c] = torch_column_sum(at, classes, classes, c);
  const float total = torch_sum([&](std::int64_t c) { return column_sums[c]; }, classes);  // sum0.sum()
  const float observed = torch_sum(
      [=](std::int64_t i) {
        const float w = weight(i), x = at(i / classes, i % classes);
        return w * x;
      },
      classes * classes);
  const float expected = torch_sum(
      [&](std::int64_t i) {
        const float outer = row_sums[i / classes] * column_sums[i % classes];
        const float w = weight(i), e = outer / total;
        return w * e;
      },
      classes * classes);
  return 1.0f - observed / expected;
}
// The metrics reduced from the whole confusion matrix rather than per class: matthews_corrcoef and
// cohen_kappa, by their kind, of `classes` classes' counts (binary: one class, the positive one) over
// `positions` positions.
template <typename Count>
LTRT_HOST_DEVICE inline float matrix_score(MetricKind kind, const Count* tp, const Count* predicted,
                                          const Count* actual, std::int64_t classes, std::int64_t positions) {
  auto score = [kind](const auto& m) {
    return kind == MetricKind::cohen_kappa ? cohen_kappa_of(m) : matthews_corrcoef_of(m);
  };
  if (classes != 1) return score(CountsMatrix<Count>{tp, predicted, actual, classes, positions});
  return score(BinaryMatrix(static_cast<std::int64_t>(tp[0]), static_cast<std::int64_t>(predicted[0]),
                            static_cast<std::int64_t>(actual[0]), positions));
}
LTRT_HOST_DEVICE inline bool reduces_matrix(MetricKind kind) {
  return kind == MetricKind::matthews_corrcoef || kind == MetricKind::cohen_kappa;
}
// The stat scores of the first n rows, into tp, predicted and actual (shape.classes entries, one
// when binary; zeroed first). With top_k above 1 a position's prediction is its target when the
// target ranks below top_k, else its argmax (torchmetrics 1.9's _refine_preds_oh).
void count_class_stats(const AccuracyShape& shape, const float* out, const void* target, std::int64_t n,
                       std::int64_t* tp, std::int64_t* predicted, std::int64_t* actual, std::int64_t top_k = 1);
// The score of `classes` classes' stat scores over `positions` positions (the positions each class
// counted): micro (from their sums; binary's only one), or the sum of the macro or weighted
// average's terms (average_of_terms).
double average_score(const ScoreRule& rule, const std::int64_t* tp, const std::int64_t* predicted,
                     const std::int64_t* actual, std::int64_t classes, std::int64_t positions);

// average_precision of one batch, as torchmetrics' functional average_precision (exact curve): the
// same probabilities, classes and averages as auroc's; a class's value is the sum over its precision
// curve's steps of (recall gained) x (precision there), which is the mean over its positives of the
// precision at each one's probability (the positives at or above it over all at or above it; a run
// of equal probabilities shares one). Binary without positives it is 0 (torchmetrics turns the NaN
// recall into 0); a class without positives is NaN there, which the averages leave out.
LTRT_HOST_DEVICE inline double precision_at(std::int64_t positives_above, std::int64_t above) {
  return static_cast<double>(positives_above) / static_cast<double>(above);
}
// Whether a class of `positives` positives counts in the average: all of auroc's; average_precision's
// over classes only with positives.
LTRT_HOST_DEVICE inline bool averages_class(MetricKind kind, bool class_targets, std::int64_t positives) {
  return kind == MetricKind::auroc || !class_targets || positives > 0;
}
// The average of the `included` classes' terms (roc_term) summed in `total`: weighted, the sum;
// macro, their mean (NaN without any, as torch's mean of nothing).
LTRT_HOST_DEVICE inline double ranked_average(MetricAverage average, double total, std::int64_t included) {
  if (average == MetricAverage::weighted) return static_cast<float>(total);
  return included ? static_cast<float>(total / static_cast<double>(included)) : static_cast<float>(NAN);
}
// auroc of one batch, as torchmetrics' functional auroc (exact curve, no thresholds): each class's
// area under its ROC curve against the rest (binary: the positive class's), over probabilities:
// binary, each logit's sigmoid; multiclass, each position's softmax; either as they are when
// every value of the batch lies in [0, 1], which torchmetrics takes for probabilities. Positions
// whose target is ignore_index are left out. The trapezoids of the exact curve add up to the share
// of (positive, negative) pairs whose positive ranks above, ties counting half: twice that count
// over 2 * positives * negatives. A class without positives or negatives scores 0 (torchmetrics'
// zero curve). Classes combine as their macro mean or their weighted mean by targets.
// roc_area takes those counts: above2 = 2 * (pairs the positive ranks above) + (pairs that tie).
LTRT_HOST_DEVICE inline float roc_area(std::int64_t above2, std::int64_t positives, std::int64_t negatives) {
  if (positives == 0 || negatives == 0) return 0.0f;
  return static_cast<float>(static_cast<double>(above2) /
                            (2.0 * static_cast<double>(positives) * static_cast<double>(negatives)));
}
// Probability a above b: NaN above every number and tied with NaN, as argmax_prefers orders them.
LTRT_HOST_DEVICE inline bool probability_above(float a, float b) { return a != a ? b == b : a > b; }
// The sigmoid torchmetrics applies to a binary logit.
LTRT_HOST_DEVICE inline float logit_probability(float x) { return 1.0f / (1.0f + expf(-x)); }
// A class's term of the average: macro, its area (the sum is then over the classes' count);
// weighted, its area times its targets' share (float32, as torchmetrics' _safe_divide).
LTRT_HOST_DEVICE inline float roc_term(MetricAverage average, float area, std::int64_t targets, std::int64_t all) {
  if (average != MetricAverage::weighted) return area;
  return all != 0 ? area * (static_cast<float>(targets) / static_cast<float>(all)) : 0.0f;
}
// The probabilities auroc and average_precision rank, of batches (one batch's for its functional value, an epoch's for a
// Metric object, whose compute() ranks every position the epoch counted, every DDP rank's): per
// counted position its classes' probabilities (binary: one) and its label (a class; binary 1 or 0).
// Each batch decides for itself whether its values are probabilities already, as torchmetrics'
// update does.
struct EpochScores {
  std::vector<float> scores;
  std::vector<std::int64_t> labels;
  void add(const AccuracyShape& shape, const float* out, const void* target, std::int64_t n);  // n rows
  bool empty() const { return labels.empty(); }
};
// auroc or average_precision of `scores`, over their classes as `average` says.
double ranked_score(MetricKind kind, const AccuracyShape& shape, MetricAverage average, const EpochScores& scores);
// The metrics that rank probabilities (EpochScores): auroc and average_precision.
LTRT_HOST_DEVICE inline bool ranks_scores(MetricKind kind) {
  return kind == MetricKind::auroc || kind == MetricKind::average_precision;
}

// The metrics whose every value is of stat scores: precision, recall, f1_score, fbeta_score,
// specificity, negative_predictive_value, hamming_distance, jaccard_index, matthews_corrcoef and
// cohen_kappa.
LTRT_HOST_DEVICE inline bool stat_score_metric(MetricKind kind) {
  return kind == MetricKind::precision || kind == MetricKind::recall || kind == MetricKind::f1_score ||
         kind == MetricKind::fbeta_score || kind == MetricKind::specificity ||
         kind == MetricKind::negative_predictive_value || kind == MetricKind::hamming_distance ||
         kind == MetricKind::jaccard_index || reduces_matrix(kind);
}

// The metrics of an output's running moments (PearsonMoments): pearson_corrcoef and concordance_corrcoef.
LTRT_HOST_DEVICE inline bool correlates(MetricKind kind) {
  return kind == MetricKind::pearson_corrcoef || kind == MetricKind::concordance_corrcoef;
}
// Metric `kind`'s value of `moments` (a batch's or an epoch's); `near_zero` as pearson_value's.
LTRT_HOST_DEVICE inline float correlation_value(MetricKind kind, const PearsonMoments& moments,
                                                bool* near_zero = nullptr) {
  return kind == MetricKind::concordance_corrcoef ? concordance_value(moments, near_zero)
                                                  : pearson_value(moments, near_zero);
}
// The metrics that rank an output's values (EpochValues for their Metric objects): spearman_corrcoef
// and kendall_rank_corrcoef.
LTRT_HOST_DEVICE inline bool ranks_values(MetricKind kind) {
  return kind == MetricKind::spearman_corrcoef || kind == MetricKind::kendall_rank_corrcoef;
}
// Such a metric's value of n predictions x against targets y (a batch's, or an object's epoch's).
inline float ranked_values_value(MetricKind kind, KendallVariant variant, const float* x, const float* y,
                                 std::int64_t n) {
  return kind == MetricKind::kendall_rank_corrcoef ? kendall_value(x, y, n, variant) : spearman_value(x, y, n);
}
// The metrics whose Metric objects keep the epoch's predictions and targets (EpochValues): those
// that rank them, and cosine_similarity (torchmetrics' list states, concatenated at compute).
LTRT_HOST_DEVICE inline bool keeps_values(MetricKind kind) {
  return ranks_values(kind) || kind == MetricKind::cosine_similarity;
}
// Such a metric's value of `rows` rows of `per_row` predictions x against targets y (a batch's, or
// an object's epoch's); the ranking metrics read one value a row.
inline float kept_values_value(const MetricDef& def, const float* x, const float* y, std::int64_t rows,
                               std::int64_t per_row) {
  if (def.kind == MetricKind::cosine_similarity) return cosine_similarity_value(x, y, rows, per_row, def.reduction);
  return ranked_values_value(def.kind, def.variant, x, y, rows);
}
// torchmetrics' warning where a correlation's variance is near zero (its value is then NaN), on
// stderr once (Python shows a warning once).
void warn_correlation_near_zero();

// "acc", "mae", "mse", ... (ltrt/metric_info.hpp's suffix): a metric is logged as <stage>_<suffix>
// (train_acc, val_mae, ...).
const char* metric_suffix(MetricKind kind);
// Metric k's name in the logs: its suffix, and for a top_k above 1 "_top<k>" (val_acc_top5); with
// squared=False "rmse" or "rrse".
std::string metric_name(const ModelDef& model, int k);

// What the model's metrics read, for batch_metrics and the CUDA backend's evaluation sums.
struct MetricsShape {
  int count;                        // model.metrics' length
  MetricDef metric[kMaxMetrics];    // in the spec's order (ModelDef::metrics)
  AccuracyShape accuracy;           // how accuracy and the stat scores read the buffers
  std::int64_t per_row;             // a sample's output elements, each against a target (the errors)
  // A root mean squared error's Metric object is the root of the epoch's mean: its evaluation sums
  // (EvalSums, rows times a batch's value) keep each batch's mean squared error, the root's square.
  bool sums_squares(int k) const { return metric[k].root && metric[k].module && compares_elements(metric[k].kind); }
  double summed_value(int k, double value) const { return sums_squares(k) ? value * value : value; }
  // Metric k is a Metric object that counts stat scores (accuracy, precision, recall, f1_score; an
  // error's Metric object sums its errors, which the batches' weighted mean already does; auroc's
  // keeps the epoch's scores, scored).
  bool counted(int k) const {
    return metric[k].module && !compares_elements(metric[k].kind) && !ranks_scores(metric[k].kind) &&
           !sums_columns(metric[k].kind) && !correlates(metric[k].kind) && !keeps_values(metric[k].kind) &&
           metric[k].kind != MetricKind::critical_success_index && metric[k].kind != MetricKind::exact_match &&
           !confusion(k);
  }
  // a weighted cohen_kappa over class targets: it reads the whole confusion matrix (ConfusionCounts),
  // not the stat scores (binary logits' weighted kappa is the unweighted one)
  bool confusion(int k) const {
    return metric[k].kind == MetricKind::cohen_kappa && metric[k].weights != KappaWeights::none &&
           accuracy.class_targets;
  }
  bool confusion_object(int k) const { return metric[k].module && confusion(k); }
  bool any_confusion_object() const {
    for (int k = 0; k < count; ++k)
      if (confusion_object(k)) return true;
    return false;
  }
  // an exact_match Metric object: the epoch's counts are kept (ExactMatchCount)
  bool exact_object(int k) const { return metric[k].module && metric[k].kind == MetricKind::exact_match; }
  bool any_exact_object() const {
    for (int k = 0; k < count; ++k)
      if (exact_object(k)) return true;
    return false;
  }
  // a critical_success_index Metric object: the epoch's counts are kept (SuccessCounts)
  bool success_object(int k) const { return metric[k].module && metric[k].kind == MetricKind::critical_success_index; }
  bool any_success_object() const {
    for (int k = 0; k < count; ++k)
      if (success_object(k)) return true;
    return false;
  }
  bool r2_object(int k) const { return metric[k].module && sums_columns(metric[k].kind); }
  // an r2_score, explained_variance, relative_squared_error or weighted_mean_absolute_percentage_error
  // Metric object: the epoch's sums are kept (R2Sums)
  bool any_r2_object() const {
    for (int k = 0; k < count; ++k)
      if (r2_object(k)) return true;
    return false;
  }
  bool scored(int k) const { return metric[k].module && ranks_scores(metric[k].kind); }
  // a pearson_corrcoef or concordance_corrcoef Metric object: the epoch's moments are kept (PearsonMoments)
  bool moments_object(int k) const { return metric[k].module && correlates(metric[k].kind); }
  bool any_moments_object() const {
    for (int k = 0; k < count; ++k)
      if (moments_object(k)) return true;
    return false;
  }
  // a spearman_corrcoef, kendall_rank_corrcoef or cosine_similarity Metric object: the epoch's
  // values are kept (EpochValues)
  bool values_object(int k) const { return metric[k].module && keeps_values(metric[k].kind); }
  bool any_values_object() const {
    for (int k = 0; k < count; ++k)
      if (values_object(k)) return true;
    return false;
  }
  // Metric k reads the stat scores: the scores (stat_score_metric), a counted Metric object, and
  // accuracy with a macro or weighted average (torchmetrics reduces it as recall's).
  bool reads_stats(int k) const {
    return (stat_score_metric(metric[k].kind) && !confusion(k)) || counted(k) ||
           (metric[k].kind == MetricKind::accuracy && metric[k].average != MetricAverage::micro);
  }
  // The score metric k takes from them: accuracy's averaged one is recall's.
  MetricKind score_kind(int k) const {
    return metric[k].kind == MetricKind::accuracy && metric[k].average != MetricAverage::micro ? MetricKind::recall
                                                                                               : metric[k].kind;
  }
  bool any_scored() const {  // an auroc or average_precision Metric object: the epoch's scores are kept (EpochScores)
    for (int k = 0; k < count; ++k)
      if (scored(k)) return true;
    return false;
  }
  bool any_counted() const {  // any Metric object that counts: the epoch's stat scores are kept (EpochCounts)
    for (int k = 0; k < count; ++k)
      if (counted(k)) return true;
    return false;
  }
  std::int64_t score_classes() const { return accuracy.class_targets ? accuracy.classes : 1; }
  // The metrics that read stat scores count one set of them per top_k (a top_k refines the
  // predictions), numbered in the order their top_k first appear: metric k's set, set s's top_k,
  // their number.
  std::int64_t top_k_of(int k) const { return std::max<std::int64_t>(1, metric[k].top_k); }
  int stats_set(int k) const {
    int set = 0;
    for (int j = 0; j < count; ++j) {
      if (!reads_stats(j)) continue;
      if (top_k_of(j) == top_k_of(k)) return set;
      bool seen = false;  // j's top_k has a set already
      for (int i = 0; i < j; ++i) seen = seen || (reads_stats(i) && top_k_of(i) == top_k_of(j));
      set += !seen;
    }
    return set;
  }
  std::int64_t set_top_k(int set) const {
    for (int k = 0; k < count; ++k)
      if (reads_stats(k) && stats_set(k) == set) return top_k_of(k);
    return 1;
  }
  int stats_sets() const {
    int sets = 0;
    for (int k = 0; k < count; ++k)
      if (reads_stats(k)) sets = std::max(sets, stats_set(k) + 1);
    return sets;
  }
  // How metric k scores its stat scores (not those that reduce_matrix).
  ScoreRule rule(int k) const {
    return score_rule(score_kind(k), metric[k].average, top_k_of(k), metric[k].beta, accuracy.ignore_index,
                      score_classes(), !accuracy.class_targets);
  }
  // EpochCounts' entries: a set's tp, predicted and actual per class and its binary positions, per set.
  std::int64_t set_entries() const { return 3 * score_classes() + 1; }
  std::int64_t stats_entries() const { return stats_sets() * set_entries(); }
};
MetricsShape metrics_shape(const ModelDef& model);

// The stat scores of an epoch's batches for its Metric objects, summed as torchmetrics' states
// are (and over DDP's ranks, as Metric.compute syncs them): per set (MetricsShape::stats_set), tp,
// predicted and actual per class, then the positions counted when binary (accuracy's tp + tn is
// the positions' complement of fp + fn). Empty until a batch is added.
struct EpochCounts {
  std::vector<std::int64_t> stats;
  void add(const MetricsShape& shape, const float* out, const void* target, std::int64_t n);
  void add(const std::vector<std::int64_t>& other);  // another's (a device's, a rank's) of the same shape
  bool empty() const { return stats.empty(); }
};
// Metric k's value from stat scores laid out as EpochCounts' (a batch's or an epoch's; its set's):
// accuracy
// (micro: tp / (tp + fn), binary (tp + tn) / all), precision, recall or f1_score as average_score.
double stats_score(const MetricsShape& shape, int k, const std::vector<std::int64_t>& stats);

// An exact_match's counts: samples whose every position is right, of all (torchmetrics' correct and
// total states; a Metric object sums them over its epoch and DDP's ranks).
struct ExactMatchCount {
  std::int64_t correct = 0, total = 0;
  // n samples of a batch (binary logits taken for probabilities when all of the batch's lie in [0, 1])
  void add(const AccuracyShape& shape, const float* out, const void* target, std::int64_t n);
  // _safe_divide in float32, 0 without samples
  LTRT_HOST_DEVICE float value() const {
    return total ? static_cast<float>(correct) / static_cast<float>(total) : 0.0f;
  }
};

// A weighted cohen_kappa's confusion matrix over class targets: C x C counts, [target][prediction],
// the argmax against each position's class, positions whose target is ignore_index left out (as
// torchmetrics' multiclass confusion matrix drops them). A Metric object sums its epoch's and DDP's
// ranks'. Empty until a batch is added.
struct ConfusionCounts {
  std::vector<std::int64_t> counts;
  void add(const AccuracyShape& shape, const float* out, const void* target, std::int64_t n);
};
// The confusion matrix cell of position p (target * classes + the argmax), or -1 where its target is
// ignore_index.
LTRT_HOST_DEVICE inline std::int64_t confusion_cell(const AccuracyShape& s, const float* out, const void* target,
                                                    std::int64_t p) {
  const std::int64_t label = static_cast<const std::int64_t*>(target)[p];
  if (label == s.ignore_index) return -1;
  return label * s.classes + row_argmax(out + p * s.classes, s.classes);
}

// The Metric objects' states of an epoch so far, from which epoch_metrics computes their epoch
// values (torchmetrics' update, then compute): the counted objects' stat scores, auroc's and
// average_precision's probabilities, the column sums (r2_score, explained_variance,
// relative_squared_error, weighted_mean_absolute_percentage_error), Pearson's and concordance's
// moments, the values Spearman and Kendall rank and cosine_similarity's rows, and critical_success_index's and
// exact_match's counts. Each part
// stays empty without an object that keeps it.
struct MetricStates {
  EpochCounts counts;
  EpochScores scores;
  R2Sums r2;
  PearsonMoments moments;
  EpochValues values;
  SuccessCounts success;
  ExactMatchCount exact;
  ConfusionCounts confusion;
  // Every object's update with a batch of n outputs and targets; the stat scores too unless
  // `with_counts` is false (the CUDA backend counts them on the device).
  void add(const MetricsShape& s, const float* out, const void* target, std::int64_t n, bool with_counts = true);
};

// Each metric's value over the first n rows of `out` and `target`, into values[0, shape.count).
void count_metrics(const MetricsShape& shape, const float* out, const void* target, std::int64_t n, double* values);
// ... over the host arena's output and target buffers.
void batch_metrics(const ModelDef& model, const std::byte* arena, int n, double* values);

// Whether logit `a` at index i ranks above logit `b` at index j in a row: argmax_prefers it, or the
// two tie (NaNs too) and i comes first. torch.topk's order among equal logits is unspecified; this
// is argmax's, so that top_k 1 is the argmax.
LTRT_HOST_DEVICE inline bool ranks_above(float a, std::int64_t i, float b, std::int64_t j) {
  return argmax_prefers(a, b) || (!argmax_prefers(b, a) && i < j);
}
// The rank of class t among a row's logits (0: its argmax); a top_k hit when below top_k.
inline std::int64_t top_k_rank(const float* row, std::int64_t classes, std::int64_t t) {
  std::int64_t rank = 0;
  for (std::int64_t j = 0; j < classes; ++j) rank += ranks_above(row[j], j, row[t], t);
  return rank;
}

// exact_match (torchmetrics' ExactMatch, multiclass or multilabel): whether position p is right.
// Class targets: its argmax is its class, or its target is ignore_index (torchmetrics sets such a
// prediction to the target). Binary logits (multilabel, a label a position): the label's
// binary_prediction, under the batch's probabilities rule, is its target > 0.5.
LTRT_HOST_DEVICE inline bool exact_position(const AccuracyShape& s, const float* out, const void* target,
                                            std::int64_t p, bool probabilities) {
  if (s.class_targets) {
    const std::int64_t label = static_cast<const std::int64_t*>(target)[p];
    return label == s.ignore_index || row_argmax(out + p * s.classes, s.classes) == label;
  }
  return binary_prediction(out[p], probabilities) == (static_cast<const float*>(target)[p] > 0.5f);
}
// ... whether sample i's every position is: it counts as an exact match.
LTRT_HOST_DEVICE inline bool exact_sample(const AccuracyShape& s, const float* out, const void* target, std::int64_t i,
                                          bool probabilities) {
  for (std::int64_t p = i * s.per_row; p < (i + 1) * s.per_row; ++p)
    if (!exact_position(s, out, target, p, probabilities)) return false;
  return true;
}
// Lightning's mean over an epoch: each batch's value weighted by its batch size.
class WeightedMean {
 public:
  void add(double value, std::int64_t weight) {
    sum_ += value * static_cast<double>(weight);
    weight_ += weight;
  }
  bool empty() const { return weight_ == 0; }
  double value() const { return sum_ / static_cast<double>(weight_); }

 private:
  double sum_ = 0;
  std::int64_t weight_ = 0;
};

}  // namespace ltrt
