// DDP's process group: the processes of one `mpirun -n N` (or `srun`) launch. Each is a rank that
// trains a replica of the model on its shard of the data (DistributedSampler); gradients are
// averaged across the ranks before every optimizer step, so the replicas stay equal. A program
// built without MPI (its spec asks for one process) is a group of one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace ltrt {

// A launch that does not match the spec (how many processes, which subcommand): the same on every
// rank, so rank 0 alone says it, and no rank waits for another.
class LaunchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ProcessGroup {
 public:
  // The launch's group: MPI_COMM_WORLD when the program is built with MPI (initialised on the first
  // call), else this process alone.
  static ProcessGroup& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_global_zero() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }
  // How many processes the launcher started, by its environment (PMI_SIZE, which MPICH's mpirun
  // and srun's PMI set, or Open MPI's OMPI_COMM_WORLD_SIZE); 1 without one. A program built without MPI sees
  // itself alone, and this tells it that it was not.
  int launched() const { return launched_; }
  // `f` on rank 0; on the other ranks a stream that discards (Lightning's rank_zero_only output).
  std::FILE* rank_zero(std::FILE* f) const;

  // DDP's gradient average, in its order: each rank divides its values by the world size, then
  // they are summed. Every rank ends with rank 0's bits: the sum is reduced onto rank 0 and
  // broadcast from there (an all-reduce may round differently on different ranks, and replicas
  // that differ by one bit drift apart).
  void average(float* data, std::int64_t n) const;
  // Rank 0's bytes into every rank's `data`.
  void broadcast(void* data, std::size_t bytes) const;
  std::string broadcast(const std::string& text) const;
  bool broadcast(bool value) const;
  // Lightning's strategy.reduce_boolean_decision: with `all`, true when every rank says true;
  // else true when any does.
  bool reduce_boolean(bool value, bool all) const;
  void barrier() const;
  // Ends every rank (MPI_Abort) after one failed: the others would wait in the next collective forever.
  [[noreturn]] void abort(int exit_code) const;
  // MPI_Finalize, once, before a normal exit.
  void finalize();

 private:
  ProcessGroup();
  int rank_ = 0;
  int size_ = 1;
  int launched_ = 1;
  bool finalized_ = false;
};

}  // namespace ltrt
