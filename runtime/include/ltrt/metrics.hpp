// Metrics over the model's output (model.metrics: accuracy, mean absolute and mean squared error),
// and the batch-size weighted mean that Lightning's self.log(..., on_epoch=True) reduces a metric with.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ltrt/host_device.hpp"
#include "ltrt/model.hpp"

namespace ltrt {

// Accuracy of the first n rows of the output buffer against the target
// buffer: argmax for class targets (rows whose target is ignore_index do not
// count), logit > 0 against target > 0.5 for BCEWithLogitsLoss's float targets.
struct AccuracyCount {
  std::int64_t correct = 0;
  std::int64_t total = 0;
  double value() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

// How accuracy reads the output buffer, for count_accuracy here and the CUDA backend's kernel.
struct AccuracyShape {
  bool class_targets;       // int64 class indices (argmax); else float targets of a binary logit
  std::int64_t per_row;     // positions a sample has (sequence targets), or its logits (binary)
  std::int64_t classes;     // logits a position has (class targets)
  std::int64_t ignore_index;
};

// Accuracy over the first n rows of `out` and `target` (int64 classes or float targets, as
// `shape` says), for the CPU program and as the CUDA backend's reference.
AccuracyCount count_accuracy(const AccuracyShape& shape, const float* out, const void* target, std::int64_t n);

// The mean absolute or squared error of `count` predictions against float targets, as torch's
// l1_loss and mse_loss (reduction "mean"): each |out - target| or (out - target)^2 in float32,
// summed in float64 (in order here; the CUDA kernel's tree agrees to rounding), over count.
struct ErrorSum {
  double sum = 0;
  std::int64_t count = 0;
  double value() const { return count ? sum / static_cast<double>(count) : 0.0; }
};
LTRT_HOST_DEVICE inline float metric_error(float out, float target, bool squared) {
  const float d = out - target;
  return squared ? d * d : (d < 0.0f ? -d : d);
}
ErrorSum sum_errors(const float* out, const float* target, std::int64_t count, bool squared);

// "acc", "mae", "mse": a metric is logged as <stage>_<suffix> (train_acc, val_mae, ...).
const char* metric_suffix(MetricKind kind);

// What the model's metrics read, for batch_metrics and the CUDA backend's evaluation sums.
struct MetricsShape {
  int count;                        // model.metrics' length
  MetricKind kinds[kMaxMetrics];    // in the spec's order
  AccuracyShape accuracy;           // how accuracy reads the buffers (when it is one of them)
  std::int64_t per_row;             // a sample's output elements, each against a target (the errors)
};
MetricsShape metrics_shape(const ModelDef& model);

// Each metric's value over the first n rows of `out` and `target`, into values[0, shape.count).
void count_metrics(const MetricsShape& shape, const float* out, const void* target, std::int64_t n, double* values);
// ... over the host arena's output and target buffers.
void batch_metrics(const ModelDef& model, const std::byte* arena, int n, double* values);

// torch.argmax's order of a row's logits: logit `a` at a later index takes the lead from `b`
// when it is larger, or NaN where `b` is not (torch counts NaN as the largest). On a tie, NaNs
// included, the first index keeps it, so -0.0 and 0.0 tie too.
LTRT_HOST_DEVICE inline bool argmax_prefers(float a, float b) { return a != a ? b == b : a > b; }

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
