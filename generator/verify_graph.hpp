/// \file
/// Checks a graph after a pass: every node's outputs have the types its op's
/// shape rule gives, and every value a node reads is defined before it.
#pragma once

#include "ir.hpp"

namespace ltgen {

/// Throws std::logic_error (a bug in a pass, not in the spec).
void verify_graph(const Graph& g, const char* after_pass);

}  // namespace ltgen
