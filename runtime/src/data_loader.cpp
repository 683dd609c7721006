// Batching with per-epoch permutations.
#include "ltrt/data_loader.hpp"

#include <cstring>
#include <string>

#include "ltrt/error.hpp"

namespace ltrt {

DataLoader::DataLoader(const Dataset& data, int batch_size, bool shuffle, bool drop_last)
    : data_(data), batch_size_(batch_size), shuffle_(shuffle) {
  if (batch_size <= 0) throw Error("batch_size must be positive, got " + std::to_string(batch_size));
  const std::int64_t n = data.num_samples;
  num_batches_ = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  order_.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order_[static_cast<std::size_t>(i)] = i;
}

void DataLoader::start_epoch(Generator& gen) {
  if (!shuffle_) return;
  const std::size_t n = order_.size();
  for (std::size_t i = 0; i < n; ++i) order_[i] = static_cast<std::int64_t>(i);
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(gen.below(i));
    std::swap(order_[i - 1], order_[j]);
  }
}

int DataLoader::batch_rows(std::int64_t b) const {
  const std::int64_t start = b * batch_size_;
  const std::int64_t left = data_.num_samples - start;
  return static_cast<int>(left < batch_size_ ? left : batch_size_);
}

int DataLoader::load_batch(std::int64_t b, std::byte* arena, const TensorRef& input, const TensorRef& target) const {
  const int n = batch_rows(b);
  const std::size_t x_row = static_cast<std::size_t>(data_.input_row) * dtype_size(data_.input_dtype);
  const std::size_t y_row = static_cast<std::size_t>(data_.target_row) * dtype_size(data_.target_dtype);
  std::byte* x = arena + input.offset;
  std::byte* y = arena + target.offset;
  const std::int64_t* rows = order_.data() + b * batch_size_;
  for (int r = 0; r < n; ++r) {
    const std::size_t src = static_cast<std::size_t>(rows[r]);
    std::memcpy(x + r * x_row, data_.inputs.data() + src * x_row, x_row);
    if (y_row) std::memcpy(y + r * y_row, data_.targets.data() + src * y_row, y_row);
  }
  return n;
}

}  // namespace ltrt
