// The step's threads: the one pool that runs the parts of everything a step splits (its GEMMs,
// ltrt/blas.hpp; its loops, ltrt/parallel_for.hpp; the recurrent layers' per-step GEMMs,
// ltrt/packed_gemm.hpp), work too small for starting threads each time (tens of microseconds).
// The caller runs part 0; each helper runs its own part, then waits for the next call, spinning
// for a while (the next part comes within microseconds) and then sleeping, so that it gives its
// core back when the step is over. Its size is fixed when it is first used (blas_threads()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace ltrt {

class Workers {
 public:
  // A part of the work: task(context, part, parts) for part = 0 .. parts - 1. It must not throw
  // (a helper has nobody to hand an exception to).
  using Task = void (*)(void* context, int part, int parts) noexcept;

  // `threads` in all, the caller's included (1: no helpers, run() calls the task itself).
  explicit Workers(int threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  int threads() const { return static_cast<int>(helpers_.size()) + 1; }
  // task(context, part, parts) for parts = min(parts, threads()) at once (helpers past them
  // idle); returns when all are done. A second caller while one runs gets its parts run one
  // after another on its own thread.
  void run(Task task, void* context, int parts);

 private:
  void helper(int part);
  void stop_helpers();

  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<unsigned> generation_{0};  // bumped by each run(); helpers wait for a new value
  std::atomic<int> done_{0};             // helpers finished with this generation
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};  // a run() is in progress
  Task task_ = nullptr;            // written before generation_ is bumped
  void* context_ = nullptr;
  int parts_ = 1;
};

// The cores this process may run on (its CPU affinity, as OpenBLAS counts them), at least 1.
int usable_cores();

// The step's pool: blas_threads() threads (ltrt/blas.hpp), made on first use.
Workers& step_workers();

}  // namespace ltrt
