/// \file
/// The CUDA emitter: model_cuda.cu, the same steps as model.cpp over a device arena of the
/// same layout, one host function per node that enqueues its kernels on a stream.
#pragma once

#include <string>
#include <vector>

#include "ir.hpp"
#include "plan_memory.hpp"
#include "spec.hpp"

namespace ltgen {

/// The spec place (Node::source, "model.layers[2]") of the first node without a CUDA lowering;
/// empty when every node has one.
std::string cuda_unsupported(const Graph& g);

/// The torch.nn layers and losses whose ops all have a CUDA lowering, for messages.
std::string cuda_supported_layers();

std::string emit_model_cu(const Spec& spec, const Graph& g, const MemoryPlan& plan, const std::string& command);

}  // namespace ltgen
