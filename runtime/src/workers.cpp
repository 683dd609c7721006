// Helper threads for a step's split work (ltrt/workers.hpp).
#include "ltrt/workers.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#ifdef __linux__
#include <sched.h>
#endif

#include "ltrt/blas.hpp"
#include "ltrt/parallel_for.hpp"

namespace ltrt {

namespace {
// How long a thread spins for the other side before it sleeps (a helper) or yields (the caller):
// a recurrence's next step comes after its cells (microseconds); longer waits are other layers'
// work, whose BLAS wants the core, or threads sharing a core.
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
  try {
    for (int part = 1; part < threads; ++part) helpers_.emplace_back([this, part] { helper(part); });
  } catch (...) {  // a thread that could not start: stop those that did, then report it
    stop_helpers();
    throw;
  }
}

Workers::~Workers() { stop_helpers(); }

void Workers::stop_helpers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : helpers_)
    if (t.joinable()) t.join();
}

void Workers::run(Task task, void* context, int parts) {
  parts = std::max(1, std::min(parts, threads()));
  if (parts == 1 || busy_.exchange(true, std::memory_order_acquire)) {  // alone, or a second caller
    for (int part = 0; part < parts; ++part) task(context, part, parts);
    return;
  }
  task_ = task;
  context_ = context;
  parts_ = parts;
  done_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);  // a sleeping helper checks generation_ under it
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  task(context, 0, parts);
  const int helpers = static_cast<int>(helpers_.size());
  const auto since = std::chrono::steady_clock::now();
  for (int polls = 1; done_.load(std::memory_order_acquire) != helpers; ++polls) {
    if (polls % 64 == 0 && std::chrono::steady_clock::now() - since > kSpin)
      std::this_thread::yield();
    else
      cpu_relax();
  }
  busy_.store(false, std::memory_order_release);
}

void Workers::helper(int part) {
  unsigned seen = 0;  // generation_'s first value: a run() before this thread starts is still new to it
  for (;;) {
    const auto since = std::chrono::steady_clock::now();
    for (int polls = 1; generation_.load(std::memory_order_acquire) == seen; ++polls) {
      cpu_relax();
      if (stop_.load(std::memory_order_relaxed)) return;
      if (polls % 64 != 0 || std::chrono::steady_clock::now() - since < kSpin) continue;
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_.load() || generation_.load(std::memory_order_acquire) != seen; });
      if (stop_.load()) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    if (part < parts_) task_(context_, part, parts_);
    done_.fetch_add(1, std::memory_order_release);
  }
}

int usable_cores() {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

Workers& step_workers() {
  static Workers workers(blas_threads());
  return workers;
}

namespace {
std::atomic<int> split_threads{0};  // 0: blas_threads()

std::int64_t forced_grain() {
  static const std::int64_t grain = [] {
    const char* v = std::getenv("LTGEN_SPLIT_GRAIN");
    return v != nullptr && std::atoll(v) > 0 ? std::atoll(v) : std::int64_t{0};
  }();
  return grain;
}
}  // namespace

void set_split_threads(int threads) { split_threads.store(std::max(threads, 1)); }

bool split_forced() { return forced_grain() > 0; }

int split_parts(std::int64_t count, std::int64_t grain) {
  if (split_forced()) grain = forced_grain();
  const std::int64_t by_size = count / std::max<std::int64_t>(grain, 1);
  const int threads = split_threads.load(std::memory_order_relaxed);
  return static_cast<int>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(by_size, threads > 0 ? threads : blas_threads())));
}

}  // namespace ltrt
