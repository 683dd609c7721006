/// \file
/// The optimizer's parameter groups: which parameters optimizer.param_groups' patterns pick.
#pragma once

#include <string>
#include <vector>

#include "ir.hpp"
#include "spec.hpp"

namespace ltgen {

struct ParamGroup {
  std::string name;        // "" for none
  OptimizerHyper options;  // the group's lr, weight_decay, betas, ... (the optimizer's where it sets none)
  std::vector<int> params;  // parameter values, in state_dict order
};

/// torch.optim's param_groups for the spec: one group of every parameter with the optimizer's
/// lr and weight_decay when optimizer.param_groups is absent; else a group per entry, each parameter in
/// the first group one of whose patterns matches its name (Python's fnmatch on torch's names).
/// Frozen parameters (model.freeze) are in no group.
/// Throws SpecError, at the pattern or the group, for a pattern that matches no parameter, a group
/// left with none, or a parameter in no group.
std::vector<ParamGroup> assign_param_groups(const Graph& g, const Spec& spec);

}  // namespace ltgen
