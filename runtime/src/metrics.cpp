// Accuracy over the model's output buffer.
#include "ltrt/metrics.hpp"

namespace ltrt {

AccuracyCount batch_accuracy(const ModelDef& model, const std::byte* arena, int n) {
  AccuracyCount c;
  const float* out = reinterpret_cast<const float*>(arena + model.output.offset);
  std::int64_t per_row = 1;
  for (int d = 1; d < model.output.rank; ++d) per_row *= model.output.shape[d];
  if (model.target.dtype == DType::i64) {
    // torch.argmax over the last dimension: the first index of the largest logit. Sequence
    // targets (batch, T) count every position: logits (batch, T, classes) are batch * T rows.
    const auto* target = reinterpret_cast<const std::int64_t*>(arena + model.target.offset);
    const std::int64_t classes = model.output.shape[model.output.rank - 1];
    std::int64_t positions = 1;
    for (int d = 1; d < model.target.rank; ++d) positions *= model.target.shape[d];
    for (std::int64_t i = 0; i < n * positions; ++i) {
      if (target[i] == model.ignore_index) continue;
      const float* row = out + i * classes;
      std::int64_t best = 0;
      for (std::int64_t k = 1; k < classes; ++k)
        if (row[k] > row[best]) best = k;
      c.correct += best == target[i];
      ++c.total;
    }
    return c;
  }
  // Binary: a logit above 0 is a probability above 0.5.
  const auto* target = reinterpret_cast<const float*>(arena + model.target.offset);
  for (std::int64_t i = 0; i < n * per_row; ++i) {
    c.correct += (out[i] > 0.0f) == (target[i] > 0.5f);
    ++c.total;
  }
  return c;
}

}  // namespace ltrt
