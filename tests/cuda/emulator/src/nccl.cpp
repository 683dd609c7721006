// NCCL's collectives for DDP programs on the emulator, over MPI (include/nccl.h). Each collective
// is stream work run at once (ltgen_emu::enqueue_collective), so every rank meets the others in the
// program's order of collectives, as NCCL's kernels would on the GPUs. The sum goes to rank 0 and
// back from there: every rank gets the same bits, as NCCL promises (NVIDIA/nccl#855).
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#include "nccl.h"

struct ncclComm {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  // Held by every CUDA graph (and executable) that captured one of its collectives.
  std::shared_ptr<const int> captured = std::make_shared<const int>(0);
};

namespace {

constexpr std::size_t kChunk = INT_MAX / 8;  // MPI counts are ints

ncclResult_t refuse(const char* what) {
  std::fprintf(stderr, "ltgen CUDA emulator: NCCL: %s\n", what);
  return ncclInvalidArgument;
}

// A collective's buffers live on the emulated device, as NCCL's must.
bool on_device(const void* p) { return p != nullptr && ltgen_emu::is_device_pointer(p); }

// NCCL's teardown (ncclCommDestroy, ncclCommAbort) waits until every CUDA graph that captured the
// communicator's collectives is destroyed: with one left, it would wait for ever.
void check_no_graphs(ncclComm_t comm) {
  if (comm->captured.use_count() > 1)
    ltgen_emu::fatal("NCCL: a communicator torn down while a CUDA graph that captured its collectives still exists "
                     "(NCCL would wait for ever): destroy the graphs first");
}

void mpi(int rc, const char* call) {
  if (rc != MPI_SUCCESS) ltgen_emu::fatal(call);
}

}  // namespace

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    default: return "unhandled error";
  }
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* unique_id) {
  std::memset(unique_id->internal, 0, sizeof unique_id->internal);
  const long long now = std::chrono::steady_clock::now().time_since_epoch().count();
  std::snprintf(unique_id->internal, sizeof unique_id->internal, "ltgen-emulator %d %lld", static_cast<int>(getpid()), now);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId comm_id, int rank) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return refuse("ncclCommInitRank before MPI_Init: the emulator's NCCL runs over MPI");
  // NCCL's bootstrap: point to point, every rank to rank 0 and back, as NCCL's sockets are. A rank
  // that never comes leaves the others waiting here, as in NCCL, where a collective of the host's
  // on MPI_COMM_WORLD could have matched another rank's unrelated one.
  constexpr int kBootstrapTag = 0x4e43;
  int world_rank = 0, world_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  int token = 0;
  if (world_rank == 0) {
    for (int r = 1; r < world_size; ++r)
      mpi(MPI_Recv(&token, 1, MPI_INT, r, kBootstrapTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv (bootstrap)");
    for (int r = 1; r < world_size; ++r)
      mpi(MPI_Send(&token, 1, MPI_INT, r, kBootstrapTag, MPI_COMM_WORLD), "MPI_Send (bootstrap)");
  } else {
    mpi(MPI_Send(&token, 1, MPI_INT, 0, kBootstrapTag, MPI_COMM_WORLD), "MPI_Send (bootstrap)");
    mpi(MPI_Recv(&token, 1, MPI_INT, 0, kBootstrapTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv (bootstrap)");
  }
  auto* c = new ncclComm;
  mpi(MPI_Comm_dup(MPI_COMM_WORLD, &c->comm), "MPI_Comm_dup");
  MPI_Comm_rank(c->comm, &c->rank);
  MPI_Comm_size(c->comm, &c->size);
  // Every rank must have been given rank 0's id: NCCL would hang or join another communicator.
  ncclUniqueId root = comm_id;
  mpi(MPI_Bcast(root.internal, NCCL_UNIQUE_ID_BYTES, MPI_BYTE, 0, c->comm), "MPI_Bcast (unique id)");
  const int same = std::memcmp(root.internal, comm_id.internal, NCCL_UNIQUE_ID_BYTES) == 0;
  int all_same = 0;
  mpi(MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_MIN, c->comm), "MPI_Allreduce (unique id)");
  // Each rank's (machine, current GPU): NCCL refuses two ranks on one GPU.
  struct Place {
    char host[64];
    int device;
  } mine{}, *all = new Place[static_cast<std::size_t>(c->size)];
  gethostname(mine.host, sizeof mine.host - 1);
  cudaGetDevice(&mine.device);
  mpi(MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all, sizeof mine, MPI_BYTE, c->comm), "MPI_Allgather (GPUs)");
  int duplicate = -1;
  for (int r = 0; r < c->size; ++r)
    if (r != c->rank && all[r].device == mine.device && std::strcmp(all[r].host, mine.host) == 0) duplicate = r;
  delete[] all;
  if (c->size != nranks || c->rank != rank || !all_same || duplicate >= 0) {
    MPI_Comm_free(&c->comm);
    delete c;
    if (duplicate >= 0) {
      std::fprintf(stderr, "ltgen CUDA emulator: NCCL: Duplicate GPU detected: rank %d and rank %d both on CUDA device %d\n",
                   rank, duplicate, mine.device);
      return ncclInvalidUsage;
    }
    return refuse("ncclCommInitRank: nranks, rank or the unique id differ from the launch's (each rank must pass rank "
                  "0's id, its own rank and the world size)");
  }
  *comm = c;
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (comm == nullptr) return ncclInvalidArgument;
  check_no_graphs(comm);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm->comm);
  delete comm;
  return ncclSuccess;
}

// A failing rank's: its MPI communicator is left as it is (freeing it could wait for the others).
ncclResult_t ncclCommAbort(ncclComm_t comm) {
  if (comm == nullptr) return ncclInvalidArgument;
  check_no_graphs(comm);
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclGroupStart() { return ncclSuccess; }
ncclResult_t ncclGroupEnd() { return ncclSuccess; }

ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, std::size_t count, ncclDataType_t datatype,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  if ((datatype != ncclFloat32 && datatype != ncclFloat64) || op != ncclSum)
    return refuse("ncclAllReduce: the emulator sums float32 and float64 values only");
  if (comm == nullptr || !on_device(sendbuff) || !on_device(recvbuff))
    return refuse("ncclAllReduce: a buffer that is not device memory, or no communicator");
  const std::size_t size = datatype == ncclFloat64 ? sizeof(double) : sizeof(float);
  const MPI_Datatype type = datatype == ncclFloat64 ? MPI_DOUBLE : MPI_FLOAT;
  const cudaError_t status = ltgen_emu::enqueue_collective(stream, [=] {
    const auto* in = static_cast<const char*>(sendbuff);
    auto* out = static_cast<char*>(recvbuff);
    for (std::size_t start = 0; start < count; start += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, count - start));
      char* part = out + start * size;
      if (in != out) std::memcpy(part, in + start * size, static_cast<std::size_t>(n) * size);
      mpi(MPI_Reduce(comm->rank == 0 ? MPI_IN_PLACE : part, comm->rank == 0 ? part : nullptr, n, type, MPI_SUM, 0,
                     comm->comm),
          "MPI_Reduce (ncclAllReduce)");
      mpi(MPI_Bcast(part, n, type, 0, comm->comm), "MPI_Bcast (ncclAllReduce)");
    }
  }, "ncclAllReduce", comm->captured);
  return status == cudaSuccess ? ncclSuccess : ncclUnhandledCudaError;
}

ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, std::size_t count, ncclDataType_t datatype, int root,
                           ncclComm_t comm, cudaStream_t stream) {
  const std::size_t size = datatype == ncclUint8 || datatype == ncclInt8 ? 1 : datatype == ncclFloat32 ? 4 : 0;
  if (size == 0) return refuse("ncclBroadcast: the emulator moves bytes and float32 values only");
  if (comm == nullptr || !on_device(recvbuff) || (comm->rank == root && !on_device(sendbuff)))
    return refuse("ncclBroadcast: a buffer that is not device memory, or no communicator");
  const std::size_t bytes = count * size;
  const cudaError_t status = ltgen_emu::enqueue_collective(stream, [=] {
    auto* out = static_cast<char*>(recvbuff);
    if (comm->rank == root && sendbuff != recvbuff) std::memcpy(out, sendbuff, bytes);
    for (std::size_t start = 0; start < bytes; start += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, bytes - start));
      mpi(MPI_Bcast(out + start, n, MPI_BYTE, root, comm->comm), "MPI_Bcast (ncclBroadcast)");
    }
  }, "ncclBroadcast", comm->captured);
  return status == cudaSuccess ? ncclSuccess : ncclUnhandledCudaError;
}
