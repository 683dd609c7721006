/// \file
/// The CPU emitter: C++17 source for one spec's model, over the planned graph.
#pragma once

#include <string>

#include "ir.hpp"
#include "plan_memory.hpp"
#include "spec.hpp"

namespace ltgen {

/// with_cuda: the program also has CUDA steps (model_cuda.cu), which model() hands to the
/// runtime when the project is built with them (LTRT_WITH_CUDA).
std::string emit_model_hpp(const Spec& spec, const Graph& g, bool with_cuda);
std::string emit_model_cpp(const Spec& spec, const Graph& g, const MemoryPlan& plan, const std::string& command,
                           bool with_cuda);

/// The model described for people: sizes, graph, cost per function and the
/// memory plan (model.cpp's header comment; `ltgen --summary`).
std::string summary_text(const Spec& spec, const Graph& g, const MemoryPlan& plan, const std::string& command);

/// A C++ string literal for any bytes (escapes quotes, backslashes, '?' and controls).
std::string cpp_string_literal(const std::string& s);

}  // namespace ltgen
