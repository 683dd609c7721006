// DeviceStatsMonitor with Lightning 2.6's rules (lightning/pytorch/callbacks/device_stats_monitor.py,
// accelerators/cpu.py's get_cpu_stats) and psutil's Linux sources (/proc/stat, /proc/meminfo).
#include "ltrt/device_stats_monitor.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

double python_round_1(double x) {
  // Python rounds the exact binary value to the nearest decimal, ties to even, as printf does.
  char text[64];
  std::snprintf(text, sizeof text, "%.1f", x);
  return std::strtod(text, nullptr);
}

CpuTimes read_cpu_times() {
  std::ifstream in("/proc/stat");
  std::string line, cpu;
  std::getline(in, line);
  std::istringstream fields(line);
  fields >> cpu;
  // user nice system idle iowait irq softirq steal guest guest_nice (older kernels stop earlier)
  double v[10] = {};
  int read = 0;
  while (read < 10 && fields >> v[read]) ++read;
  if (cpu != "cpu" || read < 4) throw Error("DeviceStatsMonitor: cannot read the CPU times in /proc/stat");
  CpuTimes t;
  // user and nice include the guests' times, which psutil takes out of the total
  t.total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
  t.busy = t.total - v[3] - v[4];
  return t;
}

namespace {

// /proc/meminfo's fields, in kB.
double meminfo(const std::string& field) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size() + 1, field + ":") != 0) continue;
    std::istringstream value(line.substr(field.size() + 1));
    double kb = 0;
    value >> kb;
    return kb;
  }
  throw Error("DeviceStatsMonitor: /proc/meminfo has no " + field);
}

// psutil's usage_percent(used, total, round_=1): 0 when total is.
double usage_percent(double used, double total) { return total == 0 ? 0.0 : python_round_1(used / total * 100); }

}  // namespace

double memory_percent() {
  const double total = meminfo("MemTotal");
  return usage_percent(total - meminfo("MemAvailable"), total);
}

double swap_percent() {
  const double total = meminfo("SwapTotal");
  return usage_percent(total - meminfo("SwapFree"), total);
}

double cpu_percent(CpuTimes& last) {
  const CpuTimes now = read_cpu_times();
  // _cpu_times_deltas clamps each field at 0; the busy and total deltas of monotonic counters
  const double all = now.total - last.total, busy = now.busy - last.busy;
  last = now;
  if (all <= 0) return 0.0;
  const double percent = python_round_1(busy > 0 ? busy / all * 100 : 0.0);
  return percent > 100 ? 100.0 : percent;
}

DeviceStatsMonitor::DeviceStatsMonitor(Options options) : o_(options) {}

std::unique_ptr<DeviceStatsMonitor> DeviceStatsMonitor::read(ConfigObject& a) {
  Options o;
  if (const json::Value* v = a.get("cpu_stats"); v && !v->is_null()) {
    if (!v->is_bool()) a.fail("cpu_stats", "expected true, false or null, got " + describe(*v));
    o.cpu_stats = v->b;
  }
  a.finish();
  return std::make_unique<DeviceStatsMonitor>(o);
}

void DeviceStatsMonitor::on_fit_start(const CallbackContext& ctx) {
  if (!ctx.has_logger) throw Error("Cannot use `DeviceStatsMonitor` callback with `Trainer(logger=False)`.");
}

void DeviceStatsMonitor::log_stats(const CallbackContext& ctx, const char* hook, std::int64_t step) {
  if (!ctx.should_update_logs(step) || (o_.cpu_stats && !*o_.cpu_stats) || !ctx.log_metrics) return;
  if (!last_) last_ = read_cpu_times();  // psutil's import-time reading: the first call gives 0.0
  const std::string prefix = std::string("DeviceStatsMonitor.") + hook + "/";
  // get_cpu_stats' order
  const std::vector<std::pair<std::string, double>> stats = {{prefix + "cpu_vm_percent", memory_percent()},
                                                             {prefix + "cpu_percent", cpu_percent(*last_)},
                                                             {prefix + "cpu_swap_percent", swap_percent()}};
  ctx.log_metrics(stats, ctx.batches_that_stepped);
}

// should_update_logs' count in a validation: the fit loop's during the sanity check, else the
// evaluation's batches so far.
std::int64_t DeviceStatsMonitor::evaluation_step(const CallbackContext& ctx) const {
  return ctx.sanity_checking ? ctx.batches_that_stepped + 1 : ctx.eval_batches_ready;
}

void DeviceStatsMonitor::on_train_batch_start(const CallbackContext& ctx) {
  log_stats(ctx, "on_train_batch_start", ctx.batches_that_stepped + 1);
}

void DeviceStatsMonitor::on_train_batch_end(const CallbackContext& ctx) {
  log_stats(ctx, "on_train_batch_end", ctx.batches_that_stepped + 1);
}

void DeviceStatsMonitor::on_validation_batch_start(const CallbackContext& ctx) {
  log_stats(ctx, "on_validation_batch_start", evaluation_step(ctx));
}

void DeviceStatsMonitor::on_validation_batch_end(const CallbackContext& ctx) {
  log_stats(ctx, "on_validation_batch_end", evaluation_step(ctx));
}

}  // namespace ltrt
