/// \file
/// Fuses unary elementwise ops (activations) into the loop of the node that
/// produces their input, so the pre-activation is written once or not at all.
#pragma once

#include "ir.hpp"

namespace ltgen {

/// Returns the number of ops fused.
int fuse_elementwise(Graph& g);

}  // namespace ltgen
