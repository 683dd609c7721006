// Deterministic, platform-independent random numbers for the runtime.
//
// Generator is xoshiro256** (Blackman & Vigna) seeded through splitmix64. The
// same seed gives the same stream on every platform and compiler: only integer
// arithmetic and IEEE double operations are used.
//
// NOTE: these streams are not torch's: a program seeded with 42 draws other attention-dropout
// masks, other dropout masks on the GPU, and samples other text than a Lightning script seeded
// with 42. Its initial weights, randn data, the shuffles of a single process and the CPU's Dropout
// masks are torch's (ltrt/torch_generator.hpp, ltrt/torch_global_draws.hpp), and so are DDP's
// permutations (torch_randperm below).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ltrt/counter_uniform.hpp"  // the counter-based numbers of attention dropout

namespace ltrt {

class Generator {
 public:
  // seed: the user's seed; stream: which independent stream of that seed.
  explicit Generator(std::uint64_t seed = 0, std::uint64_t stream = 0);

  std::uint64_t next_u64();
  std::uint32_t next_u32();  // the high 32 bits of next_u64()
  // Uniform integer in [0, n), unbiased (Lemire's method with rejection). n > 0.
  std::uint64_t below(std::uint64_t n);
  // Uniform double in [0, 1) with 53 random bits.
  double uniform();
  // Standard normal (Box-Muller in float64); the second value of each pair is
  // kept and returned by the next call.
  double normal();

  // The full state (including a pending normal value) as one line of text,
  // e.g. "xoshiro256**:<s0>:<s1>:<s2>:<s3>:<spare flag>:<spare bits>" in hex.
  std::string state() const;
  // Restores a state written by state(); throws ltrt::Error when malformed.
  void set_state(const std::string& text);

 private:
  std::uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// The generators seed_everything(seed) sets up: one per purpose, so that
// changing e.g. the number of dropout draws does not change the data order.
struct Rngs {
  Generator data;     // per-epoch shuffling (randn data sources: randn_generator, dataset.hpp)
  Generator dropout;  // passed to training_step
};

// torch.randperm(n, generator=torch.Generator().manual_seed(seed)) exactly, into `out` (its size is
// n): torch's CPU generator is the standard MT19937 seeded with the seed's low 32 bits, and
// randperm swaps position i with i + random() % (n - i) (above 2^32 / 20 elements it shuffles
// inside-out with 64-bit draws, as torch does). DDP's DistributedSampler draws its
// permutations this way, so a DDP program's data order is Lightning's.
void torch_randperm(std::uint64_t seed, std::vector<std::int64_t>& out);

// Lightning's seed_everything(seed) for ltgen programs: the generators are independent streams
// derived from the one seed (initialisation draws from TorchGenerator(seed) instead).
Rngs seed_everything(std::int64_t seed);

}  // namespace ltrt
