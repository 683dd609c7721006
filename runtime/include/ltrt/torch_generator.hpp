// torch's CPU generator, as torch.manual_seed(seed) leaves it, and the draws of the tensor methods
// that initialise torch.nn's parameters (uniform_ and normal_ on float32 tensors) and make the
// randn data sources (torch.randn, torch.randint).
//
// The same seed gives the same numbers as PyTorch on x86-64 CPUs with AVX2 (torch's kernels
// for AVX2 and AVX-512 draw alike), bit for bit:
//  - the engine is MT19937 seeded with the seed's low 32 bits; random64() joins two draws,
//    the first the high word;
//  - uniform_(from, to): 24 random bits u / 2^24, then fma(u, to - from, from) in float32 (torch's
//    compiler contracts the multiply-add there), the upper bound mapped to the lower one;
//  - normal_(mean, std) on 16 or more elements: every element's uniform first, then Box-Muller on
//    each block of 16 (8 pairs) with the Cephes polynomials of torch's avx_mathfun.h for the log
//    and the sine and cosine, rounded where its vector code rounds (torch_normal.cpp); when 16 does
//    not divide the size, the last 16 are drawn again. On fewer elements: float64 Box-Muller
//    (log1p, sin, cos), whose second value waits in the generator for the next such draw.
//  - bernoulli(p), an element of tensor.bernoulli_(p) (dropout's noise: bernoulli_(1 - p)): random64()'s
//    low 53 bits as a double in [0, 1), kept below p, one element after another in memory order.
//    That is torch's CPU kernel without MKL's stream, which torch takes everywhere since 2.5
//    (ATen's DistributionKernels.cpp; 1.13 took it where it was built without MKL, as Debian's is).
// Torch built without AVX2 (or for another architecture) rounds these differently; see README.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ltrt/mt19937.hpp"

namespace ltrt {

class TorchGenerator {
 public:
  explicit TorchGenerator(std::uint64_t seed);  // torch.manual_seed(seed)

  std::uint32_t random() { return static_cast<std::uint32_t>(engine_()); }
  std::uint64_t random64() {
    const std::uint64_t high = random();
    return (high << 32) | random();
  }
  bool bernoulli(double p) { return static_cast<double>(random64() & ((1ull << 53) - 1)) * 0x1.0p-53 < p; }
  // n of them at once into keep[0..n) (1: kept), as n calls of bernoulli(p) draw them.
  void bernoulli(double p, std::int64_t n, std::uint8_t* keep);

  // tensor.uniform_(from, to) and tensor.normal_(mean, std) of a contiguous float32 tensor.
  void uniform(float* data, std::int64_t n, double from, double to);
  // The value uniform_ makes of one random() between float32 bounds (torchvision's box draws try
  // several roundings of their bounds on the same random bits).
  static float uniform_value(std::uint32_t random, float lo, float hi);
  void normal(float* data, std::int64_t n, double mean, double std);
  // torch.randint(0, high, ...) of int64 values: random() % high, or random64() % high when high
  // reaches 2^32 (torch's modulo, with its slight bias for high that do not divide 2^32).
  void randint(std::int64_t* data, std::int64_t n, std::int64_t high);

  // The whole state as one line of text (checkpoints keep torch's global generator during fit);
  // set_state throws ltrt::Error on text that state() did not write.
  std::string state() const;
  void set_state(const std::string& text);

 private:
  Mt19937 engine_;
  std::optional<double> next_double_normal_;  // the float64 Box-Muller's second value
};

}  // namespace ltrt
