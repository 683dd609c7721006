// Batches over an in-memory Dataset, like torch.utils.data.DataLoader with
// batch_size, shuffle (a fresh permutation at the start of every epoch) and
// drop_last. The last batch of an epoch has fewer rows unless drop_last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ltrt/dataset.hpp"
#include "ltrt/model.hpp"
#include "ltrt/python_random.hpp"
#include "ltrt/rng.hpp"
#include "ltrt/sample_transforms.hpp"
#include "ltrt/torch_generator.hpp"

namespace ltrt {

// Under DDP, the DistributedSampler Lightning puts in every loader: rank `rank` of `world` takes
// every world-th sample from position `rank` of the epoch's order, which is padded with its own
// first samples to a multiple of `world` (so each rank has ceil(N / world)). Shuffled (Lightning
// always shuffles the training loader under DDP), the order is torch.randperm(N) from a generator
// seeded with seed + epoch: the same on every rank, and the same as Lightning's.
struct Shard {
  bool distributed = false;  // strategy "ddp"
  int rank = 0;
  int world = 1;
  std::int64_t seed = 0;     // seed_everything's seed (PL_GLOBAL_SEED)
  bool seed_workers = false;  // seed_everything(workers=True): pl_worker_init_function seeds the workers
};

class DataLoader {
 public:
  DataLoader(const Dataset& data, int batch_size, bool shuffle, bool drop_last, Shard shard = {});

  // len(DataLoader): floor(N / B) with drop_last, ceil(N / B) otherwise (N: this rank's samples).
  std::int64_t num_batches() const { return num_batches_; }
  std::int64_t num_samples() const { return static_cast<std::int64_t>(order_.size()); }

  // Call at the start of every epoch: with shuffle, a new permutation of all samples, drawn from
  // `gen` (Fisher-Yates) in one process, or torch's from seed + epoch under DDP. Does not allocate.
  void start_epoch(Generator& gen, std::int64_t epoch = 0);
  // The same in one process, as Lightning's RandomSampler orders an epoch:
  // torch.randperm(N, generator=torch.Generator().manual_seed(seed)). Does not allocate.
  void start_epoch_from_seed(std::int64_t seed);
  bool shuffle() const { return shuffle_; }

  // Rows of batch b (0 <= b < num_batches()) of this epoch.
  int batch_rows(std::int64_t b) const;

  // Gathers batch b into the input and target buffers of the arena (rows
  // 0..n-1; the data set's other inputs into theirs) and returns n, each input transformed by the
  // data set's transforms as it is gathered; the random ones draw from `draws` (torch's global
  // generator), which may be null only when none draws from it, and v1's RandomChoice and
  // RandomOrder from python_random(). Does not allocate.
  int load_batch(std::int64_t b, std::byte* arena, const TensorRef& input, const TensorRef& target,
                 TorchGenerator* draws = nullptr);
  // Whether the data set's transforms draw random numbers (from load_batch's `draws`), and whether
  // from Python's random.
  bool transforms_draw() const { return transforms_.draws(); }
  bool transforms_draw_python() const { return transforms_.draws_python(); }
  // Python's random in the process that fits, which seed_everything seeded with Shard::seed (the
  // transforms of a DataLoader without workers draw from it; checkpoints keep it).
  PythonRandom& python_random() { return python_; }

  // DataLoader(num_workers=n): batch b of an epoch is worker b % n's, and its samples' random
  // transforms draw from that worker's generators, which torch's _worker_loop seeds with
  // manual_seed(base_seed + worker_id) and random.seed(base_seed + worker_id) when the epoch's
  // iterator starts its workers (load_batch's `draws` and python_random() then go unused); under
  // seed_everything(workers=True) Lightning's worker_init_fn seeds them again from base_seed, the
  // worker's id and Shard::rank (lightning_worker_seeds). Only
  // where the transforms draw; where they do not, the workers still run them on one torch thread
  // each (which a resize's kernel depends on).
  //
  // persistent_workers=True: the DataLoader keeps its first iterator, and every later epoch resets
  // it, so the workers are seeded once and go on drawing where they left off (batch b of every
  // epoch is still worker b % n's: the reset starts again at worker 0).
  // prefetch_factor: the batches each worker is sent ahead of the loop (draw_prefetched).
  void set_workers(int n, bool persistent = false, int prefetch_factor = 2);
  bool persistent_workers() const { return persistent_; }
  // An epoch's iterator starts its workers: `base_seed` is its _base_seed. A resumed epoch's first
  // `batches_done` batches draw again (into scratch), so that its workers go on where they were.
  void start_workers(std::int64_t base_seed, std::int64_t batches_done = 0);
  // Persistent workers of an epoch the loop left after `taken` batches (limit_train_batches,
  // max_steps or a stop): the iterator had sent them its prefetch_factor batches a worker ahead of
  // the loop, and they ran those batches' transforms before the next epoch's reset, so their draws
  // are made here (into scratch). Nothing to do without persistent workers (the iterator shuts its
  // workers down).
  void draw_prefetched(std::int64_t taken);
  // Persistent workers' generators as the loop's progress stands: commit_workers() takes them when a
  // batch is done (a checkpoint written inside the next batch's step, which a resumed fit runs again, must
  // not hold that batch's draws); start_workers commits too.
  void commit_workers();
  // The committed generators, torch's and Python's, as text (checkpoints keep persistent ones);
  // empty where no worker draws. set_worker_states throws ltrt::Error on a list of another length
  // or text that worker_states did not write.
  std::vector<std::string> worker_states() const;
  void set_worker_states(const std::vector<std::string>& states);

  // The sample order of the current epoch.
  const std::vector<std::int64_t>& order() const { return order_; }

 private:
  const Dataset& data_;
  int batch_size_;
  bool shuffle_;
  Shard shard_;
  SampleTransforms transforms_;
  PythonRandom python_;
  std::vector<TorchGenerator> workers_;  // each worker's torch generator (empty: the caller's draws)
  std::vector<PythonRandom> python_workers_;  // and its Python random
  std::vector<TorchGenerator> committed_workers_;  // both as commit_workers() took them
  std::vector<PythonRandom> committed_python_;
  std::vector<float> scratch_;           // a sample that a replayed batch's transforms draw over
  bool persistent_ = false;              // persistent_workers
  int prefetch_factor_ = 2;
  std::int64_t num_batches_;
  std::vector<std::int64_t> order_;     // this rank's samples in this epoch's order
  std::vector<std::int64_t> permuted_;  // DDP with shuffle: the whole epoch's permutation

  // Batch b's transforms drawn from its worker's generators over scratch_ (a batch replayed or
  // prefetched: the draws do not depend on the values).
  void draw_into_scratch(std::int64_t b);
};

}  // namespace ltrt
