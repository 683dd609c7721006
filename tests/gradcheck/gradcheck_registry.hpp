// The models of tests/gradcheck/specs, linked into gradcheck_test; the list is
// generated at configure time (build/tests/gradcheck/gradcheck_registry.cpp).
#pragma once

#include <vector>

#include <ltrt/model.hpp>

namespace gradcheck {

struct Case {
  const char* name;                     // the spec's name == its namespace
  const ltrt::ModelDef& (*model)();     // <name>::model()
  const char* spec_path;                // absolute path of the spec
};

const std::vector<Case>& cases();

}  // namespace gradcheck
