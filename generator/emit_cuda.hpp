/// \file
/// The CUDA emitter: model_cuda.cu, the same steps as model.cpp over a device arena of the
/// same layout, one host function per node that enqueues its kernels on a stream.
#pragma once

#include <string>
#include <vector>

#include "cuda_target.hpp"
#include "ir.hpp"
#include "plan_memory.hpp"
#include "spec.hpp"

namespace ltgen {

std::string emit_model_cu(const Spec& spec, const Graph& g, const MemoryPlan& plan, const std::string& command,
                          const CudaTarget& target);

}  // namespace ltgen
