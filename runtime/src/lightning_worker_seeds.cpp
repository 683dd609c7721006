#include "ltrt/lightning_worker_seeds.hpp"

namespace ltrt {

LightningWorkerSeeds lightning_worker_seeds(std::uint64_t base_seed, int worker_id, int global_rank) {
  // combined = (base_seed << 32) | (worker_id << 16) | global_rank is a Python int of up to 95 bits,
  // and its first `combined ^= combined >> 33` reads all of them: kept as two 64-bit halves here.
  const std::uint64_t high = base_seed >> 32;
  const std::uint64_t low =
      (base_seed << 32) | (static_cast<std::uint64_t>(worker_id) << 16) | static_cast<std::uint64_t>(global_rank);
  std::uint64_t x = low ^ ((low >> 33) | (high << 31));  // from here on modulo 2^64, as its masks
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  std::uint64_t seeds[4];
  for (std::uint64_t& seed : seeds) seed = x = x * 6364136223846793005ull + 1;
  // (s1 << 32) | s2: s1's low word overlaps s2's high word.
  return {seeds[0],
          {static_cast<std::uint32_t>(seeds[2]),
           static_cast<std::uint32_t>(seeds[2] >> 32) | static_cast<std::uint32_t>(seeds[1]),
           static_cast<std::uint32_t>(seeds[1] >> 32)}};
}

}  // namespace ltrt
