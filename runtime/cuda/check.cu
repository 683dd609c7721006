// Status checks of CUDA runtime and cuBLAS calls: every failure names the call.
#include <string>

#include "ltrt/cuda/context.cuh"
#include "ltrt/error.hpp"

namespace ltrt::cuda {

namespace {
std::string where(const char* call, const char* file, int line) {
  return std::string(call) + " (" + file + ":" + std::to_string(line) + ")";
}
}  // namespace

void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  throw Error("CUDA error: " + where(call, file, line) + ": " + cudaGetErrorName(status) + ": " +
              cudaGetErrorString(status));
}

void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error("cuBLAS error: " + where(call, file, line) + ": " + cublasLtGetStatusName(status) + ": " +
              cublasLtGetStatusString(status));
}

}  // namespace ltrt::cuda
