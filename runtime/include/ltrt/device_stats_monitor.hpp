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

// The machine's counters /proc gives (psutil's sources on Linux).
struct CpuTimes {
  double total = 0, busy = 0;  // psutil's _cpu_tot_time and _cpu_busy_time of /proc/stat's cpu line
};
CpuTimes read_cpu_times();
// psutil.virtual_memory().percent and psutil.swap_memory().percent: (MemTotal - MemAvailable) /
// MemTotal and (SwapTotal - SwapFree) / SwapTotal, in percent rounded to one decimal (0 without swap).
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

  void on_fit_start(const CallbackContext& ctx) override;  // setup("fit")'s logger check
  void on_train_batch_start(const CallbackContext& ctx) override;
  void on_train_batch_end(const CallbackContext& ctx) override;
  void on_validation_batch_start(const CallbackContext& ctx) override;
  void on_validation_batch_end(const CallbackContext& ctx) override;

 private:
  // _get_and_log_device_stats: `step` is should_update_logs' count.
  void log_stats(const CallbackContext& ctx, const char* hook, std::int64_t step);
  std::int64_t evaluation_step(const CallbackContext& ctx) const;

  Options o_;
  std::optional<CpuTimes> last_;  // psutil's _last_cpu_times: the first reading's baseline
};

}  // namespace ltrt
