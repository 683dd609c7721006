// DDP's process group: the processes of one `mpirun -n N` (or `srun`) launch. Each is a rank that
// trains a replica of the model on its shard of the data (DistributedSampler); gradients are
// averaged across the ranks before every optimizer step, so the replicas stay equal. A program
// built without MPI (its spec asks for one process) is a group of one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace ltrt {

// A launch that does not match the spec (how many processes, which subcommand): the same on every
// rank, so rank 0 alone says it, and no rank waits for another.
class LaunchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Under DDP: a setup error that every rank hit alike (a missing data file, a bad checkpoint),
// which rank 0 alone reports before every rank ends normally ...
class AgreedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// ... and, on a rank that did not fail, word that another one did: that one reports its error
// and ends the launch (MPI_Abort).
class PeerFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An error after which this rank cannot take part in an agreement: the other ranks may be waiting
// where none reaches them (inside NCCL). agree_on_failure passes it on as it is, and main ends
// every rank (MPI_Abort) after this one says it.
class RankFatal : public std::runtime_error {
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
  // This process's place in that launch (PMI_RANK or OMPI_COMM_WORLD_RANK; 0 without one), read
  // without MPI: what only one process of a launch should print (usage errors, --help) asks it.
  static int launcher_rank();
  // This rank's place among the ranks on its machine (Lightning's LOCAL_RANK: the GPU it trains
  // on): the launcher's (MPI_LOCALRANKID, OMPI_COMM_WORLD_LOCAL_RANK) when every rank has one, else
  // from MPI's shared-memory split. Collective: every rank calls it at the same point.
  int local_rank() const;
  // Whether the program was built with MPI (its spec asks for DDP).
  static bool built_with_mpi();
  // `f` on rank 0; on the other ranks a stream that discards (Lightning's rank_zero_only output).
  std::FILE* rank_zero(std::FILE* f) const;

  // DDP's gradient average, in its order: each rank multiplies its values by 1 / world size, then
  // they are summed. Every rank ends with rank 0's bits: the sum is reduced onto rank 0 and
  // broadcast from there (an all-reduce may round differently on different ranks, and replicas
  // that differ by one bit drift apart).
  void average(float* data, std::int64_t n) const;
  // Lightning's strategy.reduce(value, reduce_op="mean") under gloo, which self.log(...,
  // sync_dist=True) calls: the ranks' values summed, then divided by the world size.
  void mean(float* data, int n) const;
  // The ranks' values summed (Lightning's epoch-level sums: value x batch size, and batch sizes).
  void sum(double* data, int n) const;
  // Rank 0's bytes into every rank's `data`.
  void broadcast(void* data, std::size_t bytes) const;
  std::string broadcast(const std::string& text) const;
  bool broadcast(bool value) const;
  // Every rank's text on rank 0, in rank order (the other ranks get an empty list); all of it
  // under 2 GiB.
  std::vector<std::string> gather(const std::string& text) const;
  // Lightning's strategy.reduce_boolean_decision: with `all`, true when every rank says true;
  // else true when any does.
  bool reduce_boolean(bool value, bool all) const;
  // How many ranks say true.
  int count(bool value) const;
  // Runs setup that every rank does alike, and has the ranks agree on whether it failed: an error
  // on every rank becomes an AgreedError (said once, by rank 0), an error on some of them stays
  // theirs, and the other ranks get a PeerFailure. One process: `setup` as it is.
  template <class Setup>
  void agree_on_failure(Setup&& setup) const;
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

template <class Setup>
void ProcessGroup::agree_on_failure(Setup&& setup) const {
  if (size_ == 1) {
    setup();
    return;
  }
  std::exception_ptr error;
  try {
    setup();
  } catch (const RankFatal&) {
    throw;
  } catch (...) {
    error = std::current_exception();
  }
  // A PeerFailure from a nested agreement is word of another rank's error, not one of this rank's own.
  bool peer = false;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const PeerFailure&) {
      peer = true;
    } catch (...) {
    }
  }
  const int failed = count(error != nullptr && !peer);
  if (failed == 0 && !peer) return;
  if (failed < size_ && (!error || peer)) throw PeerFailure("another rank failed");
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    if (failed == size_) throw AgreedError(e.what());
    throw;
  }
}

}  // namespace ltrt
