// lightning.pytorch.callbacks.DeviceStatsMonitor on the CPU: where the step's logs are due
// (should_update_logs) it logs the machine's CPU statistics at the start and end of each training and
// validation batch, as psutil gives them to Lightning: cpu_vm_percent (RAM in use), cpu_percent (CPU
// busy since the last reading) and cpu_swap_percent, each under
// "DeviceStatsMonitor.<hook>/<name>", at step fit_loop's _batches_that_stepped. Their values are the
// machine's own, so no two runs share them. In fit only; on a GPU (where Lightning logs torch's
// caching allocator's statistics) it is refused.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

// /proc/stat's cpu line (psutil's source on Linux): user, nice, system, idle, iowait, irq, softirq,
// steal, in ticks.
struct CpuTimes {
  double fields[8] = {};
};
CpuTimes read_cpu_times();
// psutil.virtual_memory().percent and psutil.swap_memory().percent: (MemTotal - MemAvailable) /
// MemTotal and (SwapTotal - SwapFree) / SwapTotal, in percent rounded to one decimal (0 without swap),
// with psutil's fallbacks (MemFree where MemAvailable exceeds MemTotal, sysinfo for the swap).
double memory_percent();
double swap_percent();
// psutil.cpu_percent(): the busy share of the CPU times since `last` (0 when none passed), in percent
// rounded to one decimal; `last` becomes the times now.
double cpu_percent(CpuTimes& last);
// Python's round(x, 1).
double python_round_1(double x);

class DeviceStatsMonitor : public Callback {
 public:
  struct Options {
    std::optional<bool> cpu_stats;  // None: the CPU's stats when the steps run on the CPU
  };
  explicit DeviceStatsMonitor(Options options);
  static std::unique_ptr<DeviceStatsMonitor> read(ConfigObject& init_args);
  const Options& options() const { return o_; }

  const char* class_name() const override { return "DeviceStatsMonitor"; }

  void setup(const CallbackContext& ctx) override;  // setup("fit"): refuses a trainer without a logger
  void on_train_batch_start(const CallbackContext& ctx) override;
  void on_train_batch_end(const CallbackContext& ctx) override;
  void on_validation_batch_start(const CallbackContext& ctx) override;
  void on_validation_batch_end(const CallbackContext& ctx) override;

 private:
  // _get_and_log_device_stats: `step` is should_update_logs' count.
  void log_stats(const CallbackContext& ctx, const char* hook, std::int64_t step);

  Options o_;
  std::optional<CpuTimes> last_;  // psutil's _last_cpu_times: the first reading's baseline
};

// The refusal of a DeviceStatsMonitor among `callbacks` where the steps run on a GPU (Lightning
// logs torch's caching allocator's statistics there), or "".
std::string device_stats_refusal(const Callbacks& callbacks, bool on_gpu);

}  // namespace ltrt
