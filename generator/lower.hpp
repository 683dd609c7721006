/// \file
/// The pipeline of DESIGN §2 as a list of passes, spec to generated files.
#pragma once

#include <string>
#include <vector>

#include "emit_project.hpp"
#include "ir.hpp"
#include "plan_memory.hpp"
#include "spec.hpp"

namespace ltgen {

struct LowerOptions {
  std::string command;   // the ltgen command line, recorded in the output
  bool dump_ir = false;  // print the IR after each pass to stderr
};

struct Lowered {
  Spec spec;
  Graph graph;
  MemoryPlan plan;
  std::vector<GeneratedFile> files;  // model.hpp, model.cpp, main.cpp, CMakeLists.txt (+ user_hooks.hpp, hooks.cpp)
};

/// Throws SpecError for mistakes in the spec.
Lowered lower(const std::string& spec_path, const LowerOptions& options);

}  // namespace ltgen
