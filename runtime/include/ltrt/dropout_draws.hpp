// What a training step's dropout draws from.
//  - torch: torch's global generator. The CPU program's Dropout masks are torch's, drawn from it
//    (TorchGenerator::bernoulli) layer after layer in the forward's order; the attention's dropout
//    moves it past the draws torch's makes.
//  - own: ltgen's own stream, which seeds the counter-based masks (ltrt/counter_uniform.hpp) of the
//    attention's dropout on the CPU (a seed per layer and step) and of every dropout on the GPU (a
//    seed per step). torch's CUDA dropout draws from the CUDA generator, which leaves the CPU one
//    alone, so a GPU step does not touch `torch`.
#pragma once

namespace ltrt {

class Generator;
class TorchGenerator;

struct DropoutDraws {
  TorchGenerator& torch;
  Generator& own;
};

}  // namespace ltrt
