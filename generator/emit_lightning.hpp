/// \file
/// The spec as a PyTorch Lightning script (`ltgen SPEC --emit lightning -o model.py`).
#pragma once

#include <string>

#include "ir.hpp"
#include "spec.hpp"

namespace ltgen {

std::string emit_lightning(const Spec& spec, const Graph& g);

}  // namespace ltgen
