#include "param_groups.hpp"

#include "diagnostics.hpp"
#include "name_patterns.hpp"

namespace ltgen {

std::vector<ParamGroup> assign_param_groups(const Graph& g, const Spec& spec) {
  // Frozen parameters (model.freeze) are in no group: torch's optimizers skip a parameter without
  // a gradient, so a group that holds them steps as one that does not.
  std::vector<int> trainable;
  std::vector<std::string> names, frozen;
  for (int p : g.params) {
    if (g.value(p).frozen) {
      frozen.push_back(g.value(p).torch_name);
      continue;
    }
    trainable.push_back(p);
    names.push_back(g.value(p).torch_name);
  }
  const OptimizerSpec& o = spec.optimizer;
  if (o.param_groups.empty()) return {{"", o, trainable}};

  std::vector<ParamGroup> groups;
  for (const ParamGroupSpec& s : o.param_groups) groups.push_back({s.name, s.options, {}});
  std::vector<int> group_of(names.size(), -1);  // a parameter joins the first group that matches it
  for (size_t i = 0; i < o.param_groups.size(); ++i) {
    const std::vector<bool> hit =
        match_names(spec, o.param_groups[i].params, names, frozen,
                    {"frozen parameters", ", which are in no group; remove the pattern or narrow model.freeze"});
    for (size_t p = 0; p < names.size(); ++p)
      if (hit[p] && group_of[p] < 0) group_of[p] = static_cast<int>(i);
  }
  for (size_t p = 0; p < names.size(); ++p) {
    if (group_of[p] < 0) {
      std::string rest;
      for (size_t q = p; q < names.size(); ++q)
        if (group_of[q] < 0) rest += (rest.empty() ? "" : ", ") + names[q];
      throw SpecError(spec.path, o.param_groups_pos, "optimizer.param_groups",
                      "no group takes " + rest + ": every parameter must be in a group; end the list with "
                      "{\"params\": [\"*\"]} for the rest (torch.optim would leave them untrained), or "
                      "freeze them with model.freeze");
    }
    groups[static_cast<size_t>(group_of[p])].params.push_back(trainable[p]);
  }
  for (size_t i = 0; i < groups.size(); ++i)
    if (groups[i].params.empty())
      throw SpecError(spec.path, o.param_groups[i].pos, o.param_groups[i].json_path,
                      "is left without parameters: the groups before it take every parameter its patterns match "
                      "(a parameter joins the first group that matches it); remove the group or narrow the "
                      "patterns before it");
  return groups;
}

}  // namespace ltgen
