// Default parameter initialisation (no --init_weights file).
#pragma once

#include <cstddef>

#include "ltrt/model.hpp"
#include "ltrt/rng.hpp"

namespace ltrt {

// Fills every parameter of `model` in the arena, in parameter order, element
// by element: zeros, ones, uniform(-bound, bound) or normal(0, bound) drawn from `gen` (the
// init generator of seed_everything). Not torch's stream; see rng.hpp.
// Then the model's state buffers (ModelDef::state): zeros or ones, drawing nothing.
void init_parameters(const ModelDef& model, std::byte* arena, Generator& gen);
// The state buffers alone (BatchNorm's running statistics and batch count): constants, no draws.
void init_state(const ModelDef& model, std::byte* arena);

}  // namespace ltrt
