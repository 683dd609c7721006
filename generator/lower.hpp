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
  std::string cuda_architectures = "80-real;90-real;90-virtual";  // --cuda-arch: CMAKE_CUDA_ARCHITECTURES
  // Lay the generated C++ out in the project's style. Off where no file is written (--summary,
  // --emit lightning): the code is still emitted, so the same spec errors are found, but libFormat
  // is most of ltgen's time on a large model.
  bool format = true;
};

struct Lowered {
  Spec spec;
  Graph graph;
  MemoryPlan plan;
  // model.hpp, model.cpp, main.cpp, CMakeLists.txt (+ model_cuda.cu; + user_hooks.hpp, hooks.cpp)
  std::vector<GeneratedFile> files;
  bool cuda = false;  // the program has CUDA steps too
};

/// Throws SpecError for mistakes in the spec, and for trainer.accelerator "gpu" with a layer
/// the GPU does not support yet.
Lowered lower(const std::string& spec_path, const LowerOptions& options);

}  // namespace ltgen
