// The emulator's schedule (schedule.h): forward, reverse, or a seeded shuffle, chosen by
// LTGEN_CUDA_EMULATOR_ORDER or by set_schedule. Each is an order a GPU may take: blocks of a
// launch may run in any order, and threads between barriers may interleave in any way, of which
// running them one after another is one.
#include "schedule.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>

#include "cuda_runtime.h"

namespace ltgen_emu {

namespace {

enum class Order { forward, reverse, shuffle };

struct Schedule {
  Order order = Order::forward;
  std::mt19937_64 rng;  // shuffle only: reseeded by set_schedule, so a seed names one schedule
};

Schedule parse(const char* text) {
  Schedule s;
  const std::string t = text;
  if (t == "forward") return s;
  if (t == "reverse") {
    s.order = Order::reverse;
    return s;
  }
  const std::string prefix = "shuffle:";
  if (t.compare(0, prefix.size(), prefix) == 0 && t.size() > prefix.size() &&
      std::isdigit(static_cast<unsigned char>(t[prefix.size()]))) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long seed = std::strtoull(t.c_str() + prefix.size(), &end, 10);
    if (*end == '\0' && errno == 0) {
      s.order = Order::shuffle;
      s.rng.seed(seed);
      return s;
    }
  }
  fatal(("unknown schedule '" + t + "': LTGEN_CUDA_EMULATOR_ORDER is forward, reverse or shuffle:SEED").c_str());
}

Schedule& schedule() {
  static Schedule s = [] {
    const char* env = std::getenv("LTGEN_CUDA_EMULATOR_ORDER");
    if (env == nullptr || *env == '\0') return Schedule{};
    // Said once, so that a test can tell that the program ran under the schedule it asked for.
    std::fprintf(stderr, "ltgen CUDA emulator: schedule %s (LTGEN_CUDA_EMULATOR_ORDER)\n", env);
    return parse(env);
  }();
  return s;
}

}  // namespace

void set_schedule(const char* order) { schedule() = parse(order); }

void arrange(int* slots, int n) {
  Schedule& s = schedule();
  std::iota(slots, slots + n, 0);
  if (s.order == Order::reverse) {
    std::reverse(slots, slots + n);
  } else if (s.order == Order::shuffle) {
    for (int i = n - 1; i > 0; --i) {  // Fisher-Yates, from the engine's raw bits (portable)
      const int j = static_cast<int>(s.rng() % static_cast<std::uint64_t>(i + 1));
      std::swap(slots[i], slots[j]);
    }
  }
}

}  // namespace ltgen_emu
