// What a training step's dropout draws from.
//  - torch: torch's global generator. The CPU program's dropout masks are torch's, drawn from it
//    (TorchGenerator::bernoulli) layer after layer in the forward's order, the attention's too.
//  - own: ltgen's own stream, which seeds the counter-based masks (ltrt/counter_uniform.hpp) of
//    every dropout on the GPU (a seed per step). torch's CUDA dropout draws from the CUDA generator,
//    which leaves the CPU one alone, so a GPU step does not touch `torch`.
//  - counter_masks: LTGEN_DROPOUT_MASKS=counter makes the CPU steps draw the GPU's masks instead
//    (from counter_seed, which the CPU backend draws from `own` once a step, as the GPU's does), so
//    that a GPU's training with dropout can be checked against the CPU's.
#pragma once

#include <cstdint>

namespace ltrt {

class Generator;
class TorchGenerator;

struct DropoutDraws {
  TorchGenerator& torch;
  Generator& own;
  bool counter_masks = false;
  std::uint64_t counter_seed = 0;
};

}  // namespace ltrt
