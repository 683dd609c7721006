// torch's global generator during fit, as far as what a Lightning run draws from it on the CPU:
//  - the model's initialisation after seed_everything (ltgen's init steps are torch's), before fit;
//  - one int64 for every DataLoader iterator (its _base_seed: each training epoch's and each
//    validation's; the sanity check and a LearningRateFinder's search run under isolate_rng, which
//    leaves no trace), and the int64 that seeds a shuffled single-process training epoch's
//    RandomSampler;
//  - every CPU training step's dropout, in the order of the forward (the generated steps draw
//    torch's masks from it: TorchGenerator::bernoulli). A step on the GPU draws its masks from
//    ltgen's own stream instead, as torch's CUDA dropout leaves the CPU generator alone.
// Checkpoints keep its state, so that a resumed fit shuffles and drops out as the uninterrupted
// one did.
#pragma once

#include <cstdint>

#include "ltrt/torch_generator.hpp"

namespace ltrt {

class TorchGlobalDraws {
 public:
  explicit TorchGlobalDraws(const TorchGenerator& after_init) : now_(after_init) {}

  // torch.empty((), dtype=torch.int64).random_(): random64() modulo 2^63.
  std::int64_t draw() { return static_cast<std::int64_t>(now_.random64() % (1ull << 63)); }
  TorchGenerator& generator() { return now_; }

 private:
  TorchGenerator now_;
};

}  // namespace ltrt
