// The CPU steps' dropout draws (ltrt/dropout_draws.hpp): torch's, or under LTGEN_DROPOUT_MASKS=counter
// the GPU's, which depend on (seed, layer, element) alone.
#pragma once

#include <cstdint>

#include "ltrt/counter_uniform.hpp"
#include "ltrt/dropout_draws.hpp"
#include "ltrt/torch_generator.hpp"

namespace ltrt {

// Whether element `index` of a dropout layer is kept: torch's bernoulli_(keep) drawn next from its
// generator (keep = 1 - p in double, as torch's), or the GPU's draw of that element of `stream`
// (counter_uniform >= p, p in float as the GPU's kernels hold it).
inline bool dropout_keeps(const DropoutDraws& rng, double keep, float p, std::uint32_t stream, std::uint64_t index) {
  if (rng.counter_masks) return counter_uniform(rng.counter_seed, stream, index) >= p;
  return rng.torch.bernoulli(keep);
}

// `count` of them at once, elements `first` on into keep[0..count) (1: kept), as that many
// dropout_keeps calls draw them: the elementwise dropouts draw their masks a run at a time.
inline void draw_dropout_keeps(const DropoutDraws& rng, double keep, float p, std::uint32_t stream,
                               std::uint64_t first, std::int64_t count, std::uint8_t* keeps) {
  if (!rng.counter_masks) return rng.torch.bernoulli(keep, count, keeps);
  for (std::int64_t e = 0; e < count; ++e)
    keeps[e] = counter_uniform(rng.counter_seed, stream, first + static_cast<std::uint64_t>(e)) >= p ? 1 : 0;
}

// Attention dropout's masks, a bit per probability: `count` elements from element `first` on (of
// the layer's (batch, heads, Tq, Tk) probabilities, as dropout_keeps counts them) into `bits`,
// element e in bit e % 8 of byte e / 8. The forward draws them all before its products (torch
// draws its mask over the whole softmax at once) and the backward reads them back.
inline void draw_dropout_bits(const DropoutDraws& rng, double keep, float p, std::uint32_t stream, std::uint64_t first,
                              std::int64_t count, std::uint8_t* bits) {
  constexpr std::int64_t kChunk = 1024;  // elements drawn at a time, a multiple of 8
  std::uint8_t keeps[kChunk];
  for (std::int64_t done = 0; done < count; done += kChunk) {
    const std::int64_t run = count - done < kChunk ? count - done : kChunk;
    draw_dropout_keeps(rng, keep, p, stream, first + static_cast<std::uint64_t>(done), run, keeps);
    for (std::int64_t e = 0; e < run; e += 8) {
      unsigned byte = 0;
      for (std::int64_t b = 0; b < 8 && e + b < run; ++b) byte |= static_cast<unsigned>(keeps[e + b]) << b;
      bits[(done + e) / 8] = static_cast<std::uint8_t>(byte);
    }
  }
}

inline bool dropout_bit(const std::uint8_t* bits, std::int64_t e) { return ((bits[e / 8] >> (e % 8)) & 1u) != 0; }

}  // namespace ltrt
