// Default parameter initialisation (no --init_weights file).
#pragma once

#include <cstddef>

#include "ltrt/model.hpp"
#include "ltrt/torch_generator.hpp"

namespace ltrt {

// Runs the model's init steps (ModelDef::init_steps) on `gen`, torch's generator as
// seed_everything(seed) seeds it: the same weights as the Lightning module built after
// seed_everything(seed). Then the model's state buffers (ModelDef::state): zeros or ones, drawing
// nothing.
void init_parameters(const ModelDef& model, std::byte* arena, TorchGenerator& gen);
// The state buffers alone (BatchNorm's running statistics and batch count): constants, no draws.
void init_state(const ModelDef& model, std::byte* arena);

}  // namespace ltrt
