// Batching with per-epoch permutations.
#include "ltrt/data_loader.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "ltrt/error.hpp"
#include "ltrt/lightning_worker_seeds.hpp"

namespace ltrt {

DataLoader::DataLoader(const Dataset& data, int batch_size, bool shuffle, bool drop_last, Shard shard)
    : data_(data),
      batch_size_(batch_size),
      shuffle_(shuffle),
      shard_(shard),
      transforms_(data.transforms, data.input_shape),
      python_(static_cast<std::uint64_t>(shard.seed)) {
  if (!transforms_.empty()) transforms_.set_torch_threads(torch_intra_op_threads(shard.distributed, shard.world));
  if (batch_size <= 0) throw Error("batch_size must be positive, got " + std::to_string(batch_size));
  if (shard.world < 1 || shard.rank < 0 || shard.rank >= shard.world)
    throw Error("rank " + std::to_string(shard.rank) + " of " + std::to_string(shard.world) + " processes");
  const std::int64_t all = data.num_samples;
  // DistributedSampler(drop_last=False): ceil(N / world) samples for every rank.
  const std::int64_t n = !shard.distributed ? all : (all + shard.world - 1) / shard.world;
  num_batches_ = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  order_.resize(static_cast<std::size_t>(n));
  if (shard.distributed && shuffle) permuted_.resize(static_cast<std::size_t>(all));
  if (!shard.distributed) {
    for (std::int64_t i = 0; i < n; ++i) order_[static_cast<std::size_t>(i)] = i;
  } else if (all > 0) {
    // Position rank + i * world of 0, 1, ..., N-1, N-padded: sample (rank + i * world) mod N.
    for (std::int64_t i = 0; i < n; ++i) order_[static_cast<std::size_t>(i)] = (shard.rank + i * shard.world) % all;
  }
}

void DataLoader::start_epoch(Generator& gen, std::int64_t epoch) {
  if (!shuffle_) return;
  if (shard_.distributed) {
    // DistributedSampler.__iter__: randperm from seed + epoch, padded, every world-th from rank.
    torch_randperm(static_cast<std::uint64_t>(shard_.seed + epoch), permuted_);
    const std::size_t all = permuted_.size();
    if (all == 0) return;
    for (std::size_t i = 0; i < order_.size(); ++i)
      order_[i] = permuted_[(static_cast<std::size_t>(shard_.rank) + i * static_cast<std::size_t>(shard_.world)) % all];
    return;
  }
  const std::size_t n = order_.size();
  for (std::size_t i = 0; i < n; ++i) order_[i] = static_cast<std::int64_t>(i);
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(gen.below(i));
    std::swap(order_[i - 1], order_[j]);
  }
}

void DataLoader::start_epoch_from_seed(std::int64_t seed) {
  if (!shuffle_) return;
  if (shard_.distributed) throw Error("internal: start_epoch_from_seed is the single-process RandomSampler's");
  torch_randperm(static_cast<std::uint64_t>(seed), order_);
}

void DataLoader::set_workers(int n, bool persistent, int prefetch_factor) {
  workers_.clear();
  python_workers_.clear();
  persistent_ = n > 0 && persistent;
  prefetch_factor_ = prefetch_factor;
  if (n > 0) transforms_.set_torch_threads(1);  // a worker process runs torch on one thread
  if (n <= 0 || !transforms_.draws()) return;
  for (int w = 0; w < n; ++w) workers_.emplace_back(0), python_workers_.emplace_back(0);
  scratch_.assign(static_cast<std::size_t>(transforms_.input_numel() + transforms_.output_numel()), 0.0f);
}

void DataLoader::start_workers(std::int64_t base_seed, std::int64_t batches_done) {
  const auto n = static_cast<std::int64_t>(workers_.size());
  for (std::int64_t w = 0; w < n; ++w) {  // a Python int: base_seed + worker_id does not wrap
    const std::uint64_t seed = static_cast<std::uint64_t>(base_seed) + static_cast<std::uint64_t>(w);
    if (shard_.seed_workers) {
      const LightningWorkerSeeds seeds =
          lightning_worker_seeds(static_cast<std::uint64_t>(base_seed), static_cast<int>(w), shard_.rank);
      workers_[static_cast<std::size_t>(w)] = TorchGenerator(seeds.torch);
      python_workers_[static_cast<std::size_t>(w)] = PythonRandom::from_words(seeds.python, 3);
      continue;
    }
    workers_[static_cast<std::size_t>(w)] = TorchGenerator(seed);
    python_workers_[static_cast<std::size_t>(w)] = PythonRandom(seed);
  }
  for (std::int64_t b = 0; n > 0 && b < batches_done; ++b) draw_into_scratch(b);
  commit_workers();
}

void DataLoader::commit_workers() {
  if (!persistent_) return;       // (only persistent workers' generators go into checkpoints)
  committed_workers_ = workers_;  // (no allocation after the first: the sizes stay)
  committed_python_ = python_workers_;
}

void DataLoader::draw_into_scratch(std::int64_t b) {
  const auto w = static_cast<std::size_t>(b % static_cast<std::int64_t>(workers_.size()));
  for (int r = 0; r < batch_rows(b); ++r)
    transforms_.apply(scratch_.data(), scratch_.data() + transforms_.input_numel(), &workers_[w], &python_workers_[w]);
}

void DataLoader::draw_prefetched(std::int64_t taken) {
  if (!persistent_ || workers_.empty()) return;
  const std::int64_t sent =
      std::min(num_batches_, prefetch_factor_ * static_cast<std::int64_t>(workers_.size()) + taken);
  for (std::int64_t b = taken; b < sent; ++b) draw_into_scratch(b);
}

std::vector<std::string> DataLoader::worker_states() const {
  std::vector<std::string> states;
  for (std::size_t w = 0; w < committed_workers_.size(); ++w) {
    states.push_back(committed_workers_[w].state());
    states.push_back(committed_python_[w].state());
  }
  return states;
}

void DataLoader::set_worker_states(const std::vector<std::string>& states) {
  if (states.size() != 2 * workers_.size())
    throw Error("holds the generators of " + std::to_string(states.size() / 2) +
                " DataLoader workers, this program has " + std::to_string(workers_.size()));
  for (std::size_t w = 0; w < workers_.size(); ++w) {
    workers_[w].set_state(states[2 * w]);
    python_workers_[w].set_state(states[2 * w + 1]);
  }
  commit_workers();
}

int DataLoader::batch_rows(std::int64_t b) const {
  const std::int64_t start = b * batch_size_;
  const std::int64_t left = num_samples() - start;
  return static_cast<int>(left < batch_size_ ? left : batch_size_);
}

int DataLoader::load_batch(std::int64_t b, std::byte* arena, const TensorRef& input, const TensorRef& target,
                           TorchGenerator* draws) {
  const int n = batch_rows(b);
  // A sample's row in the data set, and in the batch: the transforms may crop it.
  const std::size_t x_row = static_cast<std::size_t>(data_.input_row) * dtype_size(data_.input_dtype);
  const std::size_t batch_row =
      transforms_.empty() ? x_row : static_cast<std::size_t>(transforms_.output_numel()) * sizeof(float);
  const std::size_t y_row = static_cast<std::size_t>(data_.target_row) * dtype_size(data_.target_dtype);
  std::byte* x = arena + input.offset;
  std::byte* y = arena + target.offset;
  const std::int64_t* rows = order_.data() + b * batch_size_;
  PythonRandom* python = &python_;
  if (!workers_.empty()) {
    const auto w = static_cast<std::size_t>(b % static_cast<std::int64_t>(workers_.size()));
    draws = &workers_[w];
    python = &python_workers_[w];
  }
  for (int r = 0; r < n; ++r) {
    const std::size_t src = static_cast<std::size_t>(rows[r]);
    const std::byte* sample = data_.inputs.data() + src * x_row;
    if (transforms_.empty()) {
      std::memcpy(x + r * batch_row, sample, x_row);
    } else {  // Dataset.__getitem__'s transforms, sample after sample as the DataLoader fetches them
      transforms_.apply(reinterpret_cast<const float*>(sample), reinterpret_cast<float*>(x + r * batch_row), draws,
                        python);
    }
    if (y_row) std::memcpy(y + r * y_row, data_.targets.data() + src * y_row, y_row);
  }
  for (const Dataset::OtherInput& other : data_.other_inputs) {
    const std::size_t row = static_cast<std::size_t>(other.row) * dtype_size(other.input.dtype);
    std::byte* to = arena + other.input.offset;
    for (int r = 0; r < n; ++r)
      std::memcpy(to + r * row, other.values.data() + static_cast<std::size_t>(rows[r]) * row, row);
  }
  return n;
}

}  // namespace ltrt
