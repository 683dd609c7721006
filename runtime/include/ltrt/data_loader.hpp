// Batches over an in-memory Dataset, like torch.utils.data.DataLoader with
// batch_size, shuffle (a fresh permutation at the start of every epoch) and
// drop_last. The last batch of an epoch has fewer rows unless drop_last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ltrt/dataset.hpp"
#include "ltrt/model.hpp"
#include "ltrt/rng.hpp"

namespace ltrt {

class DataLoader {
 public:
  DataLoader(const Dataset& data, int batch_size, bool shuffle, bool drop_last);

  // len(DataLoader): floor(N / B) with drop_last, ceil(N / B) otherwise.
  std::int64_t num_batches() const { return num_batches_; }
  std::int64_t num_samples() const { return data_.num_samples; }

  // Call at the start of every epoch: with shuffle, draws a new permutation
  // of all samples from `gen` (Fisher-Yates). Does not allocate.
  void start_epoch(Generator& gen);

  // Rows of batch b (0 <= b < num_batches()) of this epoch.
  int batch_rows(std::int64_t b) const;

  // Gathers batch b into the input and target buffers of the arena (rows
  // 0..n-1) and returns n. Does not allocate.
  int load_batch(std::int64_t b, std::byte* arena, const TensorRef& input, const TensorRef& target) const;

  // The sample order of the current epoch.
  const std::vector<std::int64_t>& order() const { return order_; }

 private:
  const Dataset& data_;
  int batch_size_;
  bool shuffle_;
  std::int64_t num_batches_;
  std::vector<std::int64_t> order_;
};

}  // namespace ltrt
