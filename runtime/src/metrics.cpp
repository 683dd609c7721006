// The metrics of model.metrics over the model's output buffer.
#include "ltrt/metrics.hpp"

namespace ltrt {

namespace {

AccuracyShape accuracy_shape(const ModelDef& model) {
  const bool classes = model.target.dtype == DType::i64;
  // Sequence targets (batch, T) count every position: logits (batch, T, classes) are batch * T rows.
  return AccuracyShape{classes, classes ? model.target.sample_numel() : model.output.sample_numel(),
                       classes ? model.output.shape[model.output.rank - 1] : 1, model.ignore_index};
}

}  // namespace

AccuracyCount count_accuracy(const AccuracyShape& s, const float* out, const void* target, std::int64_t n) {
  AccuracyCount c;
  if (s.class_targets) {
    // torch.argmax over the last dimension: the first index of the largest logit (or first NaN).
    const auto* classes = static_cast<const std::int64_t*>(target);
    for (std::int64_t i = 0; i < n * s.per_row; ++i) {
      if (classes[i] == s.ignore_index) continue;
      const float* row = out + i * s.classes;
      std::int64_t best = 0;
      for (std::int64_t k = 1; k < s.classes; ++k)
        if (argmax_prefers(row[k], row[best])) best = k;
      c.correct += best == classes[i];
      ++c.total;
    }
    return c;
  }
  // Binary: a logit above 0 is a probability above 0.5.
  const auto* floats = static_cast<const float*>(target);
  for (std::int64_t i = 0; i < n * s.per_row; ++i) {
    c.correct += (out[i] > 0.0f) == (floats[i] > 0.5f);
    ++c.total;
  }
  return c;
}

ErrorSum sum_errors(const float* out, const float* target, std::int64_t count, bool squared) {
  ErrorSum e;
  for (std::int64_t i = 0; i < count; ++i) e.sum += metric_error(out[i], target[i], squared);
  e.count = count;
  return e;
}

const char* metric_suffix(MetricKind kind) {
  switch (kind) {
    case MetricKind::accuracy: return "acc";
    case MetricKind::mean_absolute_error: return "mae";
    case MetricKind::mean_squared_error: return "mse";
  }
  return "?";
}

MetricsShape metrics_shape(const ModelDef& model) {
  MetricsShape s{};
  s.count = model.num_metrics;
  for (int k = 0; k < model.num_metrics; ++k) s.kinds[k] = model.metrics[k];
  s.accuracy = accuracy_shape(model);
  s.per_row = model.output.sample_numel();
  return s;
}

void count_metrics(const MetricsShape& s, const float* out, const void* target, std::int64_t n, double* values) {
  for (int k = 0; k < s.count; ++k) {
    if (s.kinds[k] == MetricKind::accuracy) {
      values[k] = count_accuracy(s.accuracy, out, target, n).value();
    } else {
      const bool squared = s.kinds[k] == MetricKind::mean_squared_error;
      values[k] = sum_errors(out, static_cast<const float*>(target), n * s.per_row, squared).value();
    }
  }
}

void batch_metrics(const ModelDef& model, const std::byte* arena, int n, double* values) {
  count_metrics(metrics_shape(model), reinterpret_cast<const float*>(arena + model.output.offset),
                arena + model.target.offset, n, values);
}

}  // namespace ltrt
