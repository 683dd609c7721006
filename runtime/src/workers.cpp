// Helper threads for a step's split work (ltrt/workers.hpp).
#include "ltrt/workers.hpp"

#include <chrono>

#include "ltrt/blas.hpp"

namespace ltrt {

namespace {
// How long a helper spins for the next call before it sleeps: a recurrence's next step comes
// after its cells (microseconds); longer waits are other layers' work, whose BLAS wants the core.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}
}  // namespace

Workers::Workers(int threads) {
  for (int part = 1; part < threads; ++part) helpers_.emplace_back([this, part] { helper(part); });
}

Workers::~Workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void Workers::run(Task task, void* context) {
  if (helpers_.empty()) {
    task(context, 0, 1);
    return;
  }
  task_ = task;
  context_ = context;
  done_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);  // a sleeping helper checks generation_ under it
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  task(context, 0, threads());
  const int helpers = static_cast<int>(helpers_.size());
  while (done_.load(std::memory_order_acquire) != helpers) cpu_relax();
}

void Workers::helper(int part) {
  unsigned seen = 0;  // generation_'s first value: a run() before this thread starts is still new to it
  for (;;) {
    const auto since = std::chrono::steady_clock::now();
    int polls = 0;
    while (generation_.load(std::memory_order_acquire) == seen) {
      cpu_relax();
      if (++polls % 64 != 0 || std::chrono::steady_clock::now() - since < kSpin) continue;
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
      if (stop_) return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    task_(context_, part, threads());
    done_.fetch_add(1, std::memory_order_release);
  }
}

Workers& step_workers() {
  static Workers workers(blas_threads());
  return workers;
}

}  // namespace ltrt
