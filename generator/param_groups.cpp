#include "param_groups.hpp"

#include "diagnostics.hpp"

namespace ltgen {

namespace {

// Python's fnmatch.fnmatchcase (the rules of fnmatch.translate), so that the emitted Lightning
// script groups the parameters as the program does: `*` any run of characters (dots too), `?`
// one, `[seq]` one of seq (ranges such as a-z; `!` first negates; a `]` first is literal; a `^` is
// literal), a `[` with no closing `]` a literal `[`; no escapes.
bool set_matches(const std::string& set, char c) {
  size_t i = 0;
  bool negate = false;
  if (i < set.size() && set[i] == '!') negate = true, ++i;
  bool hit = false;
  for (; i < set.size(); ++i) {
    if (i + 2 < set.size() && set[i + 1] == '-') {
      hit = hit || (set[i] <= c && c <= set[i + 2]);  // an empty range (a > b) matches nothing, as Python's
      i += 2;
    } else {
      hit = hit || set[i] == c;
    }
  }
  return hit != negate;
}

bool matches(const std::string& p, size_t pi, const std::string& s, size_t si) {
  while (pi < p.size()) {
    const char c = p[pi];
    if (c == '*') {
      while (pi < p.size() && p[pi] == '*') ++pi;
      if (pi == p.size()) return true;
      for (size_t k = si; k <= s.size(); ++k)
        if (matches(p, pi, s, k)) return true;
      return false;
    }
    if (si == s.size()) return false;
    if (c == '?') {
      ++pi, ++si;
      continue;
    }
    if (c == '[') {
      size_t j = pi + 1;
      if (j < p.size() && p[j] == '!') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') ++j;
      if (j < p.size()) {  // a set: [pi + 1, j)
        if (!set_matches(p.substr(pi + 1, j - pi - 1), s[si])) return false;
        pi = j + 1, ++si;
        continue;
      }
    }
    if (c != s[si]) return false;  // a literal, an unclosed '[' included
    ++pi, ++si;
  }
  return si == s.size();
}

}  // namespace

bool fnmatch_case(const std::string& pattern, const std::string& name) { return matches(pattern, 0, name, 0); }

std::vector<ParamGroup> assign_param_groups(const Graph& g, const Spec& spec) {
  const OptimizerSpec& o = spec.optimizer;
  if (o.param_groups.empty()) return {{"", o.lr, o.weight_decay, g.params}};
  std::vector<std::string> names;
  for (int p : g.params) names.push_back(g.value(p).torch_name);

  std::vector<ParamGroup> groups;
  for (const ParamGroupSpec& s : o.param_groups) groups.push_back({s.name, s.lr, s.weight_decay, {}});
  std::vector<int> group_of(g.params.size(), -1);
  for (size_t i = 0; i < o.param_groups.size(); ++i) {
    const ParamGroupSpec& s = o.param_groups[i];
    for (size_t k = 0; k < s.params.size(); ++k) {
      bool any = false;
      for (size_t p = 0; p < names.size(); ++p) {
        if (!fnmatch_case(s.params[k], names[p])) continue;
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
