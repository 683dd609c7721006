/// \file
/// The parameters' default initialisation as torch runs it: the steps its modules' constructors
/// take on its global generator after seed_everything, in their order (Graph::init_steps), so that
/// a program seeded with N starts from the weights of the Lightning module built after
/// seed_everything(N).
///
/// Most layers draw their parameters in state_dict order, each as its module's reset_parameters
/// does (the Value's init fields): those steps need no code of their own, complete_init appends
/// them. Layers that draw otherwise record their steps while they are built:
///   - MultiheadAttention builds out_proj, a Linear that draws its weight and bias, before it
///     draws in_proj_weight (xavier_uniform_), and then zeroes in_proj_bias and out_proj.bias;
///   - a Linear whose weight is tied draws its own weight first, which torch drops (discard);
///   - nn.Transformer redraws every matrix with xavier_uniform_ after building both stacks;
///   - TransformerEncoder's layers after the first are copies of it (copy.deepcopy), drawing nothing.
/// The bounds follow torch's Python arithmetic, in float64, before uniform_ rounds them to float32.
#pragma once

#include <cstdint>
#include <vector>

#include "ir.hpp"

namespace ltgen {

/// kaiming_uniform_(w, a=sqrt(5)) of a weight whose fan_in is `fan_in`: Linear's and the
/// convolutions' default, sqrt(3) * gain / sqrt(fan_in) with gain sqrt(2 / (1 + a^2)).
double kaiming_uniform_bound(std::int64_t fan_in);
/// 1 / sqrt(fan_in), or 0 for an empty fan: the biases' bound, and the recurrent layers' with the
/// hidden size.
double fan_in_bound(std::int64_t fan_in);
/// xavier_uniform_ of a (fan_out, fan_in) matrix: sqrt(3) * sqrt(2 / (fan_in + fan_out)).
double xavier_uniform_bound(std::int64_t fan_in, std::int64_t fan_out);

/// The step of the parameter's own module (its Value's init fields).
InitStep own_init(const Graph& g, int param);
/// Appends own_init for every parameter, in state_dict order, that no step names yet: after a layer
/// is built (build_graph), and where a layer needs its parts' steps before steps of its own.
void complete_init(Graph& g);
/// Drops the steps that name any of `params` (a clone's, whose values are copies instead).
void drop_init(Graph& g, const std::vector<int>& params);
/// The init steps' checks: every parameter is set, a copy names an earlier parameter of its shape.
void check_init(const Graph& g);

}  // namespace ltgen
