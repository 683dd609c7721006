// The CUDA backend's entry points (runtime/cuda/cuda_backend.cu), callable from plain C++:
// compiled only into programs built with their CUDA backend (LTRT_WITH_CUDA).
#pragma once

#include <memory>
#include <string>

#include "ltrt/backend.hpp"

namespace ltrt::cuda {

// The number of CUDA GPUs this process can use; 0 with the reason in `why` when there is none
// (no device, no driver).
int device_count(std::string& why);

// The model's CUDA steps on GPU `device`: one device allocation for the run (the arena in the
// host arena's layout, the step scalars, clipping scratch and cuBLASLt's workspace), a training
// step captured once per batch shape as a CUDA graph and replayed, batches copied in from
// pinned buffers on a second stream. grad_scaling: "16-mixed", the GradScaler's loss scaling.
// `group`: DDP's ranks, each on a GPU of its own, whose gradients a step averages over NCCL.
std::unique_ptr<Backend> make_backend(const ModelDef& model, Arena& host, int device, bool grad_scaling,
                                      const ProcessGroup& group);

}  // namespace ltrt::cuda
