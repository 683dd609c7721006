/// \file
/// Whether a model's output at sequence position t reads its inputs up to t only, as text
/// generation from a prompt (data.predict's source 'prompt') needs.
#pragma once

#include "spec.hpp"

namespace ltgen {

/// Throws SpecError at the first layer that mixes later positions into earlier ones (or may),
/// saying why `user` (the JSON path that asks for generation) needs a causal model.
void check_causal(const Spec& spec, const std::string& user);

}  // namespace ltgen
