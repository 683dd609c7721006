// DDP's collectives on GPUs over NCCL (LTRT_WITH_NCCL: a generated project with CUDA steps and
// several processes links NCCL; runtime/CMakeLists.txt).
#include "ltrt/cuda/device_group.cuh"

#include <cstdio>
#include <string>

#include "ltrt/cuda/kernels.cuh"
#include "ltrt/error.hpp"

#ifdef LTRT_WITH_NCCL
#include <nccl.h>
// NCCL's collectives inside a CUDA graph capture need 2.9.6 or newer.
#if !defined(NCCL_VERSION_CODE) || NCCL_VERSION_CODE < NCCL_VERSION(2, 9, 6)
#error "DDP on GPUs needs NCCL 2.9.6 or newer (its collectives are captured in the step's CUDA graph)"
#endif
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
  throw Error(std::string(call) + " failed: " + ncclGetErrorString(status));
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
  // Rank 0's unique id reaches the others over the process group (MPI), as torch's TCPStore hands
  // it on, with whether rank 0 got one: every rank then fails alike, or none waits for it.
  struct {
    ncclResult_t status;
    ncclUniqueId id;
  } root{ncclSuccess, {}};
  if (group.is_global_zero()) root.status = ncclGetUniqueId(&root.id);
  group.broadcast(&root, sizeof root);
  if (root.status != ncclSuccess)  // every rank knows it
    throw AgreedError(std::string("ncclGetUniqueId (on rank 0) failed: ") + ncclGetErrorString(root.status));
  comm_ = std::make_unique<Communicator>();
  check_nccl(ncclCommInitRank(&comm_->comm, size_, root.id, group.rank()),
             "ncclCommInitRank (each process needs a GPU of its own)");
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

void DeviceGroup::sum(double* data, std::int64_t n, cudaStream_t stream) const {
  if (size_ == 1 || n == 0) return;
#ifdef LTRT_WITH_NCCL
  check_nccl(ncclAllReduce(data, data, static_cast<std::size_t>(n), ncclFloat64, ncclSum, comm_->comm, stream),
             "ncclAllReduce (SyncBatchNorm's sums)");
#else
  (void)data;
  (void)stream;
#endif
}

void DeviceGroup::broadcast(const Part* parts, int count, cudaStream_t stream) const {
  if (size_ == 1 || count == 0) return;
#ifdef LTRT_WITH_NCCL
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  ncclResult_t status = ncclSuccess;
  for (int i = 0; i < count && status == ncclSuccess; ++i)
    if (parts[i].bytes > 0)
      status = ncclBroadcast(parts[i].data, parts[i].data, parts[i].bytes, ncclUint8, 0, comm_->comm, stream);
  const ncclResult_t ended = ncclGroupEnd();
  check_nccl(status, "ncclBroadcast");
  check_nccl(ended, "ncclGroupEnd");
#else
  (void)parts;
  (void)stream;
#endif
}

void DeviceGroup::abort() {
#ifdef LTRT_WITH_NCCL
  if (comm_ && comm_->comm) {
    ncclCommAbort(comm_->comm);  // (a failing rank: its own error is the one reported)
    comm_->comm = nullptr;
  }
#endif
}

}  // namespace ltrt::cuda
