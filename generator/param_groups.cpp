#include "param_groups.hpp"

#include "diagnostics.hpp"
#include "name_patterns.hpp"

namespace ltgen {

namespace {

// The groups configure_optimizers makes over `trainable` (named `names`).
std::vector<ParamGroup> configured_groups(const Spec& spec, const std::vector<int>& trainable,
                                          const std::vector<std::string>& names, std::vector<std::string> frozen,
                                          const std::vector<std::string>& backbone) {
  const OptimizerSpec& o = spec.optimizer;
  if (o.param_groups.empty()) return {{"", o, trainable}};
  // A pattern that matches frozen or backbone parameters only names parameters no group holds then.
  frozen.insert(frozen.end(), backbone.begin(), backbone.end());

  std::vector<ParamGroup> groups;
  for (const ParamGroupSpec& s : o.param_groups) groups.push_back({s.name, s.options, {}});
  std::vector<int> group_of(names.size(), -1);  // a parameter joins the first group that matches it
  for (size_t i = 0; i < o.param_groups.size(); ++i) {
    const std::vector<bool> hit =
        match_names(spec, o.param_groups[i].params, names, frozen,
                    {"frozen parameters", backbone.empty()
                                              ? ", which are in no group; remove the pattern or narrow model.freeze"
                                              : ", which are in no group (model.freeze's, or model.backbone's until "
                                                "BackboneFinetuning adds its own group); remove the pattern"});
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

}  // namespace

std::vector<ParamGroup> assign_param_groups(const Graph& g, const Spec& spec) {
  // Frozen parameters (model.freeze) are in no group: torch's optimizers skip a parameter without
  // a gradient, so a group that holds them steps as one that does not.
  // BackboneFinetuning's backbone is frozen when configure_optimizers runs: in none of its groups,
  // it joins as a group of its own, the last, with the optimizer's defaults (add_param_group).
  std::vector<int> trainable, backbone;
  std::vector<std::string> names, frozen, backbone_names;
  for (int p : g.params) {
    if (g.value(p).frozen) {
      frozen.push_back(g.value(p).torch_name);
      continue;
    }
    if (g.value(p).joins_late) {
      backbone.push_back(p);
      backbone_names.push_back(g.value(p).torch_name);
      continue;
    }
    trainable.push_back(p);
    names.push_back(g.value(p).torch_name);
  }
  const OptimizerSpec& o = spec.optimizer;
  std::vector<ParamGroup> groups = configured_groups(spec, trainable, names, frozen, backbone_names);
  if (!backbone.empty()) {
    if (groups.size() >= static_cast<size_t>(ltrt::kMaxParamGroups))
      throw SpecError(spec.path, o.param_groups_pos, "optimizer.param_groups",
                      "has " + std::to_string(groups.size()) + " groups, and BackboneFinetuning adds the backbone's: "
                      "at most " + std::to_string(ltrt::kMaxParamGroups) + " in all are supported");
    groups.push_back({"", o, backbone});
  }
  return groups;
}

}  // namespace ltgen
