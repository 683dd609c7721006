/// \file
/// What the CUDA program is built for (--cuda-arch, CMAKE_CUDA_ARCHITECTURES) and what that
/// allows the generated kernels: how much shared memory a block may have.
#pragma once

#include <cstdint>
#include <string>

namespace ltgen {

struct CudaTarget {
  std::string architectures;  // CMAKE_CUDA_ARCHITECTURES, as --cuda-arch gave it
  // The most dynamic shared memory a block may ask for on every GPU that the architectures run on.
  std::int64_t shared_budget = 0;
  // Every GPU that the architectures run on has TF32 tensor cores (mma.sync m16n8k8: sm_80 and newer).
  bool tensor_cores = false;
};

/// The target of `architectures`: 99 KB a block when every entry is sm_80 or newer (sm_86, sm_89
/// and sm_120 allow 99 KB, sm_80 163 KB, sm_90 and sm_100 227 KB; PTX for sm_80 or newer runs only
/// there); 64 KB when an entry is older (sm_75, Turing, allows 64 KB) or not a number ("all",
/// "native": the GPUs are not known here). Tensor cores likewise: only when every entry is sm_80
/// or newer.
CudaTarget cuda_target(const std::string& architectures);

}  // namespace ltgen
