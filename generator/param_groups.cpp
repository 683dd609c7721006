#include "param_groups.hpp"

#include <fnmatch.h>

#include "diagnostics.hpp"

namespace ltgen {

namespace {

// Python's fnmatch.fnmatchcase: `*` also crosses dots ("*.bias" matches "h.0.attn.in_proj_bias").
bool matches(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

}  // namespace

std::vector<ParamGroup> assign_param_groups(const Graph& g, const Spec& spec) {
  const OptimizerSpec& o = spec.optimizer;
  if (o.param_groups.empty()) return {{"", o.weight_decay, g.params}};
  std::vector<std::string> names;
  for (int p : g.params) names.push_back(g.value(p).torch_name);

  std::vector<ParamGroup> groups;
  for (const ParamGroupSpec& s : o.param_groups) groups.push_back({s.name, s.weight_decay, {}});
  std::vector<int> group_of(g.params.size(), -1);
  for (size_t i = 0; i < o.param_groups.size(); ++i) {
    const ParamGroupSpec& s = o.param_groups[i];
    for (size_t k = 0; k < s.params.size(); ++k) {
      bool any = false;
      for (size_t p = 0; p < names.size(); ++p) {
        if (!matches(s.params[k], names[p])) continue;
        any = true;
        if (group_of[p] < 0) group_of[p] = static_cast<int>(i);
      }
      if (!any) {
        std::string list;
        for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
        throw SpecError(spec.path, s.params_pos[k], s.params_paths[k],
                        "'" + s.params[k] + "' matches no parameter" + did_you_mean(s.params[k], names) +
                            " (the parameters: " + list + "; a tied weight is named after its owner)");
      }
    }
  }
  for (size_t p = 0; p < names.size(); ++p) {
    if (group_of[p] < 0) {
      std::string rest;
      for (size_t q = p; q < names.size(); ++q)
        if (group_of[q] < 0) rest += (rest.empty() ? "" : ", ") + names[q];
      throw SpecError(spec.path, o.param_groups_pos, "optimizer.param_groups",
                      "no group takes " + rest + ": every parameter must be in a group; end the list with "
                      "{\"params\": [\"*\"]} for the rest (torch.optim would leave them untrained)");
    }
    groups[static_cast<size_t>(group_of[p])].params.push_back(g.params[p]);
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
