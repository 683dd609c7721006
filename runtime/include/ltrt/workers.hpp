// Helper threads for work a step splits into parts: the recurrent layers' per-step GEMMs
// (ltrt/packed_gemm.hpp), too small for starting threads each time (tens of microseconds) and
// called once a step. The caller runs part 0; each helper runs its own part, then waits for the
// next call, spinning for a while (the next step comes within microseconds) and then sleeping,
// so that it gives its core back to BLAS's threads between recurrent layers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace ltrt {

class Workers {
 public:
  using Task = void (*)(void* context, int part, int parts);

  // `threads` in all, the caller's included (1: no helpers, run() calls the task itself).
  explicit Workers(int threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  int threads() const { return static_cast<int>(helpers_.size()) + 1; }
  // task(context, part, threads()) for every part at once; returns when all are done. Not
  // reentrant: one caller at a time.
  void run(Task task, void* context);

 private:
  void helper(int part);

  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<unsigned> generation_{0};  // bumped by each run(); helpers wait for a new value
  std::atomic<int> done_{0};             // helpers finished with this generation
  bool stop_ = false;                    // under mutex_
  Task task_ = nullptr;                  // written before generation_ is bumped
  void* context_ = nullptr;
};

// The program's helpers for the recurrent steps: blas_threads() threads (ltrt/blas.hpp), made on
// first use.
Workers& step_workers();

}  // namespace ltrt
