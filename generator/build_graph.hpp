/// \file
/// Builds the forward IR from a checked spec, inferring each node's output
/// shape as it is added (layer sizes such as in_features come from it).
#pragma once

#include "ir.hpp"
#include "spec.hpp"

namespace ltgen {

/// Throws SpecError naming the layer whose shapes do not fit.
Graph build_graph(const Spec& spec);

}  // namespace ltgen
