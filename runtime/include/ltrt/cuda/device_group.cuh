// DDP on GPUs: the ranks' collectives on the device, over NCCL (one communicator of every rank, each
// on its own GPU). They are enqueued on a stream like kernels, so a training step's graph captures
// its gradient average: the host launches the whole step and waits for nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <cuda_runtime.h>

#include "ltrt/process_group.hpp"

namespace ltrt::cuda {

class DeviceGroup {
 public:
  // The communicator of `group`'s ranks, each on the device current when it is made: collective,
  // every rank makes it at the same point. A group of one needs none and makes none; a runtime
  // built without NCCL refuses a group of more.
  explicit DeviceGroup(const ProcessGroup& group);
  ~DeviceGroup();
  DeviceGroup(const DeviceGroup&) = delete;
  DeviceGroup& operator=(const DeviceGroup&) = delete;

  bool distributed() const { return size_ > 1; }
  // ProcessGroup::average's arithmetic on the device: each rank's values times the float
  // 1 / world size, then summed over the ranks. NCCL sends each element's finished sum unchanged
  // to every rank, so the replicas get the same bits (NVIDIA/nccl#855).
  void average(float* data, std::int64_t n, cudaStream_t stream) const;
  // The ranks' float64 values summed, into every rank's `data` (SyncBatchNorm's statistics and
  // its gradient's sums); the same bits on every rank, as above.
  void sum(double* data, std::int64_t n, cudaStream_t stream) const;
  // Rank 0's bytes into every rank's `data`: each (pointer, bytes) of `parts`, as one NCCL group.
  struct Part {
    void* data;
    std::size_t bytes;
  };
  void broadcast(const Part* parts, int count, cudaStream_t stream) const;
  // Ends the communicator's pending work at once, for a rank that is failing (ncclCommAbort).
  void abort();

 private:
  struct Communicator;
  std::unique_ptr<Communicator> comm_;
  int size_ = 1;
};

}  // namespace ltrt::cuda
