// Accuracy over the model's output buffer.
#include "ltrt/metrics.hpp"

namespace ltrt {

AccuracyShape accuracy_shape(const ModelDef& model) {
  const bool classes = model.target.dtype == DType::i64;
  // Sequence targets (batch, T) count every position: logits (batch, T, classes) are batch * T rows.
  return AccuracyShape{model.accuracy, classes, classes ? model.target.sample_numel() : model.output.sample_numel(),
                       classes ? model.output.shape[model.output.rank - 1] : 1, model.ignore_index};
}

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

AccuracyCount batch_accuracy(const ModelDef& model, const std::byte* arena, int n) {
  return count_accuracy(accuracy_shape(model), reinterpret_cast<const float*>(arena + model.output.offset),
                        arena + model.target.offset, n);
}

}  // namespace ltrt
