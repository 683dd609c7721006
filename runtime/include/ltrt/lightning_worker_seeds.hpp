// The seeds of Lightning's pl_worker_init_function, the worker_init_fn that seed_everything(seed,
// workers=True) gives every DataLoader of the Trainer. A worker backs its iterator's base seed out of
// torch.initial_seed(), mixes it with its id and the process's global rank (a MurmurHash3 finalizer),
// and runs Knuth's LCG for four 64-bit seeds: torch.manual_seed takes the first, random.seed the
// second and third as one int, (s1 << 32) | s2. (Its numpy seeding is left out: no transform draws
// from numpy.)
#pragma once

#include <cstdint>

namespace ltrt {

struct LightningWorkerSeeds {
  std::uint64_t torch;
  std::uint32_t python[3];  // random.seed's int in 32-bit words, the least significant first
};

// base_seed: the DataLoader iterator's _base_seed (a worker's torch.initial_seed() less its id).
LightningWorkerSeeds lightning_worker_seeds(std::uint64_t base_seed, int worker_id, int global_rank);

}  // namespace ltrt
