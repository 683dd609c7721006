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

void refuse_shared_memory(const char* name, int bytes, int limit) {
  int device = 0;
  cudaDeviceProp prop{};
  LTRT_CUDA_CHECK(cudaGetDevice(&device));
  LTRT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  throw Error(std::string("kernel ") + name + " needs " + std::to_string(bytes) +
              " bytes of shared memory per block, and cuda:" + std::to_string(device) + " (" + prop.name +
              ", compute capability " + std::to_string(prop.major) + "." + std::to_string(prop.minor) +
              ") allows a block " + std::to_string(limit) +
              ": ltgen sized the tiles for the architectures of --cuda-arch; generate the program with ltgen --cuda-arch " +
              std::to_string(prop.major) + std::to_string(prop.minor) +
              "-real to fit them to this GPU, or train on the CPU with CUDA_VISIBLE_DEVICES=\"\" (trainer.accelerator "
              "\"auto\")");
}

}  // namespace ltrt::cuda
