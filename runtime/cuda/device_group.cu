// DDP's collectives on GPUs over NCCL (LTRT_WITH_NCCL: a generated project with CUDA steps and
// several processes links NCCL; runtime/CMakeLists.txt).
#include "ltrt/cuda/device_group.cuh"

#include <cstdio>
#include <string>

#include "ltrt/cuda/kernels.cuh"
#include "ltrt/error.hpp"

#ifdef LTRT_WITH_NCCL
#include <nccl.h>
#endif

namespace ltrt::cuda {

namespace {

constexpr int kThreads = 256;

// DistributedDataParallel's reducer divides each bucket by the world size before the sum
// (mul_out(bucket, 1.0 / world)), as ProcessGroup::average does on the host.
__global__ void scale_kernel(float* __restrict__ data, std::int64_t n, float scale) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) data[i] *= scale;
}

#ifdef LTRT_WITH_NCCL
void check_nccl(ncclResult_t status, const char* call) {
  if (status == ncclSuccess) return;
  throw Error(std::string(call) + " failed: " + ncclGetErrorString(status) +
              " (NCCL_DEBUG=WARN says more; each process needs a GPU of its own)");
}
#endif

}  // namespace

#ifdef LTRT_WITH_NCCL
struct DeviceGroup::Communicator {
  ncclComm_t comm = nullptr;
};
#else
struct DeviceGroup::Communicator {};
#endif

DeviceGroup::DeviceGroup(const ProcessGroup& group) : size_(group.size()) {
  if (size_ == 1) return;
#ifdef LTRT_WITH_NCCL
  // Rank 0's unique id reaches the others over the process group (MPI), as torch's TCPStore hands it on.
  ncclUniqueId id{};
  if (group.is_global_zero()) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  group.broadcast(&id, sizeof id);
  comm_ = std::make_unique<Communicator>();
  check_nccl(ncclCommInitRank(&comm_->comm, size_, id, group.rank()), "ncclCommInitRank");
#else
  throw Error("this program's CUDA steps were built without NCCL, which DDP on GPUs needs: rebuild it where CMake "
              "finds NCCL (nccl.h and libnccl; NCCL_ROOT points at it)");
#endif
}

DeviceGroup::~DeviceGroup() {
#ifdef LTRT_WITH_NCCL
  if (comm_ && comm_->comm) {
    const ncclResult_t status = ncclCommDestroy(comm_->comm);
    if (status != ncclSuccess) std::fprintf(stderr, "warning: ncclCommDestroy: %s\n", ncclGetErrorString(status));
  }
#endif
}

void DeviceGroup::average(float* data, std::int64_t n, cudaStream_t stream) const {
  if (size_ == 1 || n == 0) return;
  scale_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(data, n, static_cast<float>(1.0 / size_));
  LTRT_CUDA_CHECK_LAUNCH("scale_kernel");
#ifdef LTRT_WITH_NCCL
  check_nccl(ncclAllReduce(data, data, static_cast<std::size_t>(n), ncclFloat32, ncclSum, comm_->comm, stream),
             "ncclAllReduce (gradients)");
#endif
}

void DeviceGroup::broadcast(void* data, std::size_t bytes, cudaStream_t stream) const {
  if (size_ == 1 || bytes == 0) return;
#ifdef LTRT_WITH_NCCL
  check_nccl(ncclBroadcast(data, data, bytes, ncclUint8, 0, comm_->comm, stream), "ncclBroadcast");
#else
  (void)data;
  (void)stream;
#endif
}

}  // namespace ltrt::cuda
