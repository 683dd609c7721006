/// \file
/// Parameters picked by name: Python's fnmatch patterns over torch's parameter names
/// (optimizer.param_groups, model.freeze).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "spec.hpp"

namespace ltgen {

/// Python's fnmatch.fnmatchcase(name, pattern): what the emitted Lightning script matches with.
bool fnmatch_case(const std::string& pattern, const std::string& name);

/// For each of `names`, whether one of `patterns` matches it. Throws SpecError at a pattern that
/// matches none of them (naming them), or, when it matches one of `excluded` only, saying what they
/// are and the fix: "'p' matches only <first> (<the name>)<second>".
std::vector<bool> match_names(const Spec& spec, const NamePatterns& patterns, const std::vector<std::string>& names,
                              const std::vector<std::string>& excluded = {},
                              const std::pair<std::string, std::string>& excluded_why = {});

}  // namespace ltgen
