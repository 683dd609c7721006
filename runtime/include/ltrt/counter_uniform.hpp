// Counter-based random numbers: a uniform float in [0, 1) from (seed, stream, index) alone,
// splitmix64's finaliser over the three, 24 random bits. Each element of each layer gets its own
// number in any order, so a kernel draws it where it needs it and a backward pass draws the same
// one again (every dropout's masks on the GPU, whose attention never stores them; the CPU's under
// LTGEN_DROPOUT_MASKS=counter, ltrt/dropout_masks.hpp).
#pragma once

#include <cstdint>

#include "ltrt/host_device.hpp"

namespace ltrt {

LTRT_HOST_DEVICE inline float counter_uniform(std::uint64_t seed, std::uint32_t stream, std::uint64_t index) {
  std::uint64_t z = seed ^ (static_cast<std::uint64_t>(stream) << 32) ^ (index * 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

}  // namespace ltrt
